"""Notes that SIP workers leave in a Kamailio htable (shared memory, no I/O)
for the node's timer process to write to Redis, all of a poll's in one
pipelined round trip (kemi/poller.py): the registration counts
(kemi/registrations.py) and the trust of an identity at an address
(kemi/security.py)."""

from __future__ import annotations

import KSR


def drain(table: str, iterator: str) -> list[tuple[str, str]]:
    """Every note in ``table`` (key, value), taken out of it: each removed
    under its slot's lock as it is read, so a note written meanwhile is
    never lost."""
    notes: list[tuple[str, str]] = []
    if KSR.htable.sht_iterator_start(iterator, table) < 0:
        return notes
    try:
        while KSR.htable.sht_iterator_next(iterator) > 0:
            member = KSR.pv.get(f"$shtitkey({iterator})")
            if member is None:          # no current item: the end, whatever next() said
                break
            value = KSR.pv.get(f"$shtitval({iterator})")
            KSR.htable.sht_iterator_rm(iterator)
            if value is not None:
                notes.append((str(member), str(value)))
    finally:
        KSR.htable.sht_iterator_end(iterator)
    return notes
