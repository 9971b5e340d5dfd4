"""PostgreSQL -> Redis: building the read model and keeping it current.

One unit of work, the *tenant snapshot* (a tenant with its devices, ranges,
ring groups and exceptions, read in one REPEATABLE READ transaction), serves
both paths, so they cannot drift apart:

* :func:`full_rebuild` writes every tenant into a fresh generation and flips
  ``edge:gen`` to it in one MULTI (readers never see a half-built model), then
  deletes the old generation;
* :func:`apply_tenants` rewrites the named tenants inside the current
  generation, all of them in one MULTI, deleting what they owned before
  (so a device moved between two of them is never lost between the two);
* every full rebuild also writes a fresh random ``edge:epoch``: the version
  counter may go backwards when Redis loses data (restart without
  persistence, failover to a lagging replica), the pair (epoch, version)
  never repeats, and that pair is what the nodes' caches compare.

:class:`Follower` (``edgectl sync --follow``) LISTENs on ``edge_changes``
(NOTIFY from the schema's triggers) and applies each changed tenant within
milliseconds; it rebuilds fully when it starts, when Redis comes back empty,
and after losing its PostgreSQL connection (notifications may have been
missed). Writers take ``edge:sync:lock`` so a manual ``edgectl sync`` and a
follower never interleave; re-reading a tenant is idempotent, so a
notification that arrives during a rebuild is simply applied after it.
"""

from __future__ import annotations

import logging
import os
import select
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

import psycopg
import redis

from edgecore import readmodel as rm
from edgestore import readmodel as rmstore
from edgestore import redisconn
from edgecore.config import Config
from edgectl.db import EdgeError, connect

log = logging.getLogger("edgectl.sync")

GENS_KEY = "edge:gens"          # generations that may still hold keys
GEN_SEQ_KEY = "edge:gen_seq"    # source of fresh generation numbers
LOCK_TTL_MS = 30_000
BATCH = 5_000


def redis_client(cfg: Config) -> redis.Redis:
    return redisconn.client(cfg.redis, socket_connect_timeout=2, socket_timeout=30,
                            decode_responses=True)


# -- snapshots -------------------------------------------------------------------

@dataclass
class TenantSnapshot:
    tenant: rm.Tenant
    devices: list[rm.Device] = field(default_factory=list)
    targets: list[rm.Target] = field(default_factory=list)       # devices + ring groups
    global_ranges: list[tuple[str, str]] = field(default_factory=list)
    exceptions: set[str] = field(default_factory=set)


