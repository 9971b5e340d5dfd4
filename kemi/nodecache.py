"""The node-wide device cache: every device of the read model in the node's
shared memory (Kamailio htable ``edgecache``, kamailio/core.cfg), so that the
first REGISTER of a device on a node -- a node just restarted by ops --
costs no Redis round trip. The node's timer process (kemi/poller.py) owns
it: it fills it in bulk and invalidates it per tenant; the workers only
read it (kemi/context.py ``Worker._node_device``).

Entries:
    d:<authuser lowercased>  "<tag>|<packed device>"   (readmodel Device.pack)
    t:<tenant>               "<tag>|<tenant json>"
A device entry answers only while its tenant's entry carries the same tag:
the node cache version (``$shv(edge_cache)``) at which the tenant was
fetched, device records and tenant record in one FCALL. A tenant's tag
changes with every fetch (the version does between any two), so removing a
tenant's entry makes every device entry of that tenant stale at once.

Invalidation, before the poller publishes a new cache version (so that no
worker refills its own cache from a stale node entry under the new one):
the tenants the read model recorded as changed since the last look
(edgestore ``changes_since``, edge.lua ``edge_changed``) lose their ``t:``
entry and are fetched again; a password change or a removed device in
tenant X re-fetches X's devices only. What is not recorded per tenant -- a
new generation or epoch (a full rebuild), a version counter that went back,
a writer that records no tenants, a table emptied from outside -- resets
the whole table.

Fill: the tenants pending (all of them after a reset), a chunk of about
CHUNK_DEVICES devices per FCALL (``edge_tenant_devices``), within half a
poll interval per poll so the version watch stays prompt; the devices a
tenant no longer has are removed. ``$shv(edge_fill)``: tenants still to
fetch (0: every device is in the table; -1: not started).

Only devices of the read model are ever kept: an unknown identity never
fills shared memory. A device not (yet) in the table costs its worker one
FCALL, as before; Redis unreachable is answered 503 before any lookup
(edgecore/cache.py).
"""

from __future__ import annotations

import itertools
from time import monotonic
from typing import Any

import KSR

from edgecore import cache
from edgecore import readmodel as rm
from edgestore import readmodel as rmstore

TABLE = "edgecache"
FILL = "$shv(edge_fill)"
# written with every reset: a table emptied from outside (`kamcmd htable.flush
# edgecache`, `make bench` measuring what the cache costs) is filled again
SENTINEL = "~"
CHUNK_DEVICES = 2000


class _State:
    def __init__(self) -> None:
        self.source: tuple[object, int] | None = None   # (epoch, generation) filled from
        self.since = -1                                 # version whose changes are handled
        self.listed = False                             # the tenant list was read
        self.pending: dict[str, None] = {}              # tenants to fetch, in order
        self.devices: dict[str, tuple[str, ...]] = {}   # tenant -> its d: keys here
        self.per_tenant = 50.0                          # devices per tenant, running mean
        self.failing = False


_s = _State()


def invalidate(client: Any, gen: int, epoch: object, version: int) -> None:
    """Make stale what the model's change to ``version`` changed (called
    before the cache version for it is published)."""
    if _s.source != (epoch, gen) or KSR.htable.sht_get(TABLE, SENTINEL) is None:
        reset(gen, epoch, version)
        return
    if version == _s.since:
        return
    try:
        changes = rmstore.changes_since(client, gen, _s.since)
    except Exception as exc:                    # what changed is unknown: all of it
        KSR.warn(f"edge: node cache: changes not read ({exc!r}); resetting\n")
        reset(gen, epoch, version)
        return
    tenants = cache.tenants_to_refetch(changes, version)
    if tenants is None:
        reset(gen, epoch, version)
        return
    for t in tenants:
        KSR.htable.sht_rm(TABLE, "t:" + t)
        _s.pending[t] = None
    _s.since = changes[cache.ANY_CHANGE]
    _publish()


def forget() -> None:
    """What this process knows of the table's source is void: the next
    invalidate() empties it (kemi/poller.py: a renewed Redis connection)."""
    _s.source = None


def reset(gen: int, epoch: object, version: int) -> None:
    """Empty the table; every tenant is fetched again."""
    KSR.htable.sht_reset(TABLE)
    KSR.htable.sht_sets(TABLE, SENTINEL, "1")
    _s.source, _s.since, _s.listed = (epoch, gen), version, False
    _s.pending.clear()
    _s.devices.clear()
    _publish()


def fill(client: Any, tag: int, budget: float) -> None:
    """Fetch pending tenants for up to ``budget`` seconds, tagging them ``tag``
    (the cache version now published)."""
    if _s.source is None:
        return
    deadline = monotonic() + budget
    try:
        if not _s.listed:
            for t in rmstore.all_tenants(client, _s.source[1]):
                _s.pending.setdefault(t, None)
            _s.listed = True
        while _s.pending and monotonic() < deadline:
            n = max(1, min(500, int(CHUNK_DEVICES / max(1.0, _s.per_tenant))))
            chunk = list(itertools.islice(_s.pending, n))
            answers = rmstore.fetch_tenant_devices(client, chunk)
            for t in chunk:
                del _s.pending[t]
            _store(chunk, answers, tag)
        _s.failing = False
    except Exception as exc:                    # next poll retries; misses cost an FCALL
        if not _s.failing:
            KSR.err(f"edge: node cache not filled: {exc!r}; retrying\n")
        _s.failing = True
    _publish()


def _store(chunk: list[str], answers: list[tuple[str | None, list[str]]], tag: int) -> None:
    gone: list[tuple[str, str]] = []
    count = 0
    for t, (ten, devs) in zip(chunk, answers):
        old = _s.devices.pop(t, ())
        keys = []
        for raw in devs:
            d = rm.Device.decode(raw)
            if d is None:
                continue
            k = "d:" + d.auth_username.lower()
            KSR.htable.sht_sets(TABLE, k, rm.tagged(tag, d.pack()))
            keys.append(k)
        count += len(keys)
        if ten:
            KSR.htable.sht_sets(TABLE, "t:" + t, rm.tagged(tag, ten))    # last: valid now
            _s.devices[t] = tuple(keys)
        else:                                                           # tenant deleted
            KSR.htable.sht_rm(TABLE, "t:" + t)
        kept = set(keys)
        gone.extend((t, k) for k in old if k not in kept)
    for t, k in gone:
        # removed from t -- unless it moved to a tenant stored meanwhile
        entry = KSR.htable.sht_get(TABLE, k)
        if entry is not None:
            d = rm.Device.unpack(str(entry).partition("|")[2])
            if d is None or d.tenant == t:
                KSR.htable.sht_rm(TABLE, k)
    if chunk:
        _s.per_tenant = 0.8 * _s.per_tenant + 0.2 * count / len(chunk)


def _publish() -> None:
    KSR.pv.seti(FILL, len(_s.pending) if _s.listed else -1)
