"""What the edge tells an Asterisk pool member about a call, in SIP headers.

Members are tenant-agnostic: one generic dialplan (asterisk-pool/) reads these
headers and needs no per-tenant configuration. Pure: the clock is passed in.

Which calls go to the pool (:func:`needs_pool`): ring-group calls, and calls
where the caller's or the callee's tenant records (on by default, as on the
legacy servers). The member rings the targets back through the edge by their
tenant-qualified numbers (``<tenant>*<number>``), which resolve without a
caller; the edge trusts those legs by the member's source address.

Also decided here, for kemi/pool.py: how long the member may ring in all
(:func:`ring_total`, bounded by the edge's own INVITE timer), and whether a
failed pool call is the member's own failure -- fail over to the next member
-- or the callee's answer relayed by a healthy member (:func:`member_failed`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from edgecore import identity
from edgecore.numbering import Resolution
from edgecore.readmodel import Device, Tenant

# Headers the edge sends; asterisk-pool/extensions.conf reads exactly these
# (tests/unit/test_asterisk_pool.py checks both directions).
H_TENANT = "X-Edge-Tenant"              # tenant the call belongs to (the callee's)
H_CALLER_TENANT = "X-Edge-Caller-Tenant"
H_KIND = "X-Edge-Kind"                  # internal | rg
H_CALLER = "X-Edge-Caller"              # caller's extension (the recording's name)
H_CALLER_ID = "X-Edge-Caller-Id"        # the caller as the callee sees it (edgecore/identity.py)
H_CALLER_NAME = "X-Edge-Caller-Name"    # the caller's display name ("" when none)
H_DEST = "X-Edge-Dest"                  # dialled number as resolved in its tenant
H_TARGETS = "X-Edge-Targets"            # comma-separated tenant-qualified numbers
H_STRATEGY = "X-Edge-Strategy"          # ringall | sequential
H_TIMEOUT = "X-Edge-Ring-Timeout"       # seconds each target rings
H_RING_TOTAL = "X-Edge-Ring-Total"      # seconds the member may ring in all
H_RECORD = "X-Edge-Record"              # the recording's whole file name, or "no"
H_CALL = "X-Edge-Call"                  # the edge's Call-ID: joins the member's CDR
ALL_HEADERS = (H_TENANT, H_CALLER_TENANT, H_KIND, H_CALLER, H_DEST, H_TARGETS, H_STRATEGY,
               H_TIMEOUT, H_RING_TOTAL, H_RECORD, H_CALL, H_CALLER_ID, H_CALLER_NAME)
PREFIX = "X-Edge-"                      # stripped from everything not from a member

KIND_INTERNAL = "internal"
KIND_RING_GROUP = "rg"
DEFAULT_RING_TIMEOUT = 30
STRATEGY_RINGALL, STRATEGY_SEQUENTIAL = "ringall", "sequential"

# The member's ring plan ends this many seconds before the edge's INVITE
# timer (tm fr_inv_timer = sip.ring_timeout) would cancel it, so the member's
# own final reply (480 after NOANSWER) reaches the edge first.
RING_MARGIN = 2

# A member "failed" with these final replies (RFC 3261 21.5.1 500 Server
# Internal Error, 21.5.4 503 Service Unavailable) -- unless they carry a
# callee's cause, see member_failed.
MEMBER_DOWN_CODES = (500, 503)

# RFC 3326 Reason header: protocol "Q.850" with a cause parameter (ITU-T
# Q.850 cause value 1-127).
_Q850 = re.compile(r"^\s*Q\.850\s*;(?:.*;)?\s*cause\s*=\s*(\d{1,3})\b", re.I)


def qualified(tenant: str, number: str) -> str:
    """The number a member dials to reach a tenant's number through the edge."""
    return f"{tenant}*{number}"


def needs_pool(res: Resolution, caller_tenant: Tenant) -> bool:
    if res.target is None or res.tenant is None:
        return False
    return res.is_ring_group or caller_tenant.recording or res.tenant.recording


def recording_required(res: Resolution, caller_tenant: Tenant) -> bool:
    """A call that must not connect unrecorded: either tenant requires it."""
    return caller_tenant.recording_required or bool(res.tenant and res.tenant.recording_required)


def record_prefix(record_dir: str, kind: str, caller: str, dest: str, now: datetime) -> str:
    """Legacy layout /monitor/YYYY/MM/DD/{internal|rg}-{caller}-{dest}-{timestamp}.
    The date is UTC, as is the timestamp."""
    t = now.astimezone(timezone.utc)
    return (f"{record_dir.rstrip('/')}/{t:%Y/%m/%d}/{kind}-{caller}-{dest}-"
            f"{int(t.timestamp())}")