def load_snapshots(conn: psycopg.Connection, tenants: Iterable[str] | None = None
                   ) -> dict[str, TenantSnapshot]:
    """Read tenants (all when None) consistently; missing ids are absent from the result."""
    only = sorted(set(tenants)) if tenants is not None else None
    where = "" if only is None else " WHERE {col} = ANY(%(ids)s)"
    p = {"ids": only}
    snaps: dict[str, TenantSnapshot] = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for tid, name, glob, rec, dom, mc, req in conn.execute(
                "SELECT id, name, global_access, recording, domain, max_calls,"
                " recording_required FROM tenants" + where.format(col="id"), p):
            snaps[tid] = TenantSnapshot(rm.Tenant(tid, name, glob, rec, dom, mc, req))
        imported_targets: dict[tuple[str, str], rm.Target] = {}
        for tid, ext, au, ha1, mc, dn, imported in conn.execute(
                "SELECT tenant_id, extension, auth_username, ha1, max_calls, display_name,"
                " EXISTS (SELECT 1 FROM legacy_objects o WHERE o.kind = 'device'"
                " AND o.key = devices.tenant_id || ':' || devices.extension) FROM devices"
                + where.format(col="tenant_id"), p):
            s = snaps[tid]
            target = rm.Target("device", tid, ext, auth_username=au, max_calls=mc)
            if imported:                # an imported device has legacy identities only
                imported_targets[(tid, ext)] = target
                continue
            s.devices.append(rm.Device(au, tid, ext, ha1, mc, dn or ""))
            s.targets.append(target)
        # legacy identities (edgectl import), looked up as "<ns>/<peer>"; an imported
        # device's number names its first identity (edgectl explain TENANT:EXT uses it)
        for tid, ext, ns, au, ha1, mc, dn in conn.execute(
                "SELECT d.tenant_id, d.extension, i.namespace, i.auth_username, i.ha1,"
                " d.max_calls, d.display_name FROM legacy_identities i"
                " JOIN devices d ON d.id = i.device_id"
                + where.format(col="d.tenant_id") + " ORDER BY i.namespace, i.auth_username", p):
            key = rm.legacy_identity(ns, au)
            snaps[tid].devices.append(rm.Device(key, tid, ext, ha1, mc, dn or ""))
            if (tid, ext) in imported_targets:
                imported_targets.pop((tid, ext))
                snaps[tid].targets.append(rm.Target("device", tid, ext, auth_username=key,
                                                    max_calls=mc))
        for (tid, _), target in imported_targets.items():      # no identity left: callable
            snaps[tid].targets.append(target)
        members: dict[int, list[str]] = defaultdict(list)
        for rg_id, ext in conn.execute(
                "SELECT m.ring_group_id, d.extension FROM ring_group_members m"
                " JOIN devices d ON d.id = m.device_id"
                + where.format(col="d.tenant_id") + " ORDER BY m.position, d.extension", p):
            members[rg_id].append(ext)
        for rg_id, tid, num, name, strat, to in conn.execute(
                "SELECT id, tenant_id, number, name, strategy, ring_timeout FROM ring_groups"
                + where.format(col="tenant_id"), p):
            snaps[tid].targets.append(rm.Target("ring_group", tid, num, name=name, strategy=strat,
                                                ring_timeout=to,
                                                members=tuple(members.get(rg_id, ()))))
        for tid, first, last in conn.execute(
                "SELECT tenant_id, first_number, last_number FROM number_ranges"
                + (" WHERE scope = 'global'" if only is None else
                   " WHERE scope = 'global' AND tenant_id = ANY(%(ids)s)"), p):
            snaps[tid].global_ranges.append((first, last))
        for s in snaps.values():        # a device on a global number is shown by it
            if s.global_ranges:
                s.devices = [replace(d, global_number=in_ranges(d.extension, s.global_ranges))
                             for d in s.devices]
        for a, b in conn.execute("SELECT from_tenant, to_tenant FROM tenant_exceptions"
                                 + where.format(col="from_tenant"), p):
            snaps[a].exceptions.add(b)
    return snaps


def in_ranges(number: str, ranges: list[tuple[str, str]]) -> bool:
    return any(len(number) == len(first) and int(first) <= int(number) <= int(last)
               for first, last in ranges)


def tenant_writes(gen: int, s: TenantSnapshot) -> tuple[list[tuple[str, ...]], list[str]]:
    """The Redis commands that materialise one tenant, and the ownership entries
    (``K<tab>key`` or ``Z<tab>zset<tab>member``) recorded for later deletion."""
    t = s.tenant.id
    cmds: list[tuple[str, ...]] = []
    owned: list[str] = []

    def put(key: str, value: str) -> None:
        cmds.append(("SET", key, value))
        owned.append("K\t" + key)

    put(rmstore.k_tenant(gen, t), s.tenant.encode())
    for d in s.devices:
        put(rmstore.k_device(gen, d.auth_username), d.encode())
    for target in s.targets:
        put(rmstore.k_number(gen, t, target.number), target.encode())
    if s.exceptions:
        xk = rmstore.k_exceptions(gen, t)
        cmds.append(("SADD", xk, *sorted(s.exceptions)))
        owned.append("K\t" + xk)
    for first, last in s.global_ranges:
        zk = rmstore.k_ranges(gen, len(first))
        member = rmstore.range_member(first, last, t)
        cmds.append(("ZADD", zk, last, member))
        owned.append(f"Z\t{zk}\t{member}")
    if s.tenant.domain:
        put(rmstore.k_domain(gen, s.tenant.domain), t)
    return cmds, owned


def write_namespaces(pipe: Any, conn: psycopg.Connection) -> None:
    """The legacy namespaces (edgectl import) as ``edge:ns``, rewritten whole."""
    with conn.transaction():
        rows = conn.execute("SELECT a.address, n.name || ' ' || n.realm FROM"
                            " legacy_namespace_addresses a JOIN legacy_namespaces n"
                            " ON n.name = a.namespace").fetchall()
    pipe.delete(rmstore.NS_KEY)
    if rows:
        pipe.hset(rmstore.NS_KEY, mapping=dict(rows))


