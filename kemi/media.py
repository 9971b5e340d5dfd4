"""rtpengine control for calls whose media must be anchored (edgecore.media
decides; this module acts).

What is known where: the caller's side (NAT, browser) in the request route;
each callee contact's side in its branch (usrloc branch flags FLB_NATB,
FLB_WEBRTC); the branch's anchoring in FLB_MEDIA (so its replies drive the
answer); the dialog's in Record-Route parameters (ma, wa, wb) so in-dialog
requests in either direction keep driving rtpengine with the right flags.

Each branch of an initial INVITE has its own offer in rtpengine
(``via-branch``), so a number registered from a browser and a desk phone
rings both with the right media for each. Replies (``answer_on_reply``):

* a 2xx from an anchored branch: its SDP is rewritten; the CDR notes the
  media path of the branch that answered (a browser or NATed caller's call
  is noted at the offer: every branch is anchored);
* a 2xx from a branch rtpengine does not anchor while another branch was
  anchored (a desk phone answered, the browser's branch is cancelled): the
  call's rtpengine session is deleted -- no session waits for a timeout;
* a further 2xx of the same INVITE (its retransmission, or a second fork
  answering before its CANCEL arrived -- tm relays every 2xx) never
  releases nor ends the call the first one established: it is rewritten
  when rtpengine can, else its streams are rejected (the session may be
  gone already: the caller hung up);
* rtpengine cannot rewrite an answer (down since the offer): a 1xx is not
  relayed; a 2xx cannot be held back (tm relays every 2xx of an INVITE), so
  its SDP is replaced by one rejecting every stream -- never the callee's
  unanchored one, so no one-way audio -- and the call is ended on both sides
  (BYE with Reason 503) when the caller's ACK confirms it; its CDR says 503
  Media Relay Down.

Sessions are deleted on BYE (whichever side sends it, every branch's
monologue), on CANCEL and every failure (failure route), and by the 2xx
above. A BYE is relayed even when rtpengine cannot be told (its session then
ends by rtpengine's own timeout, rtpengine/rtpengine.conf).
"""

from __future__ import annotations

import time

import KSR

from kemi import calls, context

from edgecore import media
from kemi.ksrconst import (FLB_MEDIA, FLB_NATB, FLB_WEBRTC, FLT_NATS, RR_MEDIA,
                           RR_WEBRTC_CALLEE, RR_WEBRTC_CALLER)

# transaction AVPs: the sender of this transaction's offer is a browser; some
# branch of the initial INVITE was anchored; some branch was dropped because
# rtpengine could not anchor it; a 2xx of this transaction was relayed (tm
# gives the reply route the transaction's AVPs, so what it sets there stays)
OFFERER_WEBRTC = "$avp(edge_offerer_webrtc)"
ANCHORED = "$avp(edge_media)"
LOST = "$avp(edge_media_lost)"
ANSWERED = "$avp(edge_answered)"
# dialog variable: a 2xx went to the caller with its media rejected because
# rtpengine could not rewrite it; the caller's ACK ends the call
# (its value: the caller's Contact URI; ENDED once the ending BYEs are out)
V_MEDIA_DOWN = "mdown"
ENDED = "-"
DLG_END_AFTER = 1           # s: the dialog's timeout once its ending BYEs are out


def _flag_avp(name: str) -> bool:
    return not KSR.pv.is_null(name)


def note_offerer() -> None:
    """Request route of an initial INVITE: is the caller a browser?"""
    if KSR.is_WSX():
        KSR.pv.seti(OFFERER_WEBRTC, 1)


def offer_on_branch() -> bool:
    """Branch route of an initial INVITE: anchor when the caller or this
    branch's contact is NATed or a browser, as this branch's own offer. False
    when rtpengine could not be reached (the branch is then dropped: no
    one-way audio)."""
    caller_nat, caller_web = KSR.isflagset(FLT_NATS), _flag_avp(OFFERER_WEBRTC)
    callee_nat, callee_web = KSR.isbflagset(FLB_NATB), KSR.isbflagset(FLB_WEBRTC)
    if not media.anchor(caller_nat, callee_nat, caller_web, callee_web):
        return True
    flags = media.sdp_flags(caller_nat, caller_web, callee_web, branch=True)
    if KSR.rtpengine.rtpengine_manage(flags) < 0:
        KSR.pv.seti(LOST, 1)
        return False
    KSR.setbflag(FLB_MEDIA)
    KSR.pv.seti(ANCHORED, 1)
    if (caller_web or caller_nat) and calls.in_call():
        # every branch is anchored: the call's media path whichever answers
        # (otherwise it is the answering branch's, noted at its 2xx)
        calls.media(calls.MEDIA_WEBRTC if caller_web else calls.MEDIA_RTP)
    params = ";" + RR_MEDIA
    if caller_web:
        params += ";" + RR_WEBRTC_CALLER
    if callee_web:
        params += ";" + RR_WEBRTC_CALLEE
    KSR.rr.add_rr_param(params)
    return True


