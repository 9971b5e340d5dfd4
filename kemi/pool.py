"""Step: calls that go to the Asterisk media pool (ring groups). Until the
pool is configured, a ring-group call gets a clear 480."""

from __future__ import annotations

from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send


def route(req: Request) -> int:
    if req.plan is None or not req.plan.resolution.is_ring_group:
        return CONTINUE
    return send(480, "Temporarily Unavailable - Ring Group Needs Media Pool")
