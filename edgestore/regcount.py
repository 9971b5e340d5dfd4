"""Registration counts per tenant, kept in Redis as registrations change.

Why: the location table lives in each node's memory (usrloc), and the only
per-AOR view Kamailio offers over RPC is ``ul.dump``, which does not fit one
JSON-RPC reply beyond a few thousand contacts (4.6 MB at 5,000 against a
128 KB datagram): scrapes timed out and ``edgectl status`` said 0. Totals
come from usrloc's own statistics (``usrloc:location_contacts``,
``usrloc:location_users``, read by edgectl.ops); the per-tenant split comes
from here.

What: after each accepted REGISTER the registrar step (kemi/registrar.py)
notes the AOR's contacts as its node's usrloc holds them then, with their
expiry times, and the node's timer process writes the notes of each poll in
one pipelined round trip (kemi/registrations.py). Per tenant, two sorted sets scored by unix expiry time:

* ``edge:regs:<tenant>:dev`` -- member the AOR, score its last contact's
  expiry: the AOR's first contact slot, and what counts the device;
* ``edge:regs:<tenant>:ct`` -- the AOR's further slots: members ``<aor>#<k>``,
  k = 2..contacts, score the k-th contact's expiry (latest first), slots
  above the count removed. A phone with one contact -- nearly all of them --
  is one member in all (a contact count is ZCOUNT of both sets); an older
  edge wrote slot 1 here too (``<aor>#1``), which the next write of that AOR
  removes, and which expires meanwhile (until then it counts twice).

and, for the listing (``edgectl``/API ``registrations``, :func:`listing`):

* ``edge:regs:<tenant>:info`` -- hash, field the AOR, value a JSON list of
  its contacts in the same slot order, each a list of INFO_ORDER's values
  with trailing nulls left out (the expiry is the sorted set's score, never
  repeated here): one HSET in the same write, HDEL when the AOR
  has no contact left; an AOR whose contacts expired without a REGISTER
  loses its field when it falls out of ``:dev`` (:func:`counts` trims both
  in one Lua script, so a registration arriving meanwhile is never lost).

Counting is ZCOUNT from now on (O(log n), no dump); expired members need no
event, they fall out of the count by their score and are trimmed when read.
An AOR is one member whichever node saved it last (on a cluster every node's
usrloc holds every contact, DMQ), so nothing is counted twice. What this
cannot see: contacts usrloc drops early without a REGISTER (a node restarted
without cluster peers, a TCP/WebSocket connection lost) still count until
their registered expiry.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

from edgecore.regcount import NO_EXPIRY, live_contacts, stale_slots

TENANTS_KEY = "edge:regs:tenants"   # tenants that ever had a registration


def devices_key(tenant: str) -> str:
    return f"edge:regs:{tenant}:dev"


def contacts_key(tenant: str) -> str:
    return f"edge:regs:{tenant}:ct"


def info_key(tenant: str) -> str:
    return f"edge:regs:{tenant}:info"


# what the listing shows of a contact, as read from usrloc ($ulc attributes,
# registrar module docs 7.1): listing field -> $ulc attribute
CONTACT_FIELDS = {"contact": "addr", "received": "received", "user_agent": "user_agent",
                  "socket": "socket"}
# how the :info hash keeps a contact: its fields by position, the one most
# often missing (received: the phone is not behind NAT) last -- no field
# names and no expiry stored 100k times (bytes per registered device)
INFO_ORDER = ("contact", "socket", "user_agent", "received")


def encode_info(contacts: Iterable[Mapping[str, Any]]) -> str:
    """The :info value of an AOR's contacts (slot order)."""
    rows = []
    for c in contacts:
        row = [c.get(f) for f in INFO_ORDER]
        while row and row[-1] is None:
            row.pop()
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def decode_info(raw: str | None) -> list[dict[str, Any]]:
    """An :info value as the listing shows its contacts (a list of dicts:
    written so by an older edge, kept as they are)."""
    out = []
    for c in json.loads(raw or "[]"):
        out.append(c if isinstance(c, dict) else dict(zip(INFO_ORDER, c)))
    return out


