"""Registration counts per tenant (edgestore.regcount): after a REGISTER is
accepted, its AOR and tenant are noted in the node's ``edgeregq`` htable
(kamailio/core.cfg) -- one item per AOR, a later note replacing an earlier
one -- and the node's timer process (kemi/poller.py, every ``cache.poll_ms``)
reads each noted AOR's contacts as usrloc then holds them (registrar
reg_fetch_contacts / $ulc, shared memory, no I/O) and writes them to Redis
in one pipelined round trip, so `/metrics` and `edgectl status` count
registrations, and the API lists a tenant's, without dumping the location
table. A SIP worker pays one htable set per accepted REGISTER: no Redis
round trip (that write was once the largest step of a registration in the
step profile, edgecore/stepprofile.py), and no reading of the contacts back
(the next largest: ~25 us per REGISTER in Python, now the timer's, once
per AOR per poll however often it registered). Counts and listing lag the
registrar by at most one poll interval."""

from __future__ import annotations

import time

import KSR

from edgestore import regcount
from kemi import context, htqueue
from kemi.ksrconst import LOCATION

PROFILE = "edgereg"     # $ulc profile (registrar module docs, 7.1)
QUEUE = "edgeregq"      # htable of notes not yet written (kamailio/core.cfg)
ITERATOR = "edgeregq"   # htable iterator name (htable README: sht_iterator_start)


def note(tenant: str, aor: str) -> None:
    """Called once the REGISTER was answered (save replied): the AOR (key,
    without ``sip:``) and its tenant (value) queued for the timer."""
    KSR.htable.sht_sets(QUEUE, aor.removeprefix("sip:"), tenant)


def flush() -> int:
    """Timer process: every note queued since the last flush, taken out of
    the table (each removed under its slot's lock as it is read, so a note
    written meanwhile is never lost) and written in one pipelined round
    trip. Redis down: those notes are dropped (the AOR's next REGISTER
    notes it again). Returns notes taken."""
    notes = htqueue.drain(QUEUE, ITERATOR)
    if not notes:
        return 0
    w = context.worker()
    now, slots = time.time(), w.cfg.sip.max_contacts
    read = []
    for member, tenant in notes:
        try:
            read.append((tenant, member, _contacts("sip:" + member)))
        except (TypeError, ValueError) as exc:
            KSR.warn(f"edge: registration count of {member} not updated: {exc}\n")
    try:
        pipe = w.redis.pipeline(transaction=False)
        regcount.record_many(pipe, read, slots, now)
        pipe.execute()
    except Exception as exc:          # Redis down: best effort, nothing waits on it
        KSR.warn(f"edge: {len(notes)} registration counts not written: {exc}\n")
    return len(notes)


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
