"""The call as people see it, in the KEMI steps: the caller's identity on the
INVITE toward a device or a pool member (kemi/identity.py via uac), a
recording tenant's call with no pool member (refused when required, else
flagged and counted), and the INVITE cancelled while it was being routed
(kemi/relay.py: one stateful 487, never a stateless error reply)."""

from __future__ import annotations

import pytest

from edgecore import metrics
from edgecore import readmodel as rm
from edgecore.numbering import Resolution
from edgecore.policy import CallPlan, Decision
from fakes import FakeWorker, use
from kemi import calls, identity, pool, relay
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_CALL, STOP

A = rm.Tenant("00003", "A", recording=True)
B = rm.Tenant("00004", "B", recording=True, recording_required=True)
CALLER = rm.Device("000037001", "00003", "7001", "a" * 32, name="Portaria A")


@pytest.fixture(autouse=True)
def worker() -> FakeWorker:
    return use(FakeWorker())


def call_to(tenant: rm.Tenant, number: str, caller_tenant: rm.Tenant = A) -> Request:
    target = rm.Target("device", tenant.id, number, auth_username=tenant.id + number)
    return Request(device=CALLER, tenant=caller_tenant, dialled=number,
                   plan=CallPlan(Resolution(True, target, tenant), Decision(True, "x")))


def test_a_device_sees_the_extension_and_name_of_a_same_tenant_caller(ksr):
    ksr.message("INVITE", fd="edge.example")
    identity.to_device(call_to(A, "7002"))
    assert ksr.called("uac.uac_replace_from") == [('"Portaria A"', "sip:7001@edge.example")]
    assert ("P-Asserted-Identity",) in ksr.called("hdr.remove")
    assert ("P-Preferred-Identity",) in ksr.called("hdr.remove")


def test_a_device_of_another_tenant_sees_the_tenant_qualified_caller(ksr):
    ksr.message("INVITE", fd="edge.example")
    ksr.flags.add(FLT_CALL)
    identity.to_device(call_to(B, "7009"))
    assert ksr.called("uac.uac_replace_from") == [('"Portaria A"', "sip:00003*7001@edge.example")]
    # and the CDR says what was shown
    assert ("cid_num", "00003*7001") in ksr.called("dialog.var_sets")


def test_a_pool_members_leg_keeps_its_from_and_loses_edge_headers(ksr):
    ksr.message("INVITE", fU="00003*7001", fn='"Portaria A"')
    ksr.flags.add(FLT_CALL)
    req = Request(from_pool=True, dialled="00003*7002")
    identity.to_device(req)
    assert not ksr.called("uac.uac_replace_from")
    # the member's address in From would redial the member: the edge's
    # domain instead, its user and display name kept
    assert ksr.called("uac.uac_replace_from_uri") == [("sip:00003*7001@edge.local",)]
    assert ksr.called("textops.remove_hf_re") == [("^X-Edge-",)]
    # the leg's CDR: the caller as the member presented it
    assert ("cid_num", "00003*7001") in ksr.called("dialog.var_sets")
    assert ("cid_name", "Portaria A") in ksr.called("dialog.var_sets")


def test_a_pool_leg_from_shows_the_callee_tenants_domain(ksr):
    ksr.message("INVITE", fU="7001", fn='"Portaria A"', fd="127.0.0.31")
    d = rm.Tenant("00005", "D", domain="d.example")
    target = rm.Target("device", d.id, "7002")
    identity.to_device(Request(from_pool=True, dialled="7002", plan=CallPlan(
        Resolution(True, target, d), Decision(True, "x"))))
    assert ksr.called("uac.uac_replace_from_uri") == [("sip:7001@d.example",)]


ASSERTED = {("P-Asserted-Identity",), ("P-Preferred-Identity",), ("Remote-Party-ID",)}


def test_a_devices_remote_party_id_never_reaches_a_callee(ksr):
    ksr.message("INVITE", fd="edge.example")
    identity.to_device(call_to(A, "7002"))
    assert ASSERTED <= set(ksr.called("hdr.remove"))
    ksr.calls.clear()
    ksr.results["dispatcher.ds_select_dst"] = 1
    ksr.results["siputils.has_totag"] = -1       # an initial INVITE
    ksr.results["tm.t_relay"] = 1
    pool.route(call_to(B, "7009"))
    assert ASSERTED <= set(ksr.called("hdr.remove"))


@pytest.mark.parametrize("code", [180, 183, 200, 486])
def test_a_reply_loses_the_identity_its_device_asserted(ksr, code):
    ksr.message("INVITE", rs=code)
    ksr.results["textops.has_body_type"] = -1    # no SDP
    relay.on_reply()
    assert ASSERTED <= set(ksr.called("hdr.remove"))


