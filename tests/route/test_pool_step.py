"""kemi.pool: member trust, pool routing and failover decisions."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from edgecore.numbering import Resolution
from edgecore.policy import CallPlan, Decision
from fakes import FakeWorker, use
from kemi import pool
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP

T = rm.Tenant("00003", "A", recording=True)
CALLER = rm.Device("000037001", "00003", "7001", "a" * 32)
RG = rm.Target("ring_group", "00003", "7050", name="i", strategy="ringall", ring_timeout=30,
               members=("7002",))


def req_for(target: rm.Target, tenant: rm.Tenant = T) -> Request:
    return Request(device=CALLER, tenant=tenant, dialled=target.number,
                   plan=CallPlan(Resolution(True, target, tenant), Decision(True, "same-tenant")))


@pytest.fixture(autouse=True)
def worker() -> FakeWorker:
    return use(FakeWorker())


def test_member_source_is_trusted_and_keeps_headers(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_is_from_list_mode"] = 1
    req = Request()
    assert pool.classify_source(req) == CONTINUE and req.from_pool
    assert not ksr.called("textops.remove_hf_re")


def test_anyone_else_loses_every_edge_header(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_is_from_list_mode"] = -1
    # Kamailio's answer: the first header line starting x-edge- (lower-cased)
    ksr.pv[pool.EDGE_HEADER_LINE] = "x-edge-targets: 99999*1"
    req = Request()
    pool.classify_source(req)
    assert not req.from_pool
    assert ksr.called("textops.remove_hf_re") == [("^X-Edge-",)]


def test_the_edge_header_look_is_case_blind_over_every_header_line():
    assert pool.EDGE_HEADER_LINE == "$(msg(hdrs){s.tolower}{line.sw,x-edge-})"


@pytest.mark.parametrize("method", ["INVITE", "ACK", "BYE"])
def test_no_edge_header_no_regex(ksr, method):
    # remove_hf_re compiles its regex per call: not run when there is no
    # X-Edge-* header to remove (Kamailio answers "" for no such line)
    ksr.message(method)
    ksr.results["dispatcher.ds_is_from_list_mode"] = -1
    ksr.pv[pool.EDGE_HEADER_LINE] = ""
    req = Request()
    assert pool.classify_source(req) == CONTINUE and not req.from_pool
    assert not ksr.called("textops.remove_hf_re")


def test_ring_group_goes_to_a_member_with_headers_and_timers(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_select_dst"] = 1
    ksr.results["siputils.has_totag"] = -1       # an initial INVITE
    ksr.results["tm.t_relay"] = 1
    assert pool.route(req_for(RG)) == STOP
    assert ksr.called("dispatcher.ds_select_dst") == [(1, 11)]
    appended = [a[0] for a in ksr.called("hdr.append")]
    assert "X-Edge-Kind: rg\r\n" in appended and "X-Edge-Targets: 00003*7002\r\n" in appended
    # the member rings no longer than the edge's INVITE timer (sip.ring_timeout 120 s)
    assert "X-Edge-Ring-Total: 30\r\n" in appended
    assert ksr.called("tm.t_set_fr") == [(120_000, 2_000)]
    assert ksr.called("rr.record_route") and ksr.called("tm.t_relay")
    assert ksr.pv["$avp(edge_pool)"] == 1


def test_no_member_ring_group_is_503(ksr):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_select_dst"] = -1
    assert pool.route(req_for(RG)) == STOP
    assert ksr.replies() == [(503, "Service Unavailable - No Media Server")]
    assert "Retry-After: 5\r\n" in ksr.reply_headers


def test_no_member_recorded_call_falls_back_direct_or_refuses(ksr, worker):
    ksr.message("INVITE")
    ksr.results["dispatcher.ds_select_dst"] = -1
    dev = rm.Target("device", "00003", "7002", auth_username="000037002")
    assert pool.route(req_for(dev)) == CONTINUE          # default "direct"
    assert ksr.called("warn")
    worker.cfg.pool.recording_fallback = "refuse"
    assert pool.route(req_for(dev)) == STOP
    assert ksr.replies()[-1][0] == 503


def test_unrecorded_device_call_is_not_the_pools(ksr):
    t = rm.Tenant("00003", "A", recording=False)
    dev = rm.Target("device", "00003", "7002", auth_username="000037002")
    assert pool.route(req_for(dev, t)) == CONTINUE
    assert not ksr.called("dispatcher.ds_select_dst")


def test_empty_ring_group_is_480(ksr):
    empty = rm.Target("ring_group", "00003", "7050", members=())
    assert pool.route(req_for(empty)) == STOP
    assert ksr.replies()[0][0] == 480


def test_legs_from_members_never_loop_back_to_the_pool(ksr):
    req = req_for(RG)
    req.from_pool = True
    assert pool.route(req) == CONTINUE


@pytest.mark.parametrize("code,silent,reason,expected", [
    (0, True, None, True),                  # member sent nothing: dead
    (503, False, None, True),               # member refuses
    (500, False, None, True),
    (503, False, "Q.850;cause=34", False),  # its dialplan relays the callee's outcome
    (486, False, "Q.850;cause=17", False),  # the callee is busy: its answer goes back
    (480, False, None, False),
    (408, False, None, False),              # rang, nobody answered
])
def test_failover_only_when_the_member_failed(ksr, code, silent, reason, expected):
    ksr.pv["$avp(edge_pool)"] = 1
    ksr.pv["$T_reply_code"] = code
    ksr.pv["$T_rpl($hdr(Reason))"] = reason
    ksr.results["tm.t_is_canceled"] = -1
    ksr.results["tm.t_branch_timeout"] = 1 if silent else -1
    ksr.results["tm.t_branch_replied"] = -1 if silent else 1
    ksr.results["dispatcher.ds_next_dst"] = 1
    ksr.results["tm.t_relay"] = 1
    assert pool.failover() is expected
    assert bool(ksr.called("tm.t_relay")) is expected
    if expected:
        assert ksr.called("dispatcher.ds_mark_dst_state") == [("ip",)]
    else:
        assert not ksr.called("dispatcher.ds_mark_dst_state")    # a healthy member stays up


def test_no_failover_after_cancel_or_without_pool(ksr):
    ksr.pv["$T_reply_code"] = 503
    assert pool.failover() is False                     # not a pool call
    ksr.pv["$avp(edge_pool)"] = 1
    ksr.results["tm.t_is_canceled"] = 1
    assert pool.failover() is False
