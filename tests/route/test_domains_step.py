"""kemi.domains.check: an INVITE for a domain the edge does not serve gets
the refusal plan policy.enforce answers (404), whatever its number."""

from __future__ import annotations

import pytest

from edgecore import domains as edomains
from edgecore import readmodel as rm
from edgecore.numbering import Resolution
from edgecore.policy import CallPlan, Decision
from fakes import FakeWorker, use
from kemi import domains, policy
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP

CALLER_T = rm.Tenant("00003", "A", domain="a.example")
CALLEE_T = rm.Tenant("00004", "B", domain="b.example")
DEV = rm.Device("000037001", "00003", "7001", "a" * 32)
TARGET = rm.Target("device", "00004", "7002", auth_username="000047002")


def req() -> Request:
    return Request(device=DEV, tenant=CALLER_T,
                   plan=CallPlan(Resolution(True, TARGET, CALLEE_T), Decision(True, "exception")))


@pytest.fixture(autouse=True)
def worker() -> FakeWorker:
    return use(FakeWorker())


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.99"])
def test_foreign_domain_is_refused_with_404(ksr, host):
    ksr.message("INVITE", rd=host)
    ksr.results["is_myself_ruri"] = False
    r = req()
    assert domains.check(r) == CONTINUE
    assert not r.plan.decision.allowed and r.plan.decision.rule == edomains.RULE_FOREIGN_DOMAIN
    assert policy.enforce(r) == STOP
    assert ksr.replies() == [(404, "Not Found - Domain Not Served")]


@pytest.mark.parametrize("host,local", [("127.0.0.1", True), ("edge.local", False),
                                        ("A.example", False), ("b.example", False)])
def test_served_domains_are_routed(ksr, host, local):
    ksr.message("INVITE", rd=host)
    ksr.results["is_myself_ruri"] = local
    r = req()
    assert domains.check(r) == CONTINUE and r.plan.decision.allowed


def test_a_node_address_needs_no_served_domain_list(ksr, monkeypatch):
    ksr.message("INVITE", rd="127.0.0.1")
    ksr.results["is_myself_ruri"] = True
    monkeypatch.setattr(domains, "served_here", lambda r: pytest.fail("domain list built"))
    r = req()
    assert domains.check(r) == CONTINUE and r.plan.decision.allowed
    assert not ksr.called("pv.get")                    # not even the host read


def test_pool_legs_and_other_methods_are_not_checked(ksr):
    ksr.message("INVITE", rd="evil.example")
    ksr.results["is_myself_ruri"] = False
    r = req()
    r.from_pool = True
    assert domains.check(r) == CONTINUE and r.plan.decision.allowed
    ksr.message("REGISTER", rd="evil.example")
    r = req()
    assert domains.check(r) == CONTINUE and r.plan.decision.allowed
