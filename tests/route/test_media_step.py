"""kemi.media (and the failure route that releases it): what rtpengine is
asked for each message of a call, and what the edge does when it cannot
answer -- against the KSR stub double."""

from __future__ import annotations

import re

import pytest

from edgecore import media as edge_media
from media_fixtures import ksr, worker  # noqa: F401 - the double and worker of media tests
from kemi import calls, failure, media, pool, relay
from kemi.ksrconst import (FLB_MEDIA, FLB_NATB, FLB_WEBRTC, FLT_CALL, FLT_NATS, RR_MEDIA,
                           RR_WEBRTC_CALLEE, RR_WEBRTC_CALLER)

CALLEE_SDP = ("v=0\r\no=- 2 2 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\n"
              "t=0 0\r\nm=audio 6000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n")


def manage(ksr) -> list[list[str]]:
    return [a[0].split() for a in ksr.called("rtpengine.rtpengine_manage")]


def rr_params(ksr) -> set[str]:
    return {p for (a,) in ksr.called("rr.add_rr_param") for p in a.split(";") if p}


# -- offers: one per branch --------------------------------------------------------

def test_each_branch_is_its_own_offer(ksr):
    ksr.message("INVITE")
    ksr.flags.add(FLT_NATS)
    assert media.offer_on_branch()
    ksr.bflags.clear()
    ksr.bflags.add(FLB_WEBRTC)                    # the next branch: a browser
    assert media.offer_on_branch()
    desk, browser = manage(ksr)
    assert edge_media.PER_BRANCH in desk and edge_media.PER_BRANCH in browser
    assert "transport-protocol=RTP/AVP" in desk
    assert "transport-protocol=UDP/TLS/RTP/SAVPF" in browser
    assert ksr.pv[media.ANCHORED] == 1


def test_plain_branch_of_a_plain_caller_is_not_anchored(ksr):
    ksr.message("INVITE")
    assert media.offer_on_branch()
    assert not manage(ksr) and media.ANCHORED not in ksr.pv and FLB_MEDIA not in ksr.bflags


def test_branch_dropped_when_rtpengine_refuses_the_offer(ksr):
    ksr.message("INVITE")
    ksr.bflags.add(FLB_WEBRTC)
    ksr.results["rtpengine.rtpengine_manage"] = -1
    assert not media.offer_on_branch()
    assert media.lost() and FLB_MEDIA not in ksr.bflags and not ksr.called("rr.add_rr_param")


def test_browser_callee_marks_the_dialog(ksr):
    ksr.message("INVITE")
    ksr.bflags.add(FLB_WEBRTC)
    media.offer_on_branch()
    assert rr_params(ksr) == {RR_MEDIA, RR_WEBRTC_CALLEE}


@pytest.mark.parametrize("caller_web,caller_nat,recorded", [
    (True, False, [(calls.MEDIA_WEBRTC,)]), (False, True, [(calls.MEDIA_RTP,)]),
    (False, False, [])])
def test_cdr_media_at_offer_only_when_every_branch_is_anchored(ksr, caller_web, caller_nat,
                                                               recorded):
    ksr.message("INVITE")
    ksr.flags.add(FLT_CALL)
    ksr.bflags.add(FLB_WEBRTC)
    if caller_web:
        ksr.pv[media.OFFERER_WEBRTC] = 1
    if caller_nat:
        ksr.flags.add(FLT_NATS)
    ksr.results["dialog.var_get"] = None
    media.offer_on_branch()
    assert [a[1:] for a in ksr.called("dialog.var_sets") if a[0] == calls.V_MEDIA] == recorded


# -- replies -------------------------------------------------------------------------

def answer(ksr) -> None:
    """The reply route's media step, as kemi.relay.on_reply runs it."""
    code = int(ksr.pv["$rs"])
    media.answer_on_reply(code, media.first_answer(code))


def reply(ksr, code: int, sdp: bool = True, branch_anchored: bool = True,
          call_anchored: bool = True):
    ksr.message("INVITE", rs=code, rb=CALLEE_SDP if sdp else None)
    ksr.results["textops.has_body_type"] = 1 if sdp else -1
    ksr.flags.add(FLT_CALL)
    if branch_anchored:
        ksr.bflags.add(FLB_MEDIA)
    if call_anchored:
        ksr.pv[media.ANCHORED] = 1
    return ksr


