"""Steps: CANCEL and requests inside a dialog (ACK, BYE, re-INVITE, UPDATE,
INFO, PRACK, NOTIFY, REFER), routed by the route set the edge recorded
(RFC 3261 16.12 loose routing), never by a fresh lookup -- and only within a
dialog the edge itself set up (dialog module), so a forged in-dialog request
never reaches a device unauthenticated -- and only to the dialog's other
party (kemi.parties): one steered elsewhere by its R-URI, an added Route or
an alias is refused before it is loose-routed, because the dialog module
acts on a BYE as it is loose-routed (the dialog ends, its call slot is freed,
its CDR written) whether or not it is relayed afterwards."""

from __future__ import annotations

import KSR

from kemi import identity, media, parties, relay
from kemi import context
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP
from kemi.replies import send


def cancel(req: Request) -> int:
    if not KSR.is_CANCEL():
        return CONTINUE
    if KSR.tm.t_check_trans() > 0:     # matches the INVITE: tm relays it, replies 200
        KSR.tm.t_relay()
    return STOP


def within(req: Request) -> int:
    if KSR.siputils.has_totag() < 0:
        return CONTINUE
    # known before loose routing, as after it: the dialog module looks the
    # dialog up by Call-ID and tags, whatever the Route says
    known = KSR.dialog.is_known_dlg() > 0
    party, rr_text = None, None
    if known:
        ruri, routes = context.pv_str("$ru"), context.pv_str(parties.ROUTES)
        rr_text = ruri + routes          # the edge's Record-Route parameters are in there
        party = parties.receiver()
        why = parties.steered(party, ruri, routes) if party is not None else None
        if why is not None:
            KSR.notice(f"edge: in-dialog {context.pv_str('$rm')} from {KSR.kx.get_srcip()} "
                       f"steered out of its dialog ({why}): refused\n")
            return STOP if KSR.is_ACK() else send(403, "Forbidden - Outside The Dialog")
    if KSR.rr.loose_route() > 0:
        if not known:
            # a Route to the edge is not enough: only dialogs the edge set up
            return STOP if KSR.is_ACK() else send(481, "Call/Transaction Does Not Exist")
        parties.to_party(party)
        if KSR.is_INVITE() or KSR.is_UPDATE():      # a target refresh (RFC 3261 12.2)
            parties.note_caller()
        if not media.in_dialog(rr_text):
            return send(503, "Service Unavailable - Media Relay Down")
        if KSR.is_ACK():
            KSR.tm.t_relay()
            return STOP
        identity.in_dialog()
        return relay.forward()
    if KSR.is_ACK():
        if KSR.tm.t_check_trans() > 0:  # ACK of a non-2xx final reply relayed by us
            KSR.tm.t_relay()
        return STOP
    return send(481, "Call/Transaction Does Not Exist")


def retransmission(req: Request) -> int:
    """An initial request already being processed or relayed: let tm absorb
    (or re-send the reply to) the retransmission instead of routing it again."""
    if KSR.tmx.t_precheck_trans() > 0:
        KSR.tm.t_check_trans()
        return STOP
    if KSR.tm.t_check_trans() == 0:
        return STOP
    return CONTINUE