def answered() -> bool:
    """Reply route: has a 2xx of this transaction gone to the caller?"""
    return _flag_avp(ANSWERED)


def first_answer(code: int) -> bool:
    """Reply route: is this reply the transaction's first 2xx? (Later ones
    are the callee's retransmissions, or other forks answering too.)"""
    if not 200 <= code < 300:
        return False
    if answered():
        return False
    KSR.pv.seti(ANSWERED, 1)
    return True


def answer_on_reply(code: int, first: bool) -> None:
    """Reply route: a 1xx/2xx ``code`` of a relayed request, ``first``: the
    transaction's first 2xx (see the module doc)."""
    branch, call = KSR.isbflagset(FLB_MEDIA), _flag_avp(ANCHORED)
    if not branch and not call:
        return                          # no branch anchored: the reply passes as it is
    has_sdp = KSR.textops.has_body_type("application/sdp") > 0
    sender_web, receiver_web = KSR.isbflagset(FLB_WEBRTC), _flag_avp(OFFERER_WEBRTC)
    rewritten = True
    if branch and has_sdp:
        flags = media.sdp_flags(KSR.isbflagset(FLB_NATB), sender_web, receiver_web,
                                offer=False, branch=call)
        rewritten = KSR.rtpengine.rtpengine_manage(flags) > 0
    action = media.answer_action(code, branch, call, has_sdp, rewritten,
                                 late=code >= 200 and not first)
    if action == media.PASS:
        if branch and call and first and calls.in_call():
            calls.media(calls.MEDIA_WEBRTC if sender_web or receiver_web else calls.MEDIA_RTP)
    elif action == media.RELEASE:
        KSR.rtpengine.rtpengine_delete0()        # the caller's tag: every branch's monologue
    elif action == media.DROP:
        KSR.err("rtpengine could not rewrite a %d's SDP: not relayed\n" % code)
        KSR.set_drop()
    elif action == media.LATE:
        KSR.info("a further %d of %s rtpengine could not rewrite: its media rejected\n"
                 % (code, context.pv_str("$ci")))
        KSR.textops.set_body(media.reject_answer(context.pv_str("$rb"), receiver_web),
                             "application/sdp")
    else:
        _reject(code, receiver_web)


def _reject(code: int, receiver_web: bool) -> None:
    """A 2xx rtpengine could not anchor: the caller gets every stream
    rejected, and the call is marked to end at the caller's ACK (with the
    caller's Contact, where that ending BYE goes)."""
    KSR.err("rtpengine could not rewrite a %d's SDP: media rejected, call ends\n" % code)
    KSR.textops.set_body(media.reject_answer(context.pv_str("$rb"), receiver_web),
                         "application/sdp")
    KSR.dialog.var_sets(V_MEDIA_DOWN, _uri(context.pv_str("$T_req($ct)")) or "1")
    if calls.in_call():
        calls.final(media.DOWN_CODE, media.DOWN_TEXT)


def _uri(name_addr: str) -> str:
    """The URI of a Contact/From/To value (``"x" <sip:a@b>;p`` or ``sip:a@b``)."""
    if "<" in name_addr:
        return name_addr.split("<", 1)[1].split(">", 1)[0]
    return name_addr.split(";", 1)[0].strip()


def _offerer_tag(downstream: bool) -> str:
    """The initial caller's tag: the From tag of requests in its direction,
    the To tag of the callee's."""
    return context.pv_str("$ft" if downstream else "$tt")


