"""Registration counts per tenant (edgestore.regcount): after a REGISTER is
accepted, the AOR's contacts as this node's usrloc now holds them (registrar
reg_fetch_contacts / $ulc, no I/O) are recorded in Redis by a deferred
write, sent in the request's one pipelined round trip after the reply
(kemi.context.Worker.defer), so `/metrics` and `edgectl status` count
registrations, and the API lists a tenant's, without dumping the location
table."""

from __future__ import annotations

import time

import KSR

from edgestore import regcount
from kemi import context
from kemi.ksrconst import LOCATION

PROFILE = "edgereg"     # $ulc profile (registrar module docs, 7.1)


def note(tenant: str, aor: str) -> None:
    """Called once the REGISTER was answered (save replied): whatever goes
    wrong here costs a count, never a second reply."""
    try:
        contacts = _contacts(aor)
    except (TypeError, ValueError) as exc:
        KSR.warn(f"edge: registration count of {aor} not updated: {exc}\n")
        return
    w = context.worker()
    member, slots, now = aor.removeprefix("sip:"), w.cfg.sip.max_contacts, time.time()
    w.defer(lambda pipe: regcount.record(pipe, tenant, member, contacts, slots, now))


def _contacts(aor: str) -> list[dict[str, object]]:
    """The AOR's contacts in this node's usrloc, with their expiry times and
    what the registrations listing shows (none: it has none left)."""
    if KSR.registrar.reg_fetch_contacts(LOCATION, aor, PROFILE) <= 0:
        return []
    try:
        n = int(KSR.pv.get(f"$(ulc({PROFILE}=>count))") or 0)
        return [{"expires": int(KSR.pv.get(f"$(ulc({PROFILE}=>expires)[{i}])") or 0),
                 **{f: _text(f"$(ulc({PROFILE}=>{attr})[{i}])")
                    for f, attr in regcount.CONTACT_FIELDS.items()}}
                for i in range(n)]
    finally:
        KSR.registrar.reg_free_contacts(PROFILE)


def _text(spec: str) -> str | None:
    v = KSR.pv.get(spec)
    return None if v in (None, "", "[not set]") else str(v)
