"""edgecore.policy: the legacy dialing rules, in order."""

from __future__ import annotations

from edgecore.policy import (REASON_BLOCK, RULE_BLOCK, RULE_EXCEPTION, RULE_GLOBAL,
                             RULE_MALFORMED, RULE_NO_CALLER, RULE_SAME, RULE_UNKNOWN, decide,
                             plan_call)
from edgecore.readmodel import CallData, Device, Target, Tenant

SUPPORT = Tenant("00001", "PredioTech", global_access=True)
A = Tenant("00003", "A")
B = Tenant("00004", "B")


def test_global_access_calls_anyone():
    d = decide(SUPPORT, "00004", frozenset())
    assert d.allowed and d.rule == RULE_GLOBAL


def test_same_tenant_allowed():
    assert decide(A, "00003", frozenset()).rule == RULE_SAME


def test_exception_allows_one_way():
    assert decide(A, "00004", frozenset({"00004"})).rule == RULE_EXCEPTION
    back = decide(B, "00003", frozenset())
    assert not back.allowed and back.rule == RULE_BLOCK


def test_cross_tenant_block_is_403_with_reason():
    d = decide(A, "00004", frozenset({"00099"}))
    assert (d.allowed, d.code, d.reason) == (False, 403, REASON_BLOCK)
    assert "Cross-Tenant" in d.reason


def test_support_tenant_is_reachable_only_by_rule():
    # global access is the caller's privilege, not the callee's
    assert not decide(A, "00001", frozenset()).allowed


def _data(caller_tenant, **kw):
    caller = Device(caller_tenant.id + "7001", caller_tenant.id, "7001", "a" * 32)
    base = dict(caller=caller, caller_tenant=caller_tenant, exceptions=frozenset(), local=None,
                global_range=None, global_target=None, global_tenant=None,
                qualified_target=None, qualified_tenant=None)
    base.update(kw)
    return CallData(**base)


def test_plan_unknown_number_is_404():
    p = plan_call(_data(A), "7999")
    assert (p.decision.code, p.decision.rule) == (404, RULE_UNKNOWN)


def test_plan_not_a_number_is_484():
    p = plan_call(_data(A), "alice")
    assert (p.decision.code, p.decision.rule) == (484, RULE_MALFORMED)


def test_plan_unknown_caller_is_refused():
    d = _data(A)
    d = CallData(None, None, *[getattr(d, f) for f in ("exceptions", "local", "global_range",
                                                       "global_target", "global_tenant",
                                                       "qualified_target", "qualified_tenant")])
    assert plan_call(d, "7001").decision.rule == RULE_NO_CALLER


def test_plan_cross_tenant_qualified_call_blocked_then_allowed_by_exception():
    t = Target("device", "00004", "7001", auth_username="000047001")
    blocked = plan_call(_data(A, qualified_target=t, qualified_tenant=B), "00004*7001")
    assert blocked.decision.code == 403
    allowed = plan_call(_data(A, qualified_target=t, qualified_tenant=B,
                              exceptions=frozenset({"00004"})), "00004*7001")
    assert allowed.decision.allowed and allowed.resolution.target == t
