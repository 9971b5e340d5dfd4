"""Step: methods the edge does not route get a clean final reply before any
further work (and before authentication, so the reply says nothing about
which users exist).

Initial (out-of-dialog) requests the edge routes: REGISTER, INVITE, OPTIONS
to itself. Requests inside a dialog are routed by their route set. Event
packages (SUBSCRIBE/PUBLISH) get 489 Bad Event (RFC 6665 8.3.2); other known
methods 405 with Allow (RFC 3261 21.4.6); unknown ones 501 (21.5.2).
"""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send

ALLOW = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK, REGISTER"
INITIAL = frozenset({"REGISTER", "INVITE", "OPTIONS", "ACK", "CANCEL"})
KNOWN = frozenset({"BYE", "UPDATE", "INFO", "PRACK", "MESSAGE", "REFER", "NOTIFY"})
EVENTS = frozenset({"SUBSCRIBE", "PUBLISH"})


def refuse_unsupported(req: Request) -> int:
    if KSR.siputils.has_totag() > 0:
        return CONTINUE                       # in-dialog: routed by route set
    method = KSR.pv.get("$rm")
    if method in INITIAL:
        return CONTINUE
    if method in EVENTS:
        return send(489, "Bad Event")
    if method in KNOWN:
        return send(405, "Method Not Allowed", ALLOW)
    return send(501, "Not Implemented", ALLOW)