def record(pipe: Any, tenant: str, aor: str, contacts: Iterable[Mapping[str, Any]],
           max_contacts: int, now: float) -> None:
    """Queue on ``pipe`` the writes that make ``aor`` count and list with the
    given contacts: :func:`record_many` for one AOR."""
    record_many(pipe, [(tenant, aor, contacts)], max_contacts, now)


def record_many(pipe: Any, notes: Iterable[tuple[str, str, Iterable[Mapping[str, Any]]]],
                max_contacts: int, now: float) -> None:
    """Queue on ``pipe`` the writes that make each noted AOR count and list
    with its contacts -- ``(tenant, aor, contacts)``, each AOR once;
    ``expires``: unix time, 0 permanent; the CONTACT_FIELDS; none:
    unregistered -- grouped by tenant: five commands at most per tenant,
    whatever number of its AORs a poll noted (redis-py's work is per
    command: one poll's notes cost the timer process a fraction of what a
    few commands per AOR did). ``max_contacts``: the registrar's limit (RFC
    3261 10.3 step 6 leaves it to the registrar; registrar module's
    max_contacts), the slots that may need clearing."""
    groups: dict[str, _TenantWrites] = {}
    for tenant, aor, contacts in notes:
        g = groups.get(tenant)
        if g is None:
            g = groups[tenant] = _TenantWrites()
        shown = live_contacts(contacts, now)
        live = [c["expires"] for c in shown]
        if live:
            g.dev[aor] = live[0]
            for k, e in enumerate(live[1:], 2):
                g.ct[f"{aor}#{k}"] = e
            g.info[aor] = encode_info(shown)
        else:
            g.gone.append(aor)
        # slot 1 lives in :dev (an older edge's ``#1`` member goes), and the
        # slots above the count: named by the script from the range's ends
        stale = stale_slots(len(live), max_contacts)
        g.stale += (aor, stale.start, stale.stop - 1)
    if not groups:
        return
    clear = pipe.register_script(_CLEAR_SLOTS)
    pipe.sadd(TENANTS_KEY, *groups)
    for tenant, g in groups.items():
        if g.dev:
            pipe.zadd(devices_key(tenant), g.dev)
        if g.ct:
            pipe.zadd(contacts_key(tenant), g.ct)
        if g.info:
            pipe.hset(info_key(tenant), mapping=g.info)
        if g.gone:
            pipe.zrem(devices_key(tenant), *g.gone)
            pipe.hdel(info_key(tenant), *g.gone)
        clear(keys=[contacts_key(tenant)], args=g.stale, client=pipe)


# ARGV: (aor, first, last) per AOR -> ZREM of <aor>#1 and <aor>#first..#last:
# three arguments per AOR instead of a member name per slot (redis-py's cost
# is per argument; a one-contact phone under a limit of 10 had 10)
_CLEAR_SLOTS = """
local gone = {}
for i = 1, #ARGV, 3 do
  local aor = ARGV[i]
  gone[#gone + 1] = aor .. '#1'
  for k = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]) do
    if k ~= 1 then gone[#gone + 1] = aor .. '#' .. k end
  end
  if #gone > 4000 then
    redis.call('ZREM', KEYS[1], unpack(gone))
    gone = {}
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return 0
"""


class _TenantWrites:
    """One tenant's share of a batch of notes."""

    __slots__ = ("dev", "ct", "info", "gone", "stale")

    def __init__(self) -> None:
        self.dev: dict[str, float] = {}
        self.ct: dict[str, float] = {}
        self.info: dict[str, str] = {}
        self.gone: list[str] = []
        self.stale: list[object] = []          # (aor, first, last) of each AOR's stale slots


