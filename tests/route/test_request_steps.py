"""The small steps and the entry's route: sanity, NAT, keepalive, methods,
fallback, and the guarantee that an exception still gets a reply."""

from __future__ import annotations

import pytest

import fakes
import KSR

from kemi import edge, fallback, keepalive, methods, nat, sanity, security
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_NATS, STOP


def test_max_forwards_exhausted_is_483(ksr):
    ksr.message("INVITE")
    ksr.results["maxfwd.process_maxfwd"] = -1
    assert sanity.check(Request()) == STOP
    assert ksr.replies() == [(483, "Too Many Hops")]


def test_malformed_request_is_left_to_the_sanity_module(ksr):
    ksr.message("INVITE")
    ksr.results["maxfwd.process_maxfwd"] = 1     # hops left
    ksr.results["sanity.sanity_check"] = -1
    assert sanity.check(Request()) == STOP
    assert ksr.replies() == []             # the module replied itself
    assert ksr.called("sanity.sanity_check") == [(17895, 7)]


def test_nat_detected_register_stores_source(ksr):
    ksr.message("REGISTER")
    ksr.results["nathelper.nat_uac_test"] = 1
    req = Request()
    assert nat.detect(req) == CONTINUE
    assert req.nat and FLT_NATS in ksr.flags
    assert ksr.called("nathelper.fix_nated_register")
    assert ksr.called("force_rport")


def test_no_nat_no_flags(ksr):
    ksr.message("REGISTER")
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.5:5070;transport=udp>;expires=60"
    ksr.results["kx.get_srcip"] = "127.0.0.5"
    ksr.results["nathelper.nat_uac_test"] = -1
    req = Request()
    nat.detect(req)
    assert not req.nat and not ksr.flags
    assert not ksr.called("nathelper.fix_nated_register")


def test_a_contact_on_another_host_is_stored_with_the_real_source(ksr):
    """Calls go to where the REGISTER came from, whatever the Contact names:
    checked when the authenticated REGISTER is saved, not on its challenge."""
    ksr.message("REGISTER")
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.5:5070>,<sip:+5511999999999@127.0.0.99>"
    ksr.results["kx.get_srcip"] = "127.0.0.5"
    ksr.results["nathelper.nat_uac_test"] = -1
    req = Request()
    nat.detect(req)
    assert not req.nat and not ksr.called("nathelper.fix_nated_register")
    nat.store_source_if_elsewhere(req)
    assert ksr.called("nathelper.fix_nated_register")


def test_a_contact_on_the_source_host_is_stored_as_it_is(ksr):
    ksr.message("REGISTER")
    ksr.pv["$(hdr(Contact)[*])"] = "<sip:7001@127.0.0.5:5070>;expires=60"
    ksr.results["kx.get_srcip"] = "127.0.0.5"
    nat.store_source_if_elsewhere(Request())
    assert not ksr.called("nathelper.fix_nated_register")


def test_options_to_the_edge_is_200(ksr):
    ksr.message("OPTIONS")
    ksr.results["is_myself_ruri"] = True
    assert keepalive.options(Request()) == STOP
    assert ksr.replies() == [(200, "OK")]


def test_options_to_a_user_continues(ksr):
    ksr.message("OPTIONS", rU="7001")
    ksr.results["is_myself_ruri"] = True
    assert keepalive.options(Request()) == CONTINUE


@pytest.mark.parametrize("method,code", [("SUBSCRIBE", 489), ("PUBLISH", 489),
                                         ("MESSAGE", 405), ("BYE", 405), ("FOO", 501)])
def test_methods_not_routed_get_a_final_reply(ksr, method, code):
    ksr.message(method)
    ksr.results["siputils.has_totag"] = -1
    assert methods.refuse_unsupported(Request()) == STOP
    assert [c for c, _ in ksr.replies()] == [code]


@pytest.mark.parametrize("method", ["REGISTER", "INVITE", "ACK", "CANCEL", "OPTIONS"])
def test_methods_routed_continue(ksr, method):
    ksr.message(method)
    ksr.results["siputils.has_totag"] = -1
    assert methods.refuse_unsupported(Request()) == CONTINUE


def test_fallback_answers_but_never_an_ack(ksr):
    ksr.message("INVITE")
    assert fallback.not_routed(Request()) == STOP
    assert ksr.replies() == [(501, "Not Implemented")]
    ksr.calls.clear()
    ksr.message("ACK")
    fallback.not_routed(Request())
    assert ksr.replies() == []


def test_route_ends_with_the_fallback_and_survives_exceptions(ksr, monkeypatch):
    assert edge.REQUEST_STEPS[-1] is fallback.not_routed
    steps = list(edge.REQUEST_STEPS)
    # who is sending (peer node, pool member) first, then the defences
    assert steps.index(security.screen) == steps.index(sanity.check) - 1 == 3

    def boom(req: Request) -> int:
        raise ValueError("bug")

    monkeypatch.setattr(edge, "REQUEST_STEPS", (boom,))
    ksr.message("REGISTER")
    ksr.results["tm.t_get_status_code"] = -1     # no transaction: a stateless 500
    assert edge.EdgeRouter(edge.edgeconfig.Config()).ksr_request_route(None) == 1
    assert ksr.replies() == [(500, "Server Internal Error")]
    assert any("bug" in a[0] for n, a in ksr.calls if n == "err")


def test_non_utf8_text_is_a_400_not_a_fault(ksr):
    """app_python3 cannot decode a field that is not UTF-8 (fuzzed method,
    URI, header): the request is malformed, answered 400, no error logged;
    the route reads the method first, here raising as app_python3 does."""
    def undecodable(spec: str):
        raise UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid continuation byte")

    fakes.use(fakes.FakeWorker())
    ksr.message("INVITE")
    ksr.results["pv.get"] = undecodable
    ksr.results["kx.get_method"] = lambda: undecodable("$rm")
    ksr.results["kx.get_srcip"] = "192.0.2.9"
    assert edge.EdgeRouter(edge.edgeconfig.Config()).ksr_request_route(None) == 1
    assert ksr.replies() == [(400, "Bad Request - Not UTF-8")]
    assert not ksr.called("err")


def test_the_cache_version_is_read_once_per_request(ksr, monkeypatch):
    """A request's lookups (namespaces, then its device) see one version,
    read once; outside a request (reply routes, timers) it is read every time."""
    from kemi import context

    seen: list[int] = []

    def step(req: Request) -> int:
        seen.extend((context.shv_version(), context.shv_version()))
        ksr.pv["$shv(edge_cache)"] = 8          # changes mid-request: not seen
        seen.append(context.shv_version())
        return STOP

    monkeypatch.setattr(edge, "REQUEST_STEPS", (step,))
    ksr.message("OPTIONS")
    ksr.pv["$shv(edge_cache)"] = 7
    edge.EdgeRouter(edge.edgeconfig.Config()).ksr_request_route(None)
    assert seen == [7, 7, 7]
    assert [a for a in ksr.called("pv.get") if a == ("$shv(edge_cache)",)] == [("$shv(edge_cache)",)]
    assert context.shv_version() == 8 and context.shv_version() == 8
    assert len(ksr.called("pv.get")) == 3