# The recording id: the legacy servers used Asterisk's UNIQUEID
# (<epoch>.<counter>), but every member's counter starts at 0, so two members
# (or one restarted) give two calls in the same second the same name and one
# recording is overwritten. The edge names the file instead: <epoch>.<token>,
# a random 48-bit token drawn per call -- the legacy id's shape (digits and
# one dot, no '-' to break parsers splitting the name on '-'), unique across
# members and restarts (a collision needs two equal 48-bit draws in one second).
RECORD_TOKEN_BITS = 48


def record_id(now: datetime, token: int) -> str:
    return f"{int(now.timestamp())}.{token}"


def record_file(record_dir: str, kind: str, caller: str, dest: str, now: datetime,
                token: int) -> str:
    """The recording's whole file name, in the legacy layout
    /monitor/YYYY/MM/DD/{internal|rg}-{caller}-{dest}-{timestamp}-{id}.wav;
    the member records into exactly this file (and the edge's CDR names it)."""
    return f"{record_prefix(record_dir, kind, caller, dest, now)}-{record_id(now, token)}.wav"


def ring_total(strategy: str, targets: int, per_target: int, ring_timeout: int) -> int:
    """Seconds a member may ring a call's targets in all: one round for
    ringall, one turn each for sequential -- never longer than the edge's
    INVITE timer (``ring_timeout``) less RING_MARGIN, and at least 1 s. The
    dialplan stops ringing at this bound (a sequential group whose turns add
    up to more rings fewer targets) and answers the caller 480."""
    plan = per_target * (max(targets, 1) if strategy == STRATEGY_SEQUENTIAL else 1)
    return max(1, min(plan, ring_timeout - RING_MARGIN))


def q850_cause(reason: str | None) -> int | None:
    """The Q.850 cause of a Reason header's value (RFC 3326 section 2; several
    comma-separated reasons allowed), e.g. 'Q.850;cause=17;text="busy"' -> 17;
    None without one."""
    for value in (reason or "").split(","):
        m = _Q850.match(value)
        if m:
            return int(m.group(1))
    return None


def member_failed(code: int, silent: bool, reason: str | None) -> bool:
    """A pool call's failure is the member's own -- mark it down, try the
    next member -- when the member sent nothing in time, or refused the call
    500/503 *itself*: Asterisk (res_pjsip_rfc3326) puts a ``Reason: Q.850``
    on every final reply of a call that reached its dialplan, so a 500/503
    with a Q.850 cause is a healthy member relaying how ringing the callee
    ended (another member would ring the same callee through the same edge).
    A member overloaded or shutting down refuses before any channel exists:
    no Reason."""
    if silent:
        return True
    return code in MEMBER_DOWN_CODES and q850_cause(reason) is None


@dataclass(frozen=True)
class PoolCall:
    kind: str
    headers: tuple[tuple[str, str], ...]

    def lines(self) -> list[str]:
        return [f"{k}: {v}" for k, v in self.headers]

    @property
    def record(self) -> str:
        """The recording's file name, or "no"."""
        return dict(self.headers).get(H_RECORD, "no")


def pool_call(res: Resolution, caller: Device, caller_tenant: Tenant, now: datetime,
              record_dir: str, ring_timeout: int, call_id: str = "",
              record_token: int = 0) -> PoolCall:
    """The headers of a call sent to a member; ``ring_timeout`` is the edge's
    INVITE timer (sip.ring_timeout), which bounds the member's ringing;
    ``call_id`` the edge's Call-ID (the member's CDR keeps it: the join key
    with edge_cdr); ``record_token`` the recording id's random part."""
    target, tenant = res.target, res.tenant
    assert target is not None and tenant is not None
    if res.is_ring_group:
        kind = KIND_RING_GROUP
        targets = [qualified(tenant.id, m) for m in target.members]
        strategy = target.strategy or STRATEGY_RINGALL
        timeout = target.ring_timeout or DEFAULT_RING_TIMEOUT
    else:
        kind = KIND_INTERNAL
        targets = [qualified(tenant.id, target.number)]
        strategy = STRATEGY_RINGALL
        timeout = DEFAULT_RING_TIMEOUT
    who = identity.presented(caller_tenant.id, caller.extension, caller.name, tenant.id,
                             caller.global_number)
    record = caller_tenant.recording or tenant.recording
    rec = record_file(record_dir, kind, caller.extension, target.number, now, record_token) \
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
        (H_RING_TOTAL, str(ring_total(strategy, len(targets), timeout, ring_timeout))),
        (H_RECORD, rec),
        (H_CALL, call_id),
        (H_CALLER_ID, who.number),
        (H_CALLER_NAME, who.name),
    ))