def test_answer_of_a_branch_names_the_branch_and_records_the_media(ksr):
    reply(ksr, 200).bflags.add(FLB_WEBRTC)
    answer(ksr)
    (flags,) = manage(ksr)
    assert edge_media.PER_BRANCH in flags and "transport-protocol=RTP/AVP" in flags
    assert ksr.pv[f"$dlg_var({calls.V_MEDIA})"] == calls.MEDIA_WEBRTC
    assert not ksr.called("set_drop") and not ksr.called("textops.set_body")


def test_2xx_of_an_unanchored_branch_releases_the_call(ksr):
    """A desk phone answered directly; the browser branch's session goes."""
    reply(ksr, 200, branch_anchored=False)
    answer(ksr)
    assert not manage(ksr)
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert f"$dlg_var({calls.V_MEDIA})" not in ksr.pv            # stays "direct"


def test_1xx_of_an_unanchored_branch_keeps_the_session(ksr):
    reply(ksr, 180, sdp=False, branch_anchored=False)
    answer(ksr)
    assert not ksr.called("rtpengine.rtpengine_delete0")


def test_provisional_after_another_forks_answer_cancels_its_branch(ksr):
    """Its 180 crossed the other fork's 200: the reply route cancels the
    branch (tm would not: see kemi.relay), and the reply is not worked on."""
    reply(ksr, 200, branch_anchored=False)
    relay.on_reply()                                   # the desk answers
    ksr.calls.clear()
    reply(ksr, 180, sdp=False)                         # the browser's ringing
    relay.on_reply()
    assert ksr.called("tmx.t_cancel_branches") == [("this",)]
    assert not manage(ksr) and not ksr.called("nathelper.set_contact_alias")


def test_late_fork_cancel_waits_for_the_answering_process(ksr):
    """While the 2xx's process still holds the branch tm refuses; the route
    retries (bounded) and stops once tm has taken the CANCEL."""
    answers = iter([-1, -1, 1])
    ksr.results["tmx.t_cancel_branches"] = lambda which: next(answers)
    assert relay.cancel_late_fork(pause=0)
    assert len(ksr.called("tmx.t_cancel_branches")) == 3
    ksr.calls.clear()
    ksr.results["tmx.t_cancel_branches"] = -1          # tm has its own CANCEL
    assert not relay.cancel_late_fork(pause=0)
    assert len(ksr.called("tmx.t_cancel_branches")) == relay.LATE_FORK_TRIES


def test_100_trying_is_left_alone(ksr):
    """tm relays no 100: nothing to strip or anchor in it."""
    reply(ksr, 100, sdp=False)
    relay.on_reply()
    assert [n for n, _ in ksr.calls] == ["pv.get", "pv.get", "pv.is_null"]   # $rs $rm answered?


def test_reply_of_an_unanchored_call_is_not_looked_into(ksr):
    reply(ksr, 183, branch_anchored=False, call_anchored=False)
    answer(ksr)
    assert not ksr.called("textops.has_body_type") and not manage(ksr)


def test_provisional_before_any_answer_cancels_nothing(ksr):
    reply(ksr, 180, sdp=False)
    relay.on_reply()
    assert not ksr.called("tmx.t_cancel_branches")


def test_provisional_sdp_rtpengine_cannot_rewrite_is_not_relayed(ksr):
    reply(ksr, 183)
    ksr.results["rtpengine.rtpengine_manage"] = -1
    answer(ksr)
    assert ksr.called("set_drop") == [()] and not ksr.called("textops.set_body")


def test_2xx_rtpengine_cannot_rewrite_rejects_the_media(ksr):
    """tm relays every 2xx: it goes with every stream rejected, never with
    the callee's SDP, and the call is marked to end at the ACK."""
    reply(ksr, 200)
    ksr.pv["$T_req($ct)"] = '"A" <sip:200017001@192.168.1.10:5060;transport=udp>;expires=60'
    ksr.results["rtpengine.rtpengine_manage"] = -1
    answer(ksr)
    ((body, ctype),) = ksr.called("textops.set_body")
    assert ctype == "application/sdp"
    assert re.search(r"(?m)^m=audio 0 RTP/AVP 8 0\r$", body) and "198.51.100.7" not in body
    assert ksr.pv[f"$dlg_var({media.V_MEDIA_DOWN})"] == \
        "sip:200017001@192.168.1.10:5060;transport=udp"
    assert ksr.pv[f"$dlg_var({calls.V_CODE})"] == "503"
    assert ksr.pv[f"$dlg_var({calls.V_REASON})"] == "Media Relay Down"
    assert not ksr.called("set_drop")