def counts(client: Any, now: float) -> tuple[dict[str, int], dict[str, int]]:
    """(contacts, registered devices) per tenant with any, as of ``now``;
    expired members are trimmed on the way (two round trips in all)."""
    tenants = sorted(str(t) for t in client.smembers(TENANTS_KEY))
    if not tenants:
        return {}, {}
    trim = client.register_script(_TRIM_DEVICES)
    pipe = client.pipeline(transaction=False)
    for t in tenants:
        pipe.zremrangebyscore(contacts_key(t), "-inf", now)
        pipe.zcard(contacts_key(t))
        trim(keys=[devices_key(t), info_key(t)], args=[now], client=pipe)
        pipe.zcard(devices_key(t))
    res = pipe.execute()
    contacts, devices = {}, {}
    for i, t in enumerate(tenants):
        d = int(res[4 * i + 3])
        c = int(res[4 * i + 1]) + d        # slot 1 of each AOR is its :dev member
        if c:
            contacts[t] = c
        if d:
            devices[t] = d
    return contacts, devices


# the AORs expired from a tenant's :dev set leave it and the :info hash
# together, atomically (a REGISTER in between would otherwise lose its info)
_TRIM_DEVICES = """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 5000)
for _, aor in ipairs(gone) do
  redis.call('ZREM', KEYS[1], aor)
  redis.call('HDEL', KEYS[2], aor)
end
return #gone
"""


def _slot(member: str) -> tuple[str, int]:
    aor, _, k = member.rpartition("#")
    return aor, int(k) if k.isdigit() else 0


def _order(member: str) -> tuple[str, int]:
    aor, k = _slot(member)
    return aor.partition("@")[0], k


def listing(client: Any, tenant: str, now: float, offset: int = 0, limit: int | None = None,
            prefix: str = "") -> tuple[int, list[dict[str, Any]]]:
    """(total, one page) of a tenant's live contacts, by extension then
    slot (latest expiry first), extensions starting with ``prefix``: the
    ZRANGEBYSCOREs of the tenant's two sorted sets (one round trip) and one
    HMGET of the page's AORs, whatever the other tenants hold. ``expires``:
    seconds left (None: permanent). A page that cannot hold any of the
    tenant's contacts costs two ZCOUNTs in one round trip (a listing of every
    tenant skips whole tenants so)."""
    live = f"({now}"
    if not prefix and (limit == 0 or offset > 0):
        pipe = client.pipeline(transaction=False)
        pipe.zcount(devices_key(tenant), live, "+inf")
        pipe.zcount(contacts_key(tenant), live, "+inf")
        n = sum(int(x) for x in pipe.execute())
        if limit == 0 or offset >= n:
            return n, []
    pipe = client.pipeline(transaction=False)
    pipe.zrangebyscore(contacts_key(tenant), live, "+inf", withscores=True)
    pipe.zrangebyscore(devices_key(tenant), live, "+inf", withscores=True)
    more, firsts = pipe.execute()
    scored = {str(m): float(e) for m, e in more}
    scored.update((f"{m}#1", float(e)) for m, e in firsts)     # over an older edge's #1
    members = sorted(((m, e) for m, e in scored.items() if m.startswith(prefix)),
                     key=lambda me: _order(me[0]))
    page = members[offset:None if limit is None else offset + limit]
    aors = sorted({_slot(m)[0] for m, _ in page})
    infos = dict(zip(aors, client.hmget(info_key(tenant), aors))) if aors else {}
    out = []
    for m, exp in page:
        aor, k = _slot(m)
        try:
            c = decode_info(infos.get(aor))[k - 1]
        except (IndexError, ValueError):
            c = {}              # counted before its info was kept (an older edge): no details
        out.append({"extension": aor.partition("@")[0],
                    **{f: c.get(f) for f in CONTACT_FIELDS},
                    "expires": None if exp >= NO_EXPIRY else max(0, int(exp - now))})
    return len(members), out


def online(client: Any, tenant: str, now: float) -> int:
    """Devices of the tenant with a live contact (ZCOUNT)."""
    return int(client.zcount(devices_key(tenant), f"({now}", "+inf"))
