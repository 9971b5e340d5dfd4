"""kemi.policy.limit_calls / release, and the in-dialog check of kemi.indialog."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from edgecore.numbering import Resolution
from edgecore.policy import CallPlan, Decision
from fakes import FakeWorker, use
from kemi import calls, edge, indialog, policy
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP

T = rm.Tenant("00003", "A", max_calls=5)
DEV = rm.Device("000037001", "00003", "7001", "a" * 32, max_calls=1)
TARGET = rm.Target("device", "00003", "7002", auth_username="000037002")


class Redis:
    def __init__(self, admit=(1, "")):
        self.calls, self.admit = [], admit

    def fcall(self, fn, nkeys, *args):
        self.calls.append((fn, args))
        return list(self.admit) if fn == "edge_call_admit" else 1


def req(device=DEV, tenant=T, allowed=True) -> Request:
    d = Decision(True, "same-tenant") if allowed else Decision(False, "x", 403, "no")
    return Request(device=device, tenant=tenant,
                   plan=CallPlan(Resolution(True, TARGET, tenant), d))


@pytest.fixture
def worker() -> FakeWorker:
    w = use(FakeWorker())
    w.redis = Redis()
    return w


def test_slot_taken_and_stored_with_the_dialog(ksr, worker):
    ksr.message("INVITE", ci="call-1")
    assert policy.limit_calls(req()) == CONTINUE
    fn, args = worker.redis.calls[0]
    assert fn == "edge_call_admit"
    assert args[:5] == ("call-1", "edge:calls:d:000037001", "1", "edge:calls:t:00003", "5")
    names = [n for n, _ in ksr.calls]
    assert names.index("dialog.dlg_manage") < names.index("dialog.var_sets")
    assert ksr.called("dialog.var_sets") == [("edge_slot", "000037001 00003 call-1")]


@pytest.mark.parametrize("which", ["device", "tenant"])
def test_limit_reached_is_a_clear_403(ksr, worker, which):
    worker.redis.admit = (0, which)
    ksr.message("INVITE", ci="call-2")
    assert policy.limit_calls(req()) == STOP
    assert ksr.replies() == [(403, f"Forbidden - Concurrent Call Limit ({which})")]


def test_no_limits_no_round_trip(ksr, worker):
    free = rm.Device("000037003", "00003", "7003", "a" * 32)
    assert policy.limit_calls(req(free, rm.Tenant("00003", "A"))) == CONTINUE
    assert worker.redis.calls == [] and not ksr.called("dialog.var_sets")


def test_refused_calls_take_no_slot(ksr, worker):
    assert policy.limit_calls(req(allowed=False)) == CONTINUE
    assert worker.redis.calls == []


def test_release_on_end_and_failure_only_with_a_slot(ksr, worker):
    # the event's message is not the call's (a reply the edge made itself):
    # the slot is freed by the Call-ID stored with it, and forgotten after
    ksr.message("SIP/2.0", ci="not-the-call")
    ksr.results["dialog.var_get"] = "000037001 00003 call-1"
    policy.release("dialog:end")
    policy.release("dialog:failed")
    policy.release("dialog:start")
    assert [c[1] for c in worker.redis.calls] == [
        ("call-1", "edge:calls:d:000037001", "edge:calls:t:00003")] * 2
    # forgotten by an empty value: dialog.var_rm leaks a dialog reference in 5.6
    assert ksr.called("dialog.var_sets") == [("edge_slot", "")] * 2
    assert not ksr.called("dialog.var_rm")
    ksr.results["dialog.var_get"] = None
    policy.release("dialog:end")
    assert len(worker.redis.calls) == 2


@pytest.mark.parametrize("evname", ["dialog:start", "dialog:confirmed", "unknown", ""])
def test_dialog_events_other_than_end_or_failure_run_nothing(ksr, worker, monkeypatch, evname):
    # the dialog module calls the event callback on every state change of
    # every dialog: only an end or a failure reaches the edge's Python
    seen = []
    monkeypatch.setattr(policy, "release", seen.append)
    monkeypatch.setattr(calls, "on_dialog_event", seen.append)
    router = edge.EdgeRouter(edge.edgeconfig.Config())
    assert router.ksr_dialog_event(None, evname) == 1
    assert seen == [] and ksr.calls == []
    assert router.ksr_dialog_event(None, "dialog:end") == 1
    assert router.ksr_dialog_event(None, "dialog:failed") == 1
    assert seen == ["dialog:end", "dialog:end", "dialog:failed", "dialog:failed"]


def test_in_dialog_request_outside_any_known_dialog_is_481(ksr, worker):
    ksr.message("BYE")
    ksr.results["siputils.has_totag"] = 1
    ksr.results["rr.loose_route"] = 1
    ksr.results["dialog.is_known_dlg"] = -1
    assert indialog.within(Request()) == STOP
    assert ksr.replies() == [(481, "Call/Transaction Does Not Exist")]
    assert not ksr.called("tm.t_relay")


def test_in_dialog_request_steered_out_is_refused_before_loose_routing(ksr, worker):
    """The dialog module ends a dialog on a BYE as it is loose-routed: a BYE
    aimed elsewhere must be refused before, the dialog (and its slot) kept."""
    ksr.message("BYE", ru="sip:+5511999999999@127.0.0.99", tt="calleetag",
                **{"(hdr(Route)[*])": "<sip:127.0.0.1:5060;lr;did=1>"})
    ksr.results["siputils.has_totag"] = 1
    ksr.results["dialog.is_known_dlg"] = 1
    ksr.results["is_myself"] = True
    ksr.results["dialog.var_get"] = "sip:127.0.0.83:5090 sip:uas@127.0.0.83:5090"
    assert indialog.within(Request()) == STOP
    assert ksr.replies() == [(403, "Forbidden - Outside The Dialog")]
    assert ksr.called("dialog.var_get") == [("p:calleetag",)]
    assert not ksr.called("rr.loose_route") and not ksr.called("tm.t_relay")


def to_party(ksr, method: str, ruri: str, route: str, party: str) -> None:
    """An in-dialog request of a known dialog, to its party (recorded as
    "<source> <Contact>"), loose-routed and relayed."""
    ksr.message(method, ru=ruri, tt="calleetag", **{"(hdr(Route)[*])": route})
    ksr.results["siputils.has_totag"] = 1
    ksr.results["dialog.is_known_dlg"] = 1
    ksr.results["is_myself"] = True
    ksr.results["rr.loose_route"] = 1
    ksr.results["rr.check_route_param"] = -1
    ksr.results["dialog.var_get"] = party
    ksr.results["tm.t_relay"] = 1


def test_in_dialog_request_to_its_party_goes_to_where_it_really_is(ksr, worker):
    """The callee answered with a Contact on another host than its own: the
    caller's requests, addressed to that Contact, go to the callee."""
    to_party(ksr, "INFO", "sip:uas@127.0.0.99:5090", "<sip:127.0.0.1:5060;lr;did=1>",
             "sip:127.0.0.83:5090 sip:uas@127.0.0.99:5090")
    assert indialog.within(Request()) == STOP
    assert ksr.called("setdsturi") == [("sip:127.0.0.83:5090",)]
    assert ksr.called("tm.t_relay")
    # the dialog and its party looked up once for the check and the routing
    assert ksr.called("dialog.is_known_dlg") == [()]
    assert ksr.called("dialog.var_get") == [("p:calleetag",)]
    # no "ma=1" in the R-URI or Route: not anchored, asked without a regex
    assert not ksr.called("rr.check_route_param")
    # a Contact on its own host: its port is the party's to choose
    ksr.calls.clear()
    ksr.message("INFO", ru="sip:uas@127.0.0.83:5060")
    ksr.results["dialog.var_get"] = "sip:127.0.0.83:40001;transport=tcp sip:uas@127.0.0.83"
    assert indialog.within(Request()) == STOP
    assert not ksr.called("setdsturi") and ksr.called("tm.t_relay")


@pytest.mark.parametrize("route, asked", [
    ("<sip:127.0.0.1:5060;lr;ftag=a;ma=1>", [("ma=1",)]),
    ("<sip:127.0.0.1:5060;lr;ftag=a;MA=1>", [("ma=1",)]),
    ("<sip:127.0.0.1:5060;lr;ftag=a>", []),
])
def test_in_dialog_media_parameter_asked_only_when_the_route_may_carry_it(ksr, worker, route,
                                                                           asked):
    """rr check_route_param compiles a regex per KEMI call: asked only when
    the R-URI or a Route value holds the parameter's text at all."""
    to_party(ksr, "BYE", "sip:uas@127.0.0.83:5090", route,
             "sip:127.0.0.83:5090 sip:uas@127.0.0.83:5090")
    assert indialog.within(Request()) == STOP
    assert ksr.called("rr.check_route_param") == asked
    assert ksr.called("tm.t_relay")
