"""Step: the last one -- a clean final reply for whatever no earlier step
routed, so no request is ever left unanswered."""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import STOP
from kemi.replies import send


def not_routed(req: Request) -> int:
    if KSR.is_ACK():
        return STOP
    return send(501, "Not Implemented")