def test_further_2xx_never_ends_nor_releases_the_answered_call(ksr):
    """A second fork answering too (or the 200 retransmitted after the caller
    hung up, its session gone): its streams are rejected, nothing else --
    the call the first 200 established keeps its media and its CDR."""
    reply(ksr, 200)
    answer(ksr)                                   # the answer: rewritten
    assert ksr.pv[media.ANSWERED] == 1
    ksr.results["rtpengine.rtpengine_manage"] = -1
    answer(ksr)                                   # a further 200, session gone
    ((body, _),) = ksr.called("textops.set_body")
    assert "m=audio 0 RTP/AVP 8 0" in body and "198.51.100.7" not in body
    assert f"$dlg_var({media.V_MEDIA_DOWN})" not in ksr.pv
    assert f"$dlg_var({calls.V_CODE})" not in ksr.pv
    ksr.bflags.discard(FLB_MEDIA)                 # ... or a direct fork's 200
    answer(ksr)
    assert not ksr.called("rtpengine.rtpengine_delete0")


def test_rejected_2xx_to_a_browser_keeps_its_transport(ksr):
    reply(ksr, 200)
    ksr.pv[media.OFFERER_WEBRTC] = 1
    ksr.results["rtpengine.rtpengine_manage"] = -1
    answer(ksr)
    ((body, _),) = ksr.called("textops.set_body")
    assert "m=audio 0 UDP/TLS/RTP/SAVPF 8 0" in body


def test_in_dialog_answer_names_no_branch(ksr):
    reply(ksr, 200, call_anchored=False)        # a re-INVITE's 200
    answer(ksr)
    (flags,) = manage(ksr)
    assert edge_media.PER_BRANCH not in flags
    assert f"$dlg_var({calls.V_MEDIA})" not in ksr.pv


# -- in-dialog requests ------------------------------------------------------------------

def in_dialog(ksr, method: str, downstream: bool = True, sdp: bool = False, **route):
    ksr.message(method, ft="caller-tag", tt="callee-tag", ci="c1@x", cs=2,
                ru="sip:uas@198.51.100.7:5060", du=None,
                **{"hdr(From)": "<sip:a@x>;tag=caller-tag", "hdr(To)": "<sip:b@x>;tag=callee-tag"})
    params = {RR_MEDIA, *route.get("params", ())}
    ksr.results["rr.check_route_param"] = lambda p: 1 if p in params else -1
    ksr.results["rr.is_direction"] = 1 if downstream else -1
    ksr.results["textops.has_body_type"] = 1 if sdp else -1
    ksr.results["kx.get_srcip"] = "203.0.113.9"
    ksr.results["kx.get_srcport"] = 40000
    ksr.pv["$pr"] = "udp"
    return ksr


@pytest.mark.parametrize("downstream", [True, False], ids=["caller-hangs-up", "callee-hangs-up"])
def test_bye_from_either_side_deletes_every_branch(ksr, downstream):
    """rtpengine drops a whole call only by the offerer's tag: a callee's BYE
    names it in its To tag."""
    in_dialog(ksr, "BYE", downstream)
    if not downstream:
        ksr.pv["$ft"], ksr.pv["$tt"] = "callee-tag", "caller-tag"
    assert media.in_dialog()
    assert ksr.called("rtpengine.rtpengine_delete") == [("from-tag=caller-tag",)]
    assert not manage(ksr)


def test_bye_goes_on_when_rtpengine_cannot_be_told(ksr):
    in_dialog(ksr, "BYE")
    ksr.results["rtpengine.rtpengine_delete"] = -1
    assert media.in_dialog()


def test_reinvite_from_the_callee_gets_the_callers_flags(ksr):
    in_dialog(ksr, "INVITE", downstream=False, sdp=True, params=(RR_WEBRTC_CALLER,))
    assert media.in_dialog()
    (flags,) = manage(ksr)
    assert "transport-protocol=UDP/TLS/RTP/SAVPF" in flags and edge_media.PER_BRANCH not in flags
    assert FLB_WEBRTC in ksr.bflags and FLB_MEDIA in ksr.bflags


