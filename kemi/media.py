"""rtpengine control for calls whose media must be anchored (edgecore.media
decides; this module acts). Which branch is anchored is kept in the branch
flag FLB_MEDIA (so the reply of that branch drives the answer) and in the
Record-Route parameter ``ma=1`` (so in-dialog requests keep driving it)."""

from __future__ import annotations

import KSR

from edgecore import media
from kemi.ksrconst import FLB_MEDIA, FLB_NATB, FLT_NATS, RR_MEDIA

# the transaction's AVPs: some branch of this call was anchored / was dropped
# because rtpengine could not anchor it
ANCHORED = "$avp(edge_media)"
LOST = "$avp(edge_media_lost)"


def offer_on_branch() -> bool:
    """Branch route of an initial INVITE: anchor when caller or this branch's
    callee contact is NATed. False when rtpengine could not be reached."""
    caller_nat = KSR.isflagset(FLT_NATS)
    if not media.anchor(caller_nat, KSR.isbflagset(FLB_NATB)):
        return True
    if KSR.rtpengine.rtpengine_manage(media.offer_flags(caller_nat)) < 0:
        KSR.pv.seti(LOST, 1)
        return False
    KSR.setbflag(FLB_MEDIA)
    KSR.pv.seti(ANCHORED, 1)
    KSR.rr.add_rr_param(";" + RR_MEDIA)
    return True


def answer_on_reply() -> None:
    """Reply route: a 1xx/2xx with SDP from an anchored branch."""
    if not KSR.isbflagset(FLB_MEDIA) or KSR.textops.has_body_type("application/sdp") < 0:
        return
    KSR.rtpengine.rtpengine_manage(media.answer_flags(KSR.isbflagset(FLB_NATB)))


def in_dialog() -> bool:
    """A request inside an anchored dialog: re-offer (re-INVITE/UPDATE with
    SDP), answer (ACK with SDP) or delete (BYE) as rtpengine_manage decides."""
    if KSR.rr.check_route_param(RR_MEDIA) < 0:
        return True
    KSR.setbflag(FLB_MEDIA)
    if KSR.is_BYE() or KSR.textops.has_body_type("application/sdp") > 0:
        return KSR.rtpengine.rtpengine_manage(media.offer_flags(KSR.isflagset(FLT_NATS))) > 0
    return True


def lost() -> bool:
    """Some branch was dropped because its media could not be anchored."""
    return not KSR.pv.is_null(LOST)


def release_on_failure() -> None:
    """Failure route: no branch answered; forget the session."""
    if not KSR.pv.is_null(ANCHORED):
        KSR.rtpengine.rtpengine_delete0()
