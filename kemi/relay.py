"""Step: deliver an allowed call to the callee's registered contacts, and the
transaction routes that follow it (branch, reply).

Every registered contact of the callee's tenant-scoped AOR is rung in
parallel (usrloc branches); a callee known but not registered gets 480.
Requests are record-routed so the whole dialog stays on the edge."""

from __future__ import annotations

import time

import KSR

from edgecore import media as edge_media
from kemi import calls, context, identity, media, parties, peers
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLB_NATB, FLB_WEBRTC, FLT_DELIVERED, FLT_NATS, LOCATION, STOP
from kemi.replies import send

BRANCH_ROUTE = "ksr_branch_manage"
REPLY_ROUTE = "ksr_onreply_manage"
FAILURE_ROUTE = "ksr_failure_manage"

# A fork whose first provisional reply crosses another fork's 2xx. tm cancels a
# branch that had no reply when the 2xx went out only when a provisional reply
# comes *after* it marked the branch (tm t_reply.c, reply_received: the check is
# made before the reply lock is taken); one that was already waiting for the
# lock the 2xx held is discarded, and the device -- a browser never sends a
# second provisional -- would ring on after the call was answered elsewhere.
# Its reply route cancels it (tmx t_cancel_branches "this": a CANCEL now, as
# the branch counts as provisionally replied while its reply route runs).
# While the 2xx's own process has not yet handed the branch over, this fails;
# that process then sends the CANCEL itself if it looks while this route still
# runs -- so the route retries for at most LATE_FORK_TRIES x LATE_FORK_PAUSE.
LATE_FORK_TRIES = 10
LATE_FORK_PAUSE = 0.0002          # s


def forward() -> int:
    """Stateful relay with the edge's transaction routes armed."""
    initial = KSR.is_INVITE() and KSR.siputils.has_totag() < 0
    if initial:
        KSR.dialog.dlg_manage()         # in-dialog requests must match this dialog
        media.note_offerer()
        parties.note_caller()           # where the caller is: its requests' destination
    # requests whose branches or replies carry SDP or a Contact to fix (a BYE
    # and its 200 carry neither: no Python run for them); every reply of an
    # INVITE/UPDATE loses a device's asserted identity (identity.on_reply).
    # The branch route only anchors media: armed when a branch may need it
    if initial and needs_branch_route():
        KSR.tm.t_on_branch(BRANCH_ROUTE)
    if KSR.is_INVITE() or KSR.is_UPDATE():
        KSR.tm.t_on_reply(REPLY_ROUTE)
    if KSR.is_INVITE():
        KSR.tm.t_on_failure(FAILURE_ROUTE)
    if KSR.tm.t_relay() < 0:
        if media.lost():       # every branch dropped: rtpengine could not anchor media
            return send(503, "Service Unavailable - Media Relay Down")
        if KSR.tm.t_is_canceled() > 0:
            return cancelled_before_relay()
        KSR.sl.sl_reply_error()
    return STOP


def needs_branch_route() -> bool:
    """Request route of an initial INVITE about to be relayed: may a branch
    need its media anchored (the branch route's only work)? Not for one
    branch (no fork) where neither side is NATed nor a browser
    (edgecore.media.anchor) -- a plain call then runs no Python per branch."""
    if int(KSR.pv.get("$branch(count)") or 0) > 0:
        return True                     # forked: each branch decides for itself
    return edge_media.anchor(KSR.isflagset(FLT_NATS), KSR.isbflagset(FLB_NATB),
                             KSR.is_WSX(), KSR.isbflagset(FLB_WEBRTC))


def cancelled_before_relay() -> int:
    """The INVITE's CANCEL arrived while this process was still routing it
    (seen with a pool member cancelling a leg in the millisecond another
    target answered): tm matched the CANCEL to the transaction, then refused
    to forward the canceled INVITE (t_forward_nonack: E_CANCELED) and put off
    its error reply to the end of the route. A stateless error reply here
    (sl_reply_error, as before) answered outside the transaction -- "stateless
    error reply used" -- and tm's own delayed reply then failed ("t_unref():
    generation of a delayed stateful reply failed"), leaving the INVITE's
    transaction without its final reply: the member's leg ended 408 on its
    own timer. The transaction's answer to a cancelled INVITE is 487 (RFC 3261
    9.2), sent once, statefully, and recorded as the CDR's code."""
    if calls.in_call():
        calls.final(487, "Request Terminated")
    if KSR.tm.t_get_status_code() < 200:
        KSR.tm.t_reply(487, "Request Terminated")
    return STOP


def to_device(req: Request) -> int:
    if req.plan is None or req.plan.resolution.target is None:
        return CONTINUE
    target = req.plan.resolution.target
    if target.kind != "device":
        return CONTINUE
    rc = KSR.registrar.lookup_uri(LOCATION, target.aor)
    if rc < 0:
        if rc == -2:
            return send(405, "Method Not Allowed")
        return send(480, "Temporarily Unavailable")
    identity.to_device(req)
    KSR.hdr.remove("Route")
    KSR.rr.record_route()
    return forward()


def on_branch() -> None:
    """Branch route: per outgoing branch (one per registered contact)."""
    if KSR.siputils.has_totag() < 0 and KSR.is_INVITE():
        if not media.offer_on_branch():
            KSR.err("rtpengine unreachable: dropping branch to %s\n" % KSR.pv.get("$ru"))
            KSR.set_drop()


def on_reply() -> None:
    """Reply route of relayed requests."""
    code = int(KSR.pv.get("$rs") or 0)
    method = context.pv_str("$rm")
    if code < 200 and method == "INVITE" and media.answered():
        cancel_late_fork()
        return                      # tm discards it: the caller has its answer
    if code == 100:
        return                      # hop by hop: tm relays no 100 (RFC 3261 16.7)
    identity.on_reply()
    first = media.first_answer(code)
    if first and method == "INVITE" and calls.in_call():
        calls.answered(code, context.pv_str("$rr"))
    if 200 <= code < 300 and method in ("INVITE", "UPDATE"):
        parties.note_answer()           # where the callee is (or moved its Contact to)
    if 100 < code < 300:
        media.answer_on_reply(code, first)
        # the Contact of a NATed device gets its real address -- by the node
        # that received the reply from the device, never from a peer node
        if (KSR.isbflagset(FLB_NATB) or KSR.isflagset(FLT_DELIVERED)) and \
                not peers.reply_from_peer():
            KSR.nathelper.set_contact_alias()


def cancel_late_fork(pause: float = LATE_FORK_PAUSE) -> bool:
    """Reply route of a provisional reply to an INVITE already answered by
    another fork: CANCEL this branch (see LATE_FORK_TRIES). False when tm
    would not take it -- it has (or is sending) its own CANCEL for it."""
    for attempt in range(LATE_FORK_TRIES):
        if KSR.tmx.t_cancel_branches("this") > 0:
            return True
        if attempt + 1 < LATE_FORK_TRIES:
            time.sleep(pause)
    return False
