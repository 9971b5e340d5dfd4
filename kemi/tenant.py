"""Step: which tenant and target an INVITE reaches (number resolution and
the dialing policy's decision, computed by edgecore on the data the auth
step fetched -- no further round trip)."""

from __future__ import annotations

import KSR

from edgecore import numbering, tenancy
from edgecore.policy import RULE_POOL_LEG, RULE_UNKNOWN, CallPlan, Decision, plan_call
from kemi import context
from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send


def resolve(req: Request) -> int:
    if not KSR.is_INVITE():
        return CONTINUE
    if req.from_pool and req.call is not None:
        # the member's call was authorised when it entered the edge
        req.plan = CallPlan(numbering.resolve(req.call),
                            Decision(True, RULE_POOL_LEG))
        if not req.plan.resolution.found:
            req.plan = CallPlan(req.plan.resolution,
                                Decision(False, RULE_UNKNOWN, 404, "Not Found"))
        return CONTINUE
    if req.device is None or req.call is None:          # auth step guarantees this
        return send(500, "Server Internal Error")
    if not tenancy.identity_matches(context.pv_str("$fU"), req.device):
        return send(403, "Forbidden - Not Your Identity")
    req.plan = plan_call(req.call, req.dialled)
    return CONTINUE
