"""What the edge tells an Asterisk pool member about a call, in SIP headers.

Members are tenant-agnostic: one generic dialplan (asterisk-pool/) reads these
headers and needs no per-tenant configuration. Pure: the clock is passed in.

Which calls go to the pool (:func:`needs_pool`): ring-group calls, and calls
where the caller's or the callee's tenant records (on by default, as on the
legacy servers). The member rings the targets back through the edge by their
tenant-qualified numbers (``<tenant>*<number>``), which resolve without a
caller; the edge trusts those legs by the member's source address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from edgecore.numbering import Resolution
from edgecore.readmodel import Device, Tenant

# Headers the edge sends; asterisk-pool/extensions.conf reads exactly these
# (tests/unit/test_asterisk_pool.py checks both directions).
H_TENANT = "X-Edge-Tenant"              # tenant the call belongs to (the callee's)
H_CALLER_TENANT = "X-Edge-Caller-Tenant"
H_KIND = "X-Edge-Kind"                  # internal | rg
H_CALLER = "X-Edge-Caller"              # caller's extension
H_DEST = "X-Edge-Dest"                  # dialled number as resolved in its tenant
H_TARGETS = "X-Edge-Targets"            # comma-separated tenant-qualified numbers
H_STRATEGY = "X-Edge-Strategy"          # ringall | sequential
H_TIMEOUT = "X-Edge-Ring-Timeout"       # seconds
H_RECORD = "X-Edge-Record"              # file path prefix, or "no"
ALL_HEADERS = (H_TENANT, H_CALLER_TENANT, H_KIND, H_CALLER, H_DEST, H_TARGETS, H_STRATEGY,
               H_TIMEOUT, H_RECORD)
PREFIX = "X-Edge-"                      # stripped from everything not from a member

KIND_INTERNAL = "internal"
KIND_RING_GROUP = "rg"
DEFAULT_RING_TIMEOUT = 30


def qualified(tenant: str, number: str) -> str:
    """The number a member dials to reach a tenant's number through the edge."""
    return f"{tenant}*{number}"


def needs_pool(res: Resolution, caller_tenant: Tenant) -> bool:
    if res.target is None or res.tenant is None:
        return False
    return res.is_ring_group or caller_tenant.recording or res.tenant.recording


def record_prefix(record_dir: str, kind: str, caller: str, dest: str, now: datetime) -> str:
    """Legacy layout /monitor/YYYY/MM/DD/{internal|rg}-{caller}-{dest}-{timestamp};
    the member appends -${UNIQUEID}.wav. The date is UTC, as is the timestamp."""
    t = now.astimezone(timezone.utc)
    return (f"{record_dir.rstrip('/')}/{t:%Y/%m/%d}/{kind}-{caller}-{dest}-"
            f"{int(t.timestamp())}")


@dataclass(frozen=True)
class PoolCall:
    kind: str
    headers: tuple[tuple[str, str], ...]

    def lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.headers]

    @property
    def record(self) -> str:
        """The recording's path prefix the member completes with
        ``<uniqueid>.wav``, or "no"."""
        return dict(self.headers).get(H_RECORD, "no")


def pool_call(res: Resolution, caller: Device, caller_tenant: Tenant, now: datetime,
              record_dir: str) -> PoolCall:
    target, tenant = res.target, res.tenant
    assert target is not None and tenant is not None
    if res.is_ring_group:
        kind = KIND_RING_GROUP
        targets = [qualified(tenant.id, m) for m in target.members]
        strategy = target.strategy or "ringall"
        timeout = target.ring_timeout or DEFAULT_RING_TIMEOUT
    else:
        kind = KIND_INTERNAL
        targets = [qualified(tenant.id, target.number)]
        strategy = "ringall"
        timeout = DEFAULT_RING_TIMEOUT
    record = caller_tenant.recording or tenant.recording
    rec = record_prefix(record_dir, kind, caller.extension, target.number, now) \
        if record else "no"
    return PoolCall(kind, (
        (H_TENANT, tenant.id),
        (H_CALLER_TENANT, caller_tenant.id),
        (H_KIND, kind),
        (H_CALLER, caller.extension),
        (H_DEST, target.number),
        (H_TARGETS, ",".join(targets)),
        (H_STRATEGY, strategy),
        (H_TIMEOUT, str(timeout)),
        (H_RECORD, rec),
    ))
