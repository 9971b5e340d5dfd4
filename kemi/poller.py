"""Timer task (rtimer, every ``cache.poll_ms``): copy the read-model version
from Redis into ``$shv(edge_ver)`` (what operators and tests compare with
Redis), and the node's cache version derived from it into
``$shv(edge_cache)``, shared by all workers of the node.

The workers compare the cache version with the one their caches were filled
at (see edgecore.cache); -1 tells them the read model is unreachable (Redis down, or
holding no model), so they answer 503 instead of trusting a cache. One MGET per
interval per node -- not per request. The same MGET reads the bans' version;
when any node changed the bans, this node's ban table is refilled from Redis.
The notes the workers queue (registration counts, trust) are written by a
second timer process (:func:`flush_notes`), never in the way of this poll.

The node-wide device cache (kemi/nodecache.py) follows the model from here:
what a change made stale there is removed *before* the new cache version is
published -- a worker that drops its own cache for the new version must not
refill it from a stale node entry -- and the devices to fetch are fetched
last, within half a poll interval per poll.
"""

from __future__ import annotations

import time

import KSR

from edgecore import guard
from edgestore import guard as guardstore
from edgestore import readmodel as rmstore
from kemi import context, nodecache, registrations, security

_state: dict[str, object] = {"last": None, "seen": None, "cid": None}

# what the workers' caches compare (kemi/context.py shv_version): a node-wide
# counter bumped whenever the read model's (epoch, version) changes, -1 while
# the model is unreachable. Redis' own counter can go backwards (a restart
# without persistence, a failover to a lagging replica) and come back to a
# value the caches saw with other data; the epoch of a full rebuild
# (edgectl/sync/) changes then, and this counter never goes back. Its
# high-water mark lives in shared memory, so a reload of this module never
# reuses a value either.
CACHE_VER = "$shv(edge_cache)"
CACHE_HW = "$shv(edge_cache_hw)"
_bans: dict[str, object] = {"ver": None, "fields": set()}


def poll() -> None:
    import redis

    w = context.worker()
    bans_ver = None
    cid = None
    try:
        # which connection answers: a new one may reach a restarted or
        # failed-over server, whose counter can have gone back and past
        cid = w.redis.client_id()
        gen, ver, bans_ver, epoch = w.redis.mget(rmstore.GEN_KEY, rmstore.VER_KEY,
                                                 guardstore.BANS_VER_KEY, rmstore.EPOCH_KEY)
        version = int(ver) if gen is not None and ver is not None else -1
        problem = None if version >= 0 else "Redis holds no read model"
    except (redis.RedisError, OSError, ValueError) as exc:
        version, problem, epoch = -1, f"Redis unreachable: {exc}", None
    cache_ver = -1
    if version >= 0:
        if _state["cid"] not in (None, cid):
            # what this node derived from the old connection's answers --
            # which changes it handled, up to which version -- may not hold
            # on this server: its device cache is filled again, and the
            # workers' caches get a new version (a counter back at the very
            # version they hold must not revive their answers)
            KSR.info("read model: Redis connection renewed; node caches reset\n")
            nodecache.forget()
            _state["seen"] = None
        _state["cid"] = cid
        cache_ver = _cache_version(epoch, version)
        nodecache.invalidate(w.redis, int(gen), epoch, version)
    KSR.pv.seti(CACHE_VER, cache_ver)
    KSR.pv.seti("$shv(edge_ver)", version)
    up = version >= 0
    if _state["last"] is not up:
        if up:
            KSR.info(f"read model available (version {version})\n")
        else:
            KSR.err(f"read model unavailable: {problem}; answering 503\n")
        _state["last"] = up
    if up and bans_ver != _bans["ver"] and security.enabled():
        # the bans are not the read model: failing to mirror them keeps the
        # node's current ban table (and the node serving), retried next poll
        try:
            _mirror_bans(w.redis)
            _bans["ver"] = bans_ver
        except Exception as exc:
            KSR.err(f"security: bans not mirrored: {exc!r}; keeping this node's copy\n")
    if up:
        nodecache.fill(w.redis, cache_ver, w.cfg.cache.poll_ms / 2000)


def flush_notes() -> None:
    """The notes the workers queued -- registration counts (kemi/registrations.py)
    and the trust of identities at addresses (kemi/security.py) -- written by
    a timer process of their own (kamailio/core.cfg `notes`): after a burst
    of first registrations that work takes seconds, and the version poll
    above, which bounds how long a removed device or a changed password is
    honoured, must not wait behind it. With the read model unreachable (as
    this node's poll last saw it) the notes wait in their tables."""
    if int(KSR.pv.get("$shv(edge_ver)") or -1) < 0:
        return
    registrations.flush()
    if security.enabled():
        security.flush_trust()


def _cache_version(epoch: object, version: int) -> int:
    """The node's cache version for the model's (epoch, version): the same
    number while that pair holds, a new one whenever it changes."""
    hw = int(KSR.pv.get(CACHE_HW) or 0)
    if _state["seen"] != (epoch, version) or hw <= 0:
        hw += 1
        KSR.pv.seti(CACHE_HW, hw)
        _state["seen"] = (epoch, version)
    return hw


def _mirror_bans(client: object) -> None:
    """Make this node's ban table equal to the bans in force in Redis. An
    entry that does not parse is logged and skipped; the others still hold."""
    now = time.time()
    bad: list[str] = []
    current = {guard.ban_field(b.kind, b.value): b for b in guardstore.bans(client, now, bad)}
    for field in bad:
        KSR.err(f"security: ban entry {field!r} in {guardstore.BANS_KEY} is not valid; "
                "ignored\n")
    old = _bans["fields"]
    assert isinstance(old, set)
    for field in old - current.keys():
        KSR.htable.sht_rm(security.BAN_TABLE, field)
    for field, b in current.items():
        KSR.htable.sht_setxi(security.BAN_TABLE, field, 1, guard.ban_seconds_left(b.until, now))
    _bans["fields"] = set(current)
