"""Step: enforce the dialing policy's decision (edgecore.policy): refused
calls get their final reply here -- 403 with the cross-tenant reason, 404 for
an unknown number, 484 for what cannot be a number."""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send


def enforce(req: Request) -> int:
    if req.plan is None:
        return CONTINUE
    d = req.plan.decision
    if d.allowed:
        return CONTINUE
    caller = req.tenant.id if req.tenant else "?"
    callee = req.plan.resolution.tenant.id if req.plan.resolution.tenant else "-"
    KSR.notice(f"policy: {d.rule}: tenant {caller} -> {req.dialled} (tenant {callee}): "
               f"{d.code}\n")
    return send(d.code, d.reason)
