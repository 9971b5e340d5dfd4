"""Registration counts: which of an AOR's contacts count, and in which order,
and which of its count slots a registration leaves empty. Pure; the sorted
sets that hold the counts in Redis are :mod:`edgestore.regcount`'s.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

NO_EXPIRY = 2 ** 31 - 1             # usrloc expires 0: a permanent contact (ul.add)
UNLIMITED_SLOTS = 100               # slots cleared when max_contacts is 0 (registrar: no limit)


def live_contacts(contacts: Iterable[Mapping[str, Any]], now: float) -> list[dict[str, Any]]:
    """The contacts still registered at ``now``, latest expiry first; a
    permanent one (``expires`` 0 or absent) expires at NO_EXPIRY."""
    shown = [{**c, "expires": NO_EXPIRY if not c.get("expires") else float(c["expires"])}
             for c in contacts]
    return sorted((c for c in shown if c["expires"] > now), key=lambda c: -c["expires"])


def stale_slots(live: int, max_contacts: int) -> range:
    """Slots (1-based) an AOR with ``live`` contacts leaves empty, up to the
    most it may have had: the registrar's limit (RFC 3261 10.3 step 6 leaves
    it to the registrar; registrar module's max_contacts), UNLIMITED_SLOTS
    when it has none."""
    return range(live + 1, max(max_contacts or UNLIMITED_SLOTS, live) + 1)
