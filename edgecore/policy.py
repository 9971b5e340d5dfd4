"""The dialing policy of the legacy dialplan, as data-driven rules.

Pure: a function of the caller's tenant, the callee's tenant and the caller
tenant's exception set. Rules, first match wins (seed survey, "Regras de
Discagem"):

1. a tenant with global access (support tenants 00001/00002) may call anyone;
2. same tenant: allowed;
3. an explicit exception from the caller's tenant to the callee's: allowed;
4. anything else: blocked, ``403`` with a reason phrase naming the block.

:func:`plan_call` adds the replies that precede the policy: an unknown number
is ``404``, a string that cannot be a number ``484``.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgecore.numbering import Resolution, is_dialable, resolve
from edgecore.readmodel import CallData, Tenant

RULE_GLOBAL = "global-access"
RULE_SAME = "same-tenant"
RULE_EXCEPTION = "exception"
RULE_BLOCK = "cross-tenant-block"
RULE_UNKNOWN = "unknown-number"
RULE_MALFORMED = "not-a-number"
RULE_NO_CALLER = "unknown-caller"
RULE_POOL_LEG = "pool-member-leg"        # a media pool member rings a device back

# RFC 3261 21.4.4: 403 Forbidden; the phrase tells the caller why
REASON_BLOCK = "Forbidden - Cross-Tenant Call Blocked"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    code: int = 0           # SIP reply to send when not allowed
    reason: str = ""


def decide(caller: Tenant, callee_tenant: str, exceptions: frozenset[str]) -> Decision:
    if caller.global_access:
        return Decision(True, RULE_GLOBAL)
    if caller.id == callee_tenant:
        return Decision(True, RULE_SAME)
    if callee_tenant in exceptions:
        return Decision(True, RULE_EXCEPTION)
    return Decision(False, RULE_BLOCK, 403, REASON_BLOCK)


@dataclass(frozen=True)
class CallPlan:
    resolution: Resolution
    decision: Decision


def plan_call(data: CallData, dialled: str) -> CallPlan:
    """Resolution then policy for one call; the whole decision of the edge."""
    if data.caller is None or data.caller_tenant is None:
        return CallPlan(Resolution(False), Decision(False, RULE_NO_CALLER, 403, "Forbidden"))
    if not is_dialable(dialled):
        return CallPlan(Resolution(False),
                        Decision(False, RULE_MALFORMED, 484, "Address Incomplete"))
    res = resolve(data)
    if not res.found or res.tenant is None:
        return CallPlan(res, Decision(False, RULE_UNKNOWN, 404, "Not Found"))
    return CallPlan(res, decide(data.caller_tenant, res.tenant.id, data.exceptions))