@pytest.mark.parametrize("method", ["BYE", "INVITE", "UPDATE", "INFO"])
def test_an_in_dialog_request_loses_the_identity_its_device_asserted(ksr, method):
    from kemi import indialog
    ksr.message(method)
    ksr.results["siputils.has_totag"] = 1
    ksr.results["rr.loose_route"] = 1
    ksr.results["dialog.is_known_dlg"] = 1
    ksr.results["isdsturiset"] = True
    ksr.results["rr.check_route_param"] = -1     # media not anchored
    ksr.results["tm.t_relay"] = 1
    assert indialog.within(Request()) == STOP
    assert ASSERTED <= set(ksr.called("hdr.remove"))
    assert ksr.called("tm.t_relay")


def test_a_pool_member_gets_the_identity_asserted(ksr):
    ksr.message("INVITE", fd="edge.example")
    ksr.results["dispatcher.ds_select_dst"] = 1
    ksr.results["siputils.has_totag"] = -1       # an initial INVITE
    ksr.results["tm.t_relay"] = 1
    assert pool.route(call_to(B, "7009")) == STOP
    appended = [a[0] for a in ksr.called("hdr.append")]
    assert 'P-Asserted-Identity: "Portaria A" <sip:00003*7001@edge.example>\r\n' in appended
    assert "X-Edge-Caller-Id: 00003*7001\r\n" in appended
    assert "X-Edge-Caller-Name: Portaria A\r\n" in appended


def test_no_member_up_and_recording_required_is_503(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_select_dst"] = -1
    assert pool.route(call_to(B, "7009")) == STOP            # callee's tenant requires it
    assert ksr.replies() == [(503, "Service Unavailable - No Media Server")]
    assert pool.route(call_to(A, "7002", caller_tenant=B)) == STOP   # caller's does
    assert len(ksr.replies()) == 2


def test_no_member_up_connects_unrecorded_visibly(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_select_dst"] = -1
    assert pool.route(call_to(A, "7002")) == CONTINUE
    assert (calls.V_UNRECORDED, "1") in ksr.called("dialog.var_sets")
    # counted in the node's shared table (kamailio/core.cfg edgemetrics)
    assert ksr.called("htable.sht_inc") == [("edgemetrics_unrecorded_calls",
                                             "unrecorded_calls|00003")]


def test_an_invite_cancelled_while_routed_gets_one_stateful_487(ksr):
    ksr.message("INVITE")
    ksr.flags.add(FLT_CALL)
    ksr.results["siputils.has_totag"] = -1       # an initial INVITE
    ksr.results["tm.t_relay"] = -1
    ksr.results["tm.t_is_canceled"] = 1
    ksr.results["tm.t_get_status_code"] = -1
    assert relay.forward() == STOP
    assert ksr.replies() == [(487, "Request Terminated")]
    assert not ksr.called("sl.sl_reply_error")
    assert (calls.V_CODE, "487") in ksr.called("dialog.var_sets")


def test_a_relay_failure_otherwise_is_still_answered(ksr):
    ksr.message("INVITE")
    ksr.results["siputils.has_totag"] = -1       # an initial INVITE
    ksr.results["tm.t_relay"] = -1
    ksr.results["tm.t_is_canceled"] = -1
    assert relay.forward() == STOP
    assert ksr.called("sl.sl_reply_error")


def test_a_fault_after_the_call_was_recorded_is_a_500_its_cdr_says(ksr, monkeypatch):
    """The caller got 500 and the CDR said 408 (no reason) -- the fault's
    stateless reply never reached the call's dialog."""
    from kemi import edge

    def boom(req: Request) -> int:
        ksr.flags.add(FLT_CALL)                 # calls.open ran
        raise ValueError("bug")

    monkeypatch.setattr(edge, "REQUEST_STEPS", (boom,))
    ksr.message("INVITE")
    ksr.results["tm.t_get_status_code"] = 0      # calls.open made its transaction
    edge.EdgeRouter(edge.edgeconfig.Config()).ksr_request_route(None)
    assert ksr.replies() == [(500, "Server Internal Error")]
    assert ksr.called("tm.t_reply") and (calls.V_CODE, "500") in ksr.called("dialog.var_sets")


@pytest.mark.parametrize("status,expected", [
    (-1, [("sl.send_reply", 500)]),          # no transaction: stateless
    (0, [("tm.t_reply", 500)]),              # a transaction, nothing sent yet
    (180, [("tm.t_reply", 500)]),            # ringing: its final reply
    (200, []),                               # already answered: nothing more
])
def test_a_fault_is_answered_inside_an_existing_transaction_once(ksr, monkeypatch, status,
                                                                 expected):
    from kemi import edge

    def boom(req: Request) -> int:
        raise ValueError("bug")

    monkeypatch.setattr(edge, "REQUEST_STEPS", (boom,))
    ksr.message("BYE")
    ksr.results["tm.t_get_status_code"] = status
    edge.EdgeRouter(edge.edgeconfig.Config()).ksr_request_route(None)
    sent = [(n, a[0]) for n, a in ksr.calls if n in ("sl.send_reply", "tm.t_reply",
                                                     "sl.sl_send_reply")]
    assert sent == expected
