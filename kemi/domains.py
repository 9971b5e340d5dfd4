"""Step: an INVITE for a domain the edge does not serve is refused
(edgecore.domains), not routed on its user part alone.

Runs after the number is resolved (the tenants the call's read-model round
trip fetched give the tenant domains) and before the call's record is
opened: the refusal replaces the call plan, so ``policy.enforce`` answers it
with its reason and the CDR records it like any other refused call. Calls a
media-pool member places back through the edge were checked when they first
entered it."""

from __future__ import annotations

import KSR

from edgecore import domains
from edgecore.policy import CallPlan, Decision
from kemi import context, namespace
from kemi.context import Request
from kemi.ksrconst import CONTINUE


def served_here(req: Request) -> frozenset[str]:
    """Domains served for this request: the edge's, its caller's tenant's,
    its callee's tenant's, and the imported legacy servers' (kemi/namespace.py)."""
    callee = req.plan.resolution.tenant if req.plan is not None else None
    return domains.served_domains(context.worker().edge_domains,
                                  req.tenant.domain if req.tenant else None,
                                  callee.domain if callee else None,
                                  *namespace.addresses(context.worker()))


def check(req: Request) -> int:
    if not KSR.is_INVITE() or req.plan is None or req.from_pool:
        return CONTINUE
    if KSR.is_myself_ruri():
        return CONTINUE                 # one of this node's addresses: served
    host = context.pv_str("$rd")
    if domains.served(host, served_here(req), False):
        return CONTINUE
    KSR.info(f"edge: INVITE for foreign domain {host!r} refused\n")
    req.plan = CallPlan(req.plan.resolution,
                        Decision(False, domains.RULE_FOREIGN_DOMAIN, domains.REFUSAL_CODE,
                                 domains.REFUSAL_REASON))
    return CONTINUE
