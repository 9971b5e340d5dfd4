#!/usr/bin/env python3
"""Listing a tenant of 10,000 devices through the administration API, page
by page: the time of each page request (HTTPS, bearer token checked, one
service-layer read of PostgreSQL), p50/p99/max per page size. The issue's
target is p99 under 50 ms per page. A benchmark, not a test: it asserts
nothing. It starts its own PostgreSQL and API on free loopback ports.

    loadtest/bench_admin_api.py [--devices 10000] [--limit 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from edgecore import config as edgeconfig  # noqa: E402
from edgectl import db, loadkit  # noqa: E402
from edgectl.service import Actor, service  # noqa: E402
from edgectl.stack import Stack  # noqa: E402
from testkit.stacks import ephemeral_config  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--limit", type=int, action="append", help="page size (repeat; 50, 500)")
    ap.add_argument("--rounds", type=int, default=3, help="times the whole list is read")
    a = ap.parse_args(argv)
    limits = a.limit or [50, 500]
    with tempfile.TemporaryDirectory(prefix="bench-admin-") as tmp:
        cfg = ephemeral_config(Path(tmp))
        cfg_path = Path(tmp) / "edge.toml"
        cfg_path.write_text(edgeconfig.dumps(cfg))
        stack = Stack(cfg, cfg_path, services=["postgres", "api"])
        try:
            stack.up()
            db.migrate(cfg)
            shape = loadkit.Shape(1, a.devices, loadkit.LOADTEST_TENANT_BASE)
            t0 = time.monotonic()
            loadkit.provision(cfg, shape)
            tenant = shape.tenant_ids()[0]
            print(f"{a.devices} devices of tenant {tenant} provisioned in "
                  f"{time.monotonic() - t0:.1f}s")
            svc = service(cfg, Actor("bench"))
            svc.user_add("bench-admin", "bench-password-1", "tenant_admin", tenant)
            ctx = ssl.create_default_context(cafile=str(cfg.tls_files[0]))
            base = f"https://{cfg.api.listen}:{cfg.api.port}/api/v1"
            with httpx.Client(base_url=base, verify=ctx, timeout=30) as c:
                tok = c.post("/auth/login", json={"username": "bench-admin",
                                                  "password": "bench-password-1"}).json()
                c.headers["Authorization"] = f"Bearer {tok['token']}"
                c.get("/devices", params={"limit": 1})            # warm connection and pool
                for limit in limits:
                    times: list[float] = []
                    seen = 0
                    for _ in range(a.rounds):
                        offset, seen = 0, 0
                        while True:
                            t = time.perf_counter()
                            r = c.get("/devices", params={"limit": limit, "offset": offset})
                            times.append(time.perf_counter() - t)
                            page = r.json()
                            seen += len(page["items"])
                            offset += limit
                            if offset >= page["total"]:
                                break
                    ms = [x * 1000 for x in times]
                    print(f"page of {limit:>3}: {len(ms)} requests ({seen} devices per round), "
                          f"p50 {percentile(ms, 50):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
                          f"max {max(ms):.1f} ms (target: p99 < 50 ms)")
        finally:
            stack.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
