#!/usr/bin/env python3
"""What a registered device costs in memory, and where: Redis by key family
and Kamailio's shared memory by allocation site.

Starts a private edge, provisions ``--devices`` devices in ``--tenants``
tenants, restarts Kamailio (empty location table and caches), registers
every device once (the first registration `make bench` measures), waits
until the registrar's notes reached Redis, and prints what registering added:
Redis ``used_memory`` and ``MEMORY USAGE`` of every key by family, Kamailio
``core.shmmem`` and ``mod.stats all shm`` by allocation site -- each per
registered contact; and the node device cache's shm (kemi/nodecache.py,
filled before registering; what emptying it frees), which make bench
counts too. A diagnostic in a minute at 10k devices; `make bench` (its
``memory`` block, same before/after) is the measurement.

    loadtest/memory_edge.py --devices 10000 --tenants 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl import loadkit  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402
from loadtest.soak import shm_by_site  # noqa: E402


def family(key: str) -> str:
    """A key up to its parts that name one thing (digits, '@', '|', a short
    hex bucket): edge:regs:00101:info -> edge:regs:*:info, edge:trust:cff ->
    edge:trust:*."""
    def one(p: str) -> bool:
        return any(c.isdigit() or c in "@|." for c in p) or (
            0 < len(p) <= 4 and all(c in "0123456789abcdef" for c in p))
    return ":".join("*" if one(p) else p for p in key.split(":"))


def redis_families(r: Any) -> dict[str, list[int]]:
    """family -> [keys, bytes (MEMORY USAGE, every element sampled)]."""
    out: dict[str, list[int]] = {}
    keys = list(r.scan_iter(count=5000))
    for i in range(0, len(keys), 1000):
        pipe = r.pipeline(transaction=False)
        for k in keys[i:i + 1000]:
            pipe.memory_usage(k, samples=0)
        for k, n in zip(keys[i:i + 1000], pipe.execute()):
            f = out.setdefault(family(k), [0, 0])
            f[0] += 1
            f[1] += int(n or 0)
    return out


def snapshot(edge: bl.LocalEdge, r: Any) -> dict[str, Any]:
    kam = edge.stack.kamailio
    return {"redis": int(r.info("memory")["used_memory"]), "families": redis_families(r),
            "shm": int(cast(dict, kam.rpc("core.shmmem"))["real_used"]),
            "sites": shm_by_site(edge.cfg.rpc_socket)}


def contacts(edge: bl.LocalEdge) -> int:
    for line in cast(list, edge.stack.kamailio.rpc("stats.get_statistics", "location_contacts")
                     or []):
        return int(str(line).rsplit("=", 1)[1])
    return 0


def wait_listed(r: Any, devices: int, timeout: float = 60) -> int:
    """Until the registrar's notes of every device reached Redis (the timer
    process writes them within a poll): devices counted in edge:regs."""
    from edgestore import regcount

    deadline = time.monotonic() + timeout
    while True:
        _, devs = regcount.counts(r, time.time())
        n = sum(devs.values())
        if n >= devices or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def family_lines(before: dict[str, Any], after: dict[str, Any], n: int) -> list[str]:
    """What Redis gained between two snapshots by key family, per ``n``."""
    lines = ["Redis by key family (MEMORY USAGE):"]
    fams = {f: (after["families"].get(f, [0, 0])[0] - before["families"].get(f, [0, 0])[0],
                after["families"].get(f, [0, 0])[1] - before["families"].get(f, [0, 0])[1])
            for f in before["families"].keys() | after["families"].keys()}
    for f, (k, b) in sorted(fams.items(), key=lambda x: -x[1][1]):
        if b:
            lines.append(f"  {b / n:8,.1f} B  {k:+7,d} keys  {f}")
    return lines


def report(before: dict[str, Any], after: dict[str, Any], n: int, top: int,
           cache: int = 0) -> list[str]:
    """What registering added, per registered contact; ``cache``: the node
    device cache's shm (filled before registering), counted as make bench
    does."""
    d_redis, d_shm = after["redis"] - before["redis"], after["shm"] - before["shm"]
    lines = [f"per registered contact ({n:,}): Redis {d_redis / n:,.0f} B + shm "
             f"{(d_shm + cache) / n:,.0f} B (registration {d_shm / n:,.0f} + device cache "
             f"{cache / n:,.0f}) = {(d_redis + d_shm + cache) / n:,.0f} B",
             "", *family_lines(before, after, n)]
    lines.append("\nshm by allocation site (mod.stats):")
    sites = {s: after["sites"].get(s, 0) - before["sites"].get(s, 0)
             for s in before["sites"].keys() | after["sites"].keys()}
    for s, b in sorted(sites.items(), key=lambda x: -x[1])[:top]:
        if b:
            lines.append(f"  {b / n:8,.1f} B  {s}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--top", type=int, default=15, help="shm allocation sites shown")
    a = ap.parse_args()
    import redis

    with tempfile.TemporaryDirectory(prefix="memory") as d:
        work = Path(d)
        with bl.LocalEdge(work / "edge") as edge, bl.UasPool(2, work) as uas:
            shape = loadkit.Shape(a.tenants, max(1, a.devices // a.tenants))
            r = redis.Redis.from_url(edge.cfg.redis.url, decode_responses=True)
            empty = snapshot(edge, r)
            r.close()
            loadkit.provision(edge.cfg, shape)
            rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
            edge.wait_devices([r[2] for r in rows[::max(1, shape.devices_per_tenant)]])
            edge.restart_kamailio()
            r = redis.Redis.from_url(edge.cfg.redis.url, decode_responses=True)
            try:
                before = snapshot(edge, r)
                first = loadkit.split(loadkit.register_csv(
                    loadkit.shuffled(rows), contacts=uas.addresses, expires=3600),
                    2, work / "first.csv")
                m = bl.measure(edge.system(), bl.SIPP_DIR / "register.xml", first, len(rows),
                               work, limit=100)
                listed = wait_listed(r, len(rows))
                after = snapshot(edge, r)
                n = contacts(edge)
                cache = edge.node_cache_bytes()
            finally:
                r.close()
    print(f"{len(rows):,} devices in {a.tenants} tenants: {m.completed:,} registered "
          f"({m.failed} failed), {n:,} contacts, {listed:,} listed\n")
    print("\n".join(report(before, after, max(1, n), a.top, cache)))
    # make bench counts Redis from before provisioning: the read model is in its figure
    print("\nThe read model (what provisioning added to Redis), per device:")
    print("\n".join(family_lines(empty, before, max(1, len(rows)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