def _delete_owned(pipe: Any, entries: Iterable[str]) -> None:
    for e in entries:
        parts = e.split("\t")
        if parts[0] == "K":
            pipe.delete(parts[1])
        elif parts[0] == "Z":
            pipe.zrem(parts[1], parts[2])


# -- the writer lock ------------------------------------------------------------

_UNLOCK = """if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end"""
_EXTEND = """if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"""


class WriterLock:
    def __init__(self, r: redis.Redis, wait: float = 60.0):
        self.r, self.wait, self.token = r, wait, uuid.uuid4().hex

    def __enter__(self) -> "WriterLock":
        deadline = time.monotonic() + self.wait
        while not self.r.set(rmstore.LOCK_KEY, self.token, nx=True, px=LOCK_TTL_MS):
            if time.monotonic() > deadline:
                raise EdgeError("another sync holds the read-model lock; try again")
            time.sleep(0.05)
        return self

    def extend(self) -> None:
        self.r.eval(_EXTEND, 1, rmstore.LOCK_KEY, self.token, LOCK_TTL_MS)

    def __exit__(self, *exc: object) -> None:
        try:
            self.r.eval(_UNLOCK, 1, rmstore.LOCK_KEY, self.token)
        except redis.RedisError:
            pass


# -- the two write paths ----------------------------------------------------------

@dataclass
class RebuildResult:
    generation: int
    tenants: int
    devices: int
    keys: int
    seconds: float


def current_generation(r: redis.Redis) -> int | None:
    g = r.get(rmstore.GEN_KEY)
    return int(g) if g is not None else None


def full_rebuild(cfg: Config, r: redis.Redis | None = None,
                 conn: psycopg.Connection | None = None) -> RebuildResult:
    t0 = time.monotonic()
    r = r or redis_client(cfg)
    own_conn = conn is None
    conn = conn or connect(cfg)
    try:
        with WriterLock(r) as lock:
            rmstore.load_library(r)
            snaps = load_snapshots(conn)
            gen = int(r.incr(GEN_SEQ_KEY))
            r.sadd(GENS_KEY, gen)
            pipe = r.pipeline(transaction=False)
            n = keys = devices = 0
            for s in snaps.values():
                cmds, owned = tenant_writes(gen, s)
                for c in cmds:
                    pipe.execute_command(*c)
                if owned:
                    pipe.sadd(rmstore.k_owned(gen, s.tenant.id), *owned)
                n += len(cmds) + 1
                keys += len(owned)
                devices += len(s.devices)
                if n >= BATCH:
                    pipe.execute()
                    lock.extend()
                    n = 0
            pipe.execute()
            old = current_generation(r)
            flip = r.pipeline(transaction=True)
            flip.set(rmstore.GEN_KEY, gen)
            write_namespaces(flip, conn)
            flip.set(rmstore.EPOCH_KEY, uuid.uuid4().hex)
            flip.incr(rmstore.VER_KEY)
            flip.set(rmstore.SYNCED_AT_KEY, f"{time.time():.3f}")
            flip.execute()
            for g in r.smembers(GENS_KEY):
                if int(g) != gen:
                    _drop_generation(r, int(g), lock)
            log.info("read model rebuilt: generation %s (was %s), %d tenants, %d devices",
                     gen, old, len(snaps), devices)
            return RebuildResult(gen, len(snaps), devices, keys, time.monotonic() - t0)
    finally:
        if own_conn:
            conn.close()


def _drop_generation(r: redis.Redis, gen: int, lock: WriterLock) -> None:
    batch: list[str] = []
    for key in r.scan_iter(match=f"e{gen}:*", count=2000):
        batch.append(key)
        if len(batch) >= 2000:
            r.unlink(*batch)
            batch.clear()
            lock.extend()
    if batch:
        r.unlink(*batch)
    r.srem(GENS_KEY, gen)


