"""Number resolution: which tenant and target a dialled string reaches.

Pure: works on the :class:`~edgecore.readmodel.CallData` fetched in one round
trip (or any equivalent values in tests). Precedence, first match wins:

1. ``<tenant>*<number>`` -- an explicitly tenant-qualified number, so a
   support attendant can reach any tenant's local extension;
2. a number of the caller's own tenant (its local or global ranges) -- the
   legacy 4-digit extensions keep working, and the same 7001 exists in many
   tenants without collision;
3. the global number space: the global range that contains the number names
   its owning tenant (a Redis ZSET lookup, O(log N) in the number of ranges).

A leading ``+`` (E.164 style) is ignored. Anything else that is not digits
cannot be a number of this edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgecore.readmodel import CallData, Target, Tenant

MAX_DIGITS = 15                     # ITU-T E.164
QUALIFIED = re.compile(r"^(\d{5})\*(\d{1,15})$")
DIGITS = re.compile(r"^\d{1,15}$")

# how a number was found (printed by edgectl explain)
VIA_QUALIFIED = "tenant-qualified number"
VIA_LOCAL = "number of the caller's own tenant"
VIA_GLOBAL = "global range"


@dataclass(frozen=True)
class Resolution:
    found: bool
    target: Target | None = None
    tenant: Tenant | None = None
    via: str = ""
    detail: str = ""          # e.g. the global range that matched

    @property
    def is_ring_group(self) -> bool:
        return self.target is not None and self.target.kind == "ring_group"


def normalise(dialled: str) -> str:
    """The dialled user part as looked up: leading '+' dropped, whitespace trimmed."""
    d = dialled.strip()
    if d.startswith("+"):
        d = d[1:]
    return d


def is_dialable(dialled: str) -> bool:
    d = normalise(dialled)
    return bool(DIGITS.match(d) or QUALIFIED.match(d))


def resolve(data: CallData) -> Resolution:
    """Pick the target of a call from the candidates the read model returned."""
    if data.qualified_target is not None and data.qualified_tenant is not None:
        return Resolution(True, data.qualified_target, data.qualified_tenant, VIA_QUALIFIED)
    if data.local is not None and data.caller_tenant is not None:
        return Resolution(True, data.local, data.caller_tenant, VIA_LOCAL)
    if data.global_range is not None:
        first, last, owner = data.global_range
        detail = f"{first}-{last} of tenant {owner}"
        if data.global_target is not None and data.global_tenant is not None:
            return Resolution(True, data.global_target, data.global_tenant, VIA_GLOBAL, detail)
        # the range is owned, but nothing is provisioned on that number
        return Resolution(False, None, data.global_tenant, VIA_GLOBAL, detail)
    return Resolution(False)
