"""Hooks: the caller's identity on the INVITE a callee receives
(edgecore/identity.py decides it).

Toward a device (untrusted, RFC 3325 section 5): the From shows the presented
identity -- a number the callee can dial back and the device's display name --
and any P-Asserted-Identity / P-Preferred-Identity / Remote-Party-ID (the
pre-3325 draft phones still send, as trusted by many UAs) is removed. A pool
member's leg keeps the caller the member presents with the edge's domain
(the member's own address in From would redial the member). Toward a pool
member (trusted): the same identity in P-Asserted-Identity, and in the
X-Edge-Caller-Id/-Name headers its dialplan presents on the legs it rings back
(edgecore/pool.py), so a ring-group call shows the same caller.

The From is rewritten by Kamailio's uac module (uac_replace_from) with
restore_mode "auto" (kamailio/core.cfg): uac keeps the original in a
Record-Route parameter and puts it back on every in-dialog request and reply
that crosses the edge, so each side keeps seeing its own From/To -- tags are
never touched (RFC 3261 12.2). Cost: no round trip, the name came with the
device record.

A device is never a source of asserted identity: the same headers are removed
from the replies the edge relays (kemi/relay.py on_reply: a callee device's
18x/200) and from in-dialog requests (kemi/indialog.py), whichever side sent
them -- what a device puts there is whatever it likes.
"""

from __future__ import annotations

import KSR

from edgecore import identity
from edgecore import pool as edge_pool
from kemi import calls, context
from kemi.context import Request

H_PAI, H_PPI = "P-Asserted-Identity", "P-Preferred-Identity"
H_RPID = "Remote-Party-ID"          # draft-ietf-sip-privacy-04, superseded by RFC 3325


def strip_asserted() -> None:
    """Remove every identity header a sender may assert (RFC 3325 section 5:
    not passed from or to an untrusted element)."""
    KSR.hdr.remove(H_PPI)
    KSR.hdr.remove(H_PAI)
    KSR.hdr.remove(H_RPID)


def on_reply() -> None:
    """A reply the edge relays (reply route): its sender, or its recipient,
    is a device."""
    strip_asserted()


def in_dialog() -> None:
    """An in-dialog request the edge relays (re-INVITE, UPDATE, BYE ...)."""
    strip_asserted()


def of(req: Request) -> identity.Presented | None:
    """The identity of an authenticated device's call (None for a leg a
    pool member rings back: the member already presents it)."""
    if req.device is None or req.tenant is None or req.plan is None:
        return None
    callee = req.plan.resolution.tenant
    return identity.presented(req.tenant.id, req.device.extension, req.device.name,
                              callee.id if callee else None, req.device.global_number)


def to_device(req: Request) -> None:
    """An initial INVITE about to be relayed to a device's contacts; a pool
    member's leg also loses the X-Edge-* headers it carries (X-Edge-Call)."""
    strip_asserted()
    if req.from_pool:
        KSR.textops.remove_hf_re("^" + edge_pool.PREFIX)
        # the member presents the caller itself (X-Edge-Caller-Id/-Name):
        # the leg's CDR says what its callee was shown; its From's host is
        # the member's address -- redialled, the member itself (403) -- so
        # it gets the callee's tenant domain (else the edge's), user and
        # display name kept
        number = context.pv_str("$fU")
        KSR.uac.uac_replace_from_uri(f"sip:{number}@{edge_domain(req)}")
        calls.presented(number, context.pv_str("$fn").strip().strip('"'))
    who = of(req)
    if who is None:
        return
    display = f'"{who.name}"' if who.name else ""
    KSR.uac.uac_replace_from(display, f"sip:{who.number}@{context.pv_str('$fd')}")
    calls.presented(who.number, who.name)


def edge_domain(req: Request) -> str:
    """The domain a callee dials the edge by: its tenant's, else the edge's."""
    callee = req.plan.resolution.tenant if req.plan is not None else None
    return (callee.domain if callee is not None and callee.domain else
            context.worker().cfg.node.domain)


def to_pool(req: Request) -> None:
    """An initial INVITE about to be relayed to a media-pool member."""
    strip_asserted()
    who = of(req)
    if who is None:
        return
    KSR.hdr.append(f"{H_PAI}: {who.name_addr(context.pv_str('$fd'))}\r\n")
    calls.presented(who.number, who.name)
