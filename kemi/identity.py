"""Hooks: the caller's identity on the INVITE a callee receives
(edgecore/identity.py decides it).

Toward a device (untrusted, RFC 3325 section 5): the From shows the presented
identity -- a number the callee can dial back and the device's display name --
and any P-Asserted-Identity / P-Preferred-Identity is removed. Toward a pool
member (trusted): the same identity in P-Asserted-Identity, and in the
X-Edge-Caller-Id/-Name headers its dialplan presents on the legs it rings back
(edgecore/pool.py), so a ring-group call shows the same caller.

The From is rewritten by Kamailio's uac module (uac_replace_from) with
restore_mode "auto" (kamailio/core.cfg): uac keeps the original in a
Record-Route parameter and puts it back on every in-dialog request and reply
that crosses the edge, so each side keeps seeing its own From/To -- tags are
never touched (RFC 3261 12.2). Cost: no round trip, the name came with the
device record.
"""

from __future__ import annotations

import KSR

from edgecore import identity
from edgecore import pool as edge_pool
from kemi import calls, context
from kemi.context import Request

H_PAI, H_PPI = "P-Asserted-Identity", "P-Preferred-Identity"


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
    KSR.hdr.remove(H_PPI)
    KSR.hdr.remove(H_PAI)
    if req.from_pool:
        KSR.textops.remove_hf_re("^" + edge_pool.PREFIX)
        # the member presents the caller itself (X-Edge-Caller-Id/-Name):
        # the leg's CDR says what its callee was shown
        calls.presented(context.pv_str("$fU"), context.pv_str("$fn").strip().strip('"'))
    who = of(req)
    if who is None:
        return
    display = f'"{who.name}"' if who.name else ""
    KSR.uac.uac_replace_from(display, f"sip:{who.number}@{context.pv_str('$fd')}")
    calls.presented(who.number, who.name)


def to_pool(req: Request) -> None:
    """An initial INVITE about to be relayed to a media-pool member."""
    KSR.hdr.remove(H_PPI)
    KSR.hdr.remove(H_PAI)
    who = of(req)
    if who is None:
        return
    KSR.hdr.append(f"{H_PAI}: {who.name_addr(context.pv_str('$fd'))}\r\n")
    calls.presented(who.number, who.name)
