"""Writing the read model into Redis: a tenant's commands, the writer lock,
and the two write paths (:func:`full_rebuild`, :func:`apply_tenants`)."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

import psycopg
import redis

from edgestore import readmodel as rmstore
from edgestore import redisconn
from edgecore.config import Config
from edgectl.db import EdgeError, connect
from edgectl.sync.snapshot import TenantSnapshot, load_snapshots

log = logging.getLogger("edgectl.sync")

GENS_KEY = "edge:gens"          # generations that may still hold keys
GEN_SEQ_KEY = "edge:gen_seq"    # source of fresh generation numbers
LOCK_TTL_MS = 30_000
BATCH = 5_000


def redis_client(cfg: Config) -> redis.Redis:
    return redisconn.client(cfg.redis, socket_connect_timeout=2, socket_timeout=30,
                            decode_responses=True)


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


def changed(pipe: Any, gen: int, tenants: list[str]) -> None:
    """Bump the version, recording which tenants changed (edge.lua
    edge_changed): the nodes re-fetch those tenants' devices only."""
    pipe.fcall("edge_changed", 0, str(gen), *tenants)


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
                pipe.zadd(rmstore.k_changes(gen), {s.tenant.id: 0})
                n += len(cmds) + 2
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
            changed(flip, gen, [])
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
            changed(pipe, gen, ids)
            pipe.set(rmstore.SYNCED_AT_KEY, f"{time.time():.3f}")
            pipe.execute()
            return gen
    full_rebuild(cfg, r, conn)
    return current_generation(r) or 0
