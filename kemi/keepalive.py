"""Step: OPTIONS addressed to the edge itself (no user part) -- keepalives
and reachability probes from phones and load balancers -- get 200 OK."""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send


def options(req: Request) -> int:
    if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
        KSR.hdr.append_to_reply("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, "
                                "PRACK, REGISTER\r\n")
        return send(200, "OK")
    return CONTINUE