def test_reoffer_rtpengine_refuses_fails_the_request(ksr):
    in_dialog(ksr, "INVITE", sdp=True)
    ksr.results["rtpengine.rtpengine_manage"] = -1
    assert not media.in_dialog()


def test_unanchored_dialog_is_left_alone(ksr):
    in_dialog(ksr, "BYE")
    ksr.results["rr.check_route_param"] = -1
    assert media.in_dialog()
    assert not ksr.called("rtpengine.rtpengine_delete")


def test_ack_of_a_rejected_answer_ends_both_sides(ksr):
    in_dialog(ksr, "ACK")
    ksr.pv[f"$dlg_var({media.V_MEDIA_DOWN})"] = "sip:a@192.168.1.10:5060"
    assert media.in_dialog()
    to_callee, to_caller = ksr.called("tm.t_uac_send")
    method, ruri, nexthop, _, hdrs, _ = to_callee
    assert (method, ruri, nexthop) == ("BYE", "sip:uas@198.51.100.7:5060", "")
    assert "From: <sip:a@x>;tag=caller-tag\r\nTo: <sip:b@x>;tag=callee-tag" in hdrs
    assert "CSeq: 3 BYE" in hdrs and edge_media.REASON_DOWN in hdrs
    method, ruri, nexthop, _, hdrs, _ = to_caller
    assert (ruri, nexthop) == ("sip:a@192.168.1.10:5060", "sip:203.0.113.9:40000;transport=udp")
    assert "From: <sip:b@x>;tag=callee-tag\r\nTo: <sip:a@x>;tag=caller-tag" in hdrs
    assert ksr.called("dialog.dlg_set_timeout") == [(media.DLG_END_AFTER,)]
    assert ksr.called("rtpengine.rtpengine_delete") == [("from-tag=caller-tag",)]
    ksr.calls.clear()
    assert media.in_dialog()                      # the ACK again (the 2xx was retransmitted)
    assert not ksr.called("tm.t_uac_send")


def test_ack_without_an_answer_of_an_anchored_call_has_no_work(ksr):
    in_dialog(ksr, "ACK")                        # no SDP, the call not being ended
    assert media.in_dialog("sip:uas@198.51.100.7:5060<sip:127.0.0.1;lr;ma=1>")
    assert not ksr.called("rr.check_route_param") and not ksr.called("rr.is_direction")
    assert not manage(ksr) and not ksr.bflags


def test_ack_with_an_answer_is_anchored(ksr):
    in_dialog(ksr, "ACK", sdp=True)              # a late offer's answer
    assert media.in_dialog("sip:uas@198.51.100.7:5060<sip:127.0.0.1;lr;ma=1>")
    assert ksr.called("rr.check_route_param") == [(RR_MEDIA,)] and len(manage(ksr)) == 1


def test_other_requests_of_a_rejected_answer_pass(ksr):
    in_dialog(ksr, "BYE")
    ksr.pv[f"$dlg_var({media.V_MEDIA_DOWN})"] = "1"
    assert media.in_dialog()
    assert not ksr.called("tm.t_uac_send") and not ksr.called("rtpengine.rtpengine_delete")


# -- failure route ----------------------------------------------------------------------

def failed(ksr, code: int, anchored: bool):
    ksr.message("INVITE", T_reply_code=code, T_reply_reason="Busy Here")
    ksr.flags.add(FLT_CALL)
    ksr.results["dialog.var_sets"] = 1
    if anchored:
        ksr.pv[media.ANCHORED] = 1
    return ksr


@pytest.mark.parametrize("code", [486, 408, 487, 480])
def test_failure_releases_the_anchored_session(ksr, code):
    failed(ksr, code, anchored=True)
    failure.on_failure()
    assert ksr.called("rtpengine.rtpengine_delete0") == [()]
    assert ("code", str(code)) in ksr.called("dialog.var_sets")


def test_failure_of_an_unanchored_call_tells_rtpengine_nothing(ksr):
    failed(ksr, 486, anchored=False)
    failure.on_failure()
    assert not ksr.called("rtpengine.rtpengine_delete0")


def test_pool_failover_keeps_the_session_for_the_next_member(ksr, monkeypatch):
    failed(ksr, 503, anchored=True)
    monkeypatch.setattr(pool, "failover", lambda: True)
    failure.on_failure()
    assert not ksr.called("rtpengine.rtpengine_delete0")
