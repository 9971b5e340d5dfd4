#!/usr/bin/env python3
"""What a shared location table would cost: native Kamailio (the baseline,
loadtest/baseline) registering the same devices with usrloc in memory
(db_mode 0, what each edge node does, replicated by DMQ) and with usrloc
DB-only on PostgreSQL (db_mode 3, every node reading and writing one shared
table), one after the other on the same machine and load. The measurement
behind README "Why DMQ"; a benchmark, it asserts nothing.

    loadtest/bench_usrloc_db.py [--devices 2000] [--calls 20000]

The location table is Kamailio's own schema (/usr/share/kamailio/postgres,
usrloc-create.sql) in a scratch database of the private stack's PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl.stack.kamailio_defines import kamailio_db_url  # noqa: E402
from edgectl import loadkit  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402
from loadtest.baseline import Baseline, credentials, write_credentials  # noqa: E402
from loadtest.bench_register import describe  # noqa: E402

KAMAILIO_SCHEMA = Path("/usr/share/kamailio/postgres")
DATABASE = "kamailio_location"


def location_database(dsn: str) -> str:
    """A fresh database with Kamailio's version and location tables; its DSN."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        c.execute(f"CREATE DATABASE {DATABASE}")
    u = urlsplit(dsn)
    loc = urlunsplit((u.scheme, u.netloc, "/" + DATABASE, u.query, ""))
    with psycopg.connect(loc, autocommit=True) as c:
        for f in ("standard-create.sql", "usrloc-create.sql"):
            c.execute((KAMAILIO_SCHEMA / f).read_text())
    return loc


def location_rows(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as c:
        row = c.execute("SELECT count(*) FROM location").fetchone()
        return int(row[0]) if row else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--calls", type=int, default=20000, help="registrations per run")
    ap.add_argument("--limit", type=int, default=100, help="registrations in flight at first")
    ap.add_argument("--procs", type=int, default=2, help="SIPp processes")
    a = ap.parse_args()
    for tool in ("sipp",):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found (Debian package sip-tester)")
    if not (KAMAILIO_SCHEMA / "usrloc-create.sql").exists():
        ap.error(f"{KAMAILIO_SCHEMA}/usrloc-create.sql not found (kamailio-postgres-modules)")
    with tempfile.TemporaryDirectory(prefix="bench") as d:
        work = Path(d)
        with bl.LocalEdge(work / "edge") as edge:
            cfg = edge.cfg
            shape = loadkit.Shape(a.tenants, max(1, a.devices // a.tenants))
            loadkit.provision(cfg, shape)
            rows = loadkit.device_rows(cfg, shape.tenant_ids())
            files = loadkit.split(loadkit.register_csv(rows, order="RANDOM"), a.procs,
                                  work / "reg.csv")
            loc = location_database(cfg.postgres.dsn)
            pg = edge.stack.postgres
            results = {}
            for name, url in (("usrloc in memory (db_mode 0)", None),
                              ("usrloc DB-only on PostgreSQL (db_mode 3)", kamailio_db_url(loc))):
                base = Baseline(cfg, work / ("baseline-db" if url else "baseline-mem"),
                                usrloc_db_url=url)
                write_credentials(base.creds_dir, credentials(cfg, shape.tenant_ids()))
                base.start(timeout=120)
                try:
                    pid = base.pid or 0
                    system = bl.System(name, base.target, lambda: {
                        "kamailio": bl.process_tree(pid),
                        "postgres": bl.process_tree(pg.pid or 0)})
                    last, runs = bl.capacity(lambda lim: bl.measure(
                        system, bl.SIPP_DIR / "register.xml", files, a.calls, work,
                        limit=lim), a.limit)
                    for m in runs:
                        print(f"  {name}: {describe(m)} {m.cpu_us_by_component}")
                    results[name] = bl.best(runs) or last
                    if url:
                        print(f"  location rows in PostgreSQL: {location_rows(loc)}")
                finally:
                    base.stop()
        print()
        for name, m in results.items():
            print(f"{name}: {m.rate:,.0f} REGISTER/s, server CPU {m.server_cpu_us:,.0f} us "
                  f"per registration {m.cpu_us_by_component}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
