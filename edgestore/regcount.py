"""Registration counts per tenant, kept in Redis as registrations change.

Why: the location table lives in each node's memory (usrloc), and the only
per-AOR view Kamailio offers over RPC is ``ul.dump``, which does not fit one
JSON-RPC reply beyond a few thousand contacts (4.6 MB at 5,000 against a
128 KB datagram): scrapes timed out and ``edgectl status`` said 0. Totals
come from usrloc's own statistics (``usrloc:location_contacts``,
``usrloc:location_users``, read by edgectl.ops); the per-tenant split comes
from here.

What: after each accepted REGISTER the registrar step (kemi/registrar.py)
records the AOR's contacts as its node's usrloc holds them then, with their
expiry times, in one deferred pipelined write (kemi.context.Worker.defer, sent
after the reply). Per tenant, two sorted sets scored by unix expiry time:

* ``edge:regs:<tenant>:dev`` -- member the AOR, score its last contact's expiry;
* ``edge:regs:<tenant>:ct`` -- members ``<aor>#<k>``, k = 1..contacts, score
  the k-th contact's expiry (latest first), slots above the count removed.

Counting is ZCOUNT from now on (O(log n), no dump); expired members need no
event, they fall out of the count by their score and are trimmed when read.
An AOR is one member whichever node saved it last (on a cluster every node's
usrloc holds every contact, DMQ), so nothing is counted twice. What this
cannot see: contacts usrloc drops early without a REGISTER (a node restarted
without cluster peers, a TCP/WebSocket connection lost) still count until
their registered expiry.
"""

from __future__ import annotations

from typing import Any, Iterable

TENANTS_KEY = "edge:regs:tenants"   # tenants that ever had a registration
NO_EXPIRY = 2 ** 31 - 1             # usrloc expires 0: a permanent contact (ul.add)
UNLIMITED_SLOTS = 100               # slots cleared when max_contacts is 0 (registrar: no limit)


def devices_key(tenant: str) -> str:
    return f"edge:regs:{tenant}:dev"


def contacts_key(tenant: str) -> str:
    return f"edge:regs:{tenant}:ct"


def record(pipe: Any, tenant: str, aor: str, expiries: Iterable[float], max_contacts: int,
           now: float) -> None:
    """Queue on ``pipe`` the writes that make ``aor`` count with the contacts
    whose expiry times are given (none: unregistered). ``max_contacts``:
    the registrar's limit (RFC 3261 10.3 step 6 leaves it to the registrar;
    registrar module's max_contacts), the slots that may need clearing."""
    live = sorted((NO_EXPIRY if e == 0 else float(e) for e in expiries), reverse=True)
    live = [e for e in live if e > now]
    pipe.sadd(TENANTS_KEY, tenant)
    if live:
        pipe.zadd(devices_key(tenant), {aor: live[0]})
        pipe.zadd(contacts_key(tenant), {f"{aor}#{k}": e for k, e in enumerate(live, 1)})
    else:
        pipe.zrem(devices_key(tenant), aor)
    top = max(max_contacts or UNLIMITED_SLOTS, len(live))
    stale = [f"{aor}#{k}" for k in range(len(live) + 1, top + 1)]
    if stale:
        pipe.zrem(contacts_key(tenant), *stale)


def counts(client: Any, now: float) -> tuple[dict[str, int], dict[str, int]]:
    """(contacts, registered devices) per tenant with any, as of ``now``;
    expired members are trimmed on the way (two round trips in all)."""
    tenants = sorted(str(t) for t in client.smembers(TENANTS_KEY))
    if not tenants:
        return {}, {}
    pipe = client.pipeline(transaction=False)
    for t in tenants:
        for key in (contacts_key(t), devices_key(t)):
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
    res = pipe.execute()
    contacts, devices = {}, {}
    for i, t in enumerate(tenants):
        c, d = int(res[4 * i + 1]), int(res[4 * i + 3])
        if c:
            contacts[t] = c
        if d:
            devices[t] = d
    return contacts, devices
