"""rtpengine control for calls whose media must be anchored (edgecore.media
decides; this module acts).

What is known where: the caller's side (NAT, browser) in the request route;
each callee contact's side in its branch (usrloc branch flags FLB_NATB,
FLB_WEBRTC); the branch's anchoring in FLB_MEDIA (so its replies drive the
answer); the dialog's in Record-Route parameters (ma, wa, wb) so in-dialog
requests in either direction keep driving rtpengine with the right flags.
"""

from __future__ import annotations

import KSR

from kemi import calls

from edgecore import media
from kemi.ksrconst import (FLB_MEDIA, FLB_NATB, FLB_WEBRTC, FLT_NATS, RR_MEDIA,
                           RR_WEBRTC_CALLEE, RR_WEBRTC_CALLER)

# transaction AVPs: the sender of this transaction's offer is a browser; some
# branch was anchored; some branch was dropped because rtpengine could not
# anchor it
OFFERER_WEBRTC = "$avp(edge_offerer_webrtc)"
ANCHORED = "$avp(edge_media)"
LOST = "$avp(edge_media_lost)"


def _flag_avp(name: str) -> bool:
    return not KSR.pv.is_null(name)


def note_offerer() -> None:
    """Request route of an initial INVITE: is the caller a browser?"""
    if KSR.is_WSX():
        KSR.pv.seti(OFFERER_WEBRTC, 1)


def offer_on_branch() -> bool:
    """Branch route of an initial INVITE: anchor when the caller or this
    branch's contact is NATed or a browser. False when rtpengine could not be
    reached (the branch is then dropped: no one-way audio)."""
    caller_nat, caller_web = KSR.isflagset(FLT_NATS), _flag_avp(OFFERER_WEBRTC)
    callee_nat, callee_web = KSR.isbflagset(FLB_NATB), KSR.isbflagset(FLB_WEBRTC)
    if not media.anchor(caller_nat, callee_nat, caller_web, callee_web):
        return True
    if KSR.rtpengine.rtpengine_manage(media.sdp_flags(caller_nat, caller_web, callee_web)) < 0:
        KSR.pv.seti(LOST, 1)
        return False
    KSR.setbflag(FLB_MEDIA)
    KSR.pv.seti(ANCHORED, 1)
    if calls.in_call():
        calls.media(calls.MEDIA_WEBRTC if caller_web or callee_web else calls.MEDIA_RTP)
    params = ";" + RR_MEDIA
    if caller_web:
        params += ";" + RR_WEBRTC_CALLER
    if callee_web:
        params += ";" + RR_WEBRTC_CALLEE
    KSR.rr.add_rr_param(params)
    return True


def answer_on_reply() -> None:
    """Reply route: a 1xx/2xx with SDP from an anchored branch."""
    if not KSR.isbflagset(FLB_MEDIA) or KSR.textops.has_body_type("application/sdp") < 0:
        return
    KSR.rtpengine.rtpengine_manage(media.sdp_flags(
        KSR.isbflagset(FLB_NATB), KSR.isbflagset(FLB_WEBRTC), _flag_avp(OFFERER_WEBRTC),
        offer=False))


def in_dialog() -> bool:
    """A request inside an anchored dialog: re-offer (re-INVITE/UPDATE with
    SDP), answer (ACK with SDP) or delete (BYE) as rtpengine_manage decides,
    with the flags of this request's direction."""
    if KSR.rr.check_route_param(RR_MEDIA) < 0:
        return True
    caller_web = KSR.rr.check_route_param(RR_WEBRTC_CALLER) > 0
    callee_web = KSR.rr.check_route_param(RR_WEBRTC_CALLEE) > 0
    downstream = KSR.rr.is_direction("downstream") > 0
    sender_web, receiver_web = (caller_web, callee_web) if downstream else \
        (callee_web, caller_web)
    KSR.setbflag(FLB_MEDIA)
    if sender_web:
        KSR.pv.seti(OFFERER_WEBRTC, 1)
    if receiver_web:
        KSR.setbflag(FLB_WEBRTC)        # the reply's answer goes back to a browser
    if KSR.is_BYE() or KSR.textops.has_body_type("application/sdp") > 0:
        flags = media.sdp_flags(KSR.isflagset(FLT_NATS), sender_web, receiver_web)
        return KSR.rtpengine.rtpengine_manage(flags) > 0
    return True


def lost() -> bool:
    """Some branch was dropped because its media could not be anchored."""
    return _flag_avp(LOST)


def release_on_failure() -> None:
    """Failure route: no branch answered; forget the session."""
    if _flag_avp(ANCHORED):
        KSR.rtpengine.rtpengine_delete0()