def apply_tenants(cfg: Config, tenants: Iterable[str], r: redis.Redis,
                  conn: psycopg.Connection) -> int:
    """Re-read the given tenants and rewrite them in the current generation.
    Returns the generation written, or triggers a full rebuild when there is none."""
    ids = sorted(set(tenants))
    with WriterLock(r):
        gen = current_generation(r)
        if gen is None:
            pass
        else:
            snaps = load_snapshots(conn, ids)
            # one MULTI for the whole burst (or for the namespaces alone: an
            # 'ns' notification), every deletion before any write: a device
            # (or domain) that moved from one of these tenants to another is
            # deleted with its old tenant and written with its new one,
            # whatever the order of the tenants
            old = {tid: [str(x) for x in r.smembers(rmstore.k_owned(gen, tid))] for tid in ids}
            pipe = r.pipeline(transaction=True)
            for tid in ids:
                _delete_owned(pipe, old[tid])
                pipe.delete(rmstore.k_owned(gen, tid))
            for tid in ids:
                s = snaps.get(tid)
                if s is not None:            # None: the tenant was deleted
                    cmds, owned = tenant_writes(gen, s)
                    for c in cmds:
                        pipe.execute_command(*c)
                    if owned:
                        pipe.sadd(rmstore.k_owned(gen, tid), *owned)
            write_namespaces(pipe, conn)
            pipe.incr(rmstore.VER_KEY)
            pipe.set(rmstore.SYNCED_AT_KEY, f"{time.time():.3f}")
            pipe.execute()
            return gen
    full_rebuild(cfg, r, conn)
    return current_generation(r) or 0


# -- the follower ----------------------------------------------------------------

CHANNEL = "edge_changes"


class Follower:
    """LISTEN/NOTIFY loop keeping Redis current; survives either side restarting."""

    def __init__(self, cfg: Config, on_pool_change: Callable[[], object] | None = None,
                 ready_file: str | None = None):
        self.cfg = cfg
        self.on_pool_change = on_pool_change
        self.ready_file = ready_file
        self.stopping = False
        # self-pipe: stop() (a signal handler) wakes the select() in _wait at
        # once instead of after its 1 s timeout
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def stop(self, *_: object) -> None:
        self.stopping = True
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:             # already woken
            pass

    def run(self) -> None:
        backoff = 0.2
        while not self.stopping:
            try:
                self._session()
                backoff = 0.2
            except (psycopg.Error, redis.RedisError, EdgeError, OSError) as exc:
                log.warning("sync follower: %s; retrying in %.1fs", str(exc).splitlines()[0]
                            if str(exc) else type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _session(self) -> None:
        r = redis_client(self.cfg)
        conn = connect(self.cfg, autocommit=True)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            full_rebuild(self.cfg, r, conn)        # anything missed while away
            if self.on_pool_change:
                self.on_pool_change()
            if self.ready_file:
                with open(self.ready_file, "w") as fh:
                    fh.write(str(os.getpid()))
            last_check = time.monotonic()
            while not self.stopping:
                payloads = self._wait(conn, 1.0)
                if payloads:
                    self._apply(payloads, r, conn)
                if time.monotonic() - last_check > 2.0:
                    last_check = time.monotonic()
                    if current_generation(r) is None:   # Redis restarted empty
                        log.warning("read model missing in Redis: rebuilding")
                        full_rebuild(self.cfg, r, conn)
        finally:
            conn.close()
            r.close()

    def _wait(self, conn: psycopg.Connection, timeout: float) -> set[str]:
        payloads: set[str] = set()
        ready = select.select([conn.fileno(), self._wake_r], [], [], timeout)[0]
        if conn.fileno() not in ready:      # timed out, or stop() woke us
            return payloads
        # gather a short burst: one provisioning transaction may notify many tenants
        deadline = time.monotonic() + 0.02
        for n in conn.notifies(timeout=0.02):
            payloads.add(n.payload)
            if time.monotonic() > deadline:
                break
        if not payloads:
            conn.execute("SELECT 1")   # surface a dead connection as an error
        return payloads

    def _apply(self, payloads: set[str], r: redis.Redis, conn: psycopg.Connection) -> None:
        tenants = sorted(p[2:] for p in payloads if p.startswith("t:"))
        if "ns" in payloads and not tenants:
            snap_conn = connect(self.cfg)
            try:
                apply_tenants(self.cfg, [], r, snap_conn)
            finally:
                snap_conn.close()
        if tenants:
            # tenants and their data are read on a separate, transactional snapshot
            snap_conn = connect(self.cfg)
            try:
                apply_tenants(self.cfg, tenants, r, snap_conn)
            finally:
                snap_conn.close()
            log.info("applied changes of tenants %s", ",".join(tenants))
        if "pool" in payloads and self.on_pool_change:
            self.on_pool_change()