def _end_call(downstream: bool, sender_contact: str) -> None:
    """The ACK of a 2xx whose media was rejected: BYE (Reason 503) to both
    sides, sent by tm -- the ACK's recipient at the ACK's own destination,
    its sender back where the ACK came from -- and the dialog ended a moment
    later by its timeout (writing the CDR). Not the dialog module's
    dlg_bye("all"): the first BYE's 200 deletes the dialog, and when it comes
    back before the second BYE is out (another worker, loopback-fast) that
    BYE is never sent."""
    ci = context.pv_str("$ci")
    frm, to = context.pv_str("$hdr(From)"), context.pv_str("$hdr(To)")
    cseq = int(context.pv_str("$cs") or 0)
    KSR.tm.t_uac_send("BYE", context.pv_str("$ru"), context.pv_str("$du"), "",
                      media.bye_headers(frm, to, ci, cseq + 1), "")
    back = "sip:%s:%s;transport=%s" % (KSR.kx.get_srcip(), KSR.kx.get_srcport(),
                                       context.pv_str("$pr") or "udp")
    # the other side has sent nothing in this dialog the edge knows the CSeq
    # of: a number above any counter it can have used (RFC 3261 8.1.1.5: < 2**31)
    KSR.tm.t_uac_send("BYE", sender_contact or back, back, "",
                      media.bye_headers(to, frm, ci, int(time.time()) & 0x7FFFFFFF), "")
    KSR.dialog.dlg_set_timeout(DLG_END_AFTER)
    KSR.rtpengine.rtpengine_delete(media.delete_flags(_offerer_tag(downstream)))


def _may_carry(param: str, rr_text: str | None) -> bool:
    """Could the edge's Record-Route have had ``param``? ``rr_text``: the
    request's R-URI and Route values as received, which hold every parameter
    loose_route can have consumed (None: unknown, maybe)."""
    return rr_text is None or param in rr_text.lower()


def _routed(param: str, rr_text: str | None) -> bool:
    """After loose routing: the edge's Record-Route had ``param``.
    rr check_route_param compiles a regular expression on every KEMI call:
    not asked when ``rr_text`` shows it cannot have."""
    return _may_carry(param, rr_text) and KSR.rr.check_route_param(param) > 0


def in_dialog(rr_text: str | None = None) -> bool:
    """A request inside an anchored dialog: re-offer (re-INVITE/UPDATE with
    SDP) or answer (ACK with SDP) with the flags of this request's direction;
    delete the whole call on BYE; end a call whose answer could not be
    anchored (``_reject``) at its ACK. False: rtpengine could not take an
    offer or answer (the request is refused with 503). ``rr_text``: see
    ``_routed``."""
    if not _may_carry(RR_MEDIA, rr_text):
        return True
    if KSR.is_ACK() and KSR.textops.has_body_type("application/sdp") < 0 and \
            KSR.dialog.var_get(V_MEDIA_DOWN) is None:
        return True         # an ACK with no answer in it, of a call not being ended: no work
    if KSR.rr.check_route_param(RR_MEDIA) < 0:
        return True
    downstream = KSR.rr.is_direction("downstream") > 0
    down = KSR.dialog.var_get(V_MEDIA_DOWN)
    if down is not None:
        if KSR.is_ACK() and str(down) != ENDED:     # a retransmitted ACK: ended already
            KSR.dialog.var_sets(V_MEDIA_DOWN, ENDED)
            _end_call(downstream, "" if str(down) == "1" else str(down))
        return True
    if KSR.is_BYE():
        if KSR.rtpengine.rtpengine_delete(media.delete_flags(_offerer_tag(downstream))) < 0:
            KSR.err("rtpengine could not delete the session of %s\n" % context.pv_str("$ci"))
        return True
    caller_web = _routed(RR_WEBRTC_CALLER, rr_text)
    callee_web = _routed(RR_WEBRTC_CALLEE, rr_text)
    sender_web, receiver_web = (caller_web, callee_web) if downstream else \
        (callee_web, caller_web)
    KSR.setbflag(FLB_MEDIA)
    if sender_web:
        KSR.pv.seti(OFFERER_WEBRTC, 1)
    if receiver_web:
        KSR.setbflag(FLB_WEBRTC)        # the reply's answer goes back to a browser
    if KSR.textops.has_body_type("application/sdp") > 0:
        flags = media.sdp_flags(KSR.isflagset(FLT_NATS), sender_web, receiver_web)
        return KSR.rtpengine.rtpengine_manage(flags) > 0
    return True


def lost() -> bool:
    """Some branch was dropped because its media could not be anchored."""
    return _flag_avp(LOST)


def release_on_failure() -> None:
    """Failure route: no branch answered; forget the session (the caller's
    tag: every branch's monologue)."""
    if _flag_avp(ANCHORED):
        KSR.rtpengine.rtpengine_delete0()
