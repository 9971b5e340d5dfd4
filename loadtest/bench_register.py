#!/usr/bin/env python3
"""Registrations per second with digest auth, against any edge.

Drives loadtest/sipp/register.xml (REGISTER, 401, REGISTER with credentials,
200) from several SIPp processes, closed loop, raising the number of
registrations in flight while the rate grows, and prints the best rate with
no failed registration and at most 1% retransmitted, with retransmissions,
the host's UDP receive errors and the SIPp processes' own CPU. A benchmark, not a test: it asserts nothing.
(`make bench` compares the edge with native Kamailio: loadtest/bench.py.)

    # against any edge, with an injection file (edgectl loadtest csv register ...)
    loadtest/bench_register.py --target 10.0.0.10:5060 --csv devices.csv --calls 20000

    # self-contained: a private stack on free loopback ports, N synthetic devices
    loadtest/bench_register.py --start-stack --devices 2000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl import loadkit  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402

SCENARIO = bl.SIPP_DIR / "register.xml"


def describe(m: bl.Measured) -> str:
    cpu = (f", server CPU {m.server_cpu_us:,.0f} us per request" if m.server_cpu_us else "")
    return (f"{m.rate:,.0f}/s at {m.limit} in flight: {m.completed} completed, {m.failed} "
            f"failed, {m.retransmissions} retransmissions, UDP InErrors {m.udp_in_errors} "
            f"(RcvbufErrors {m.udp_rcvbuf_errors}), SIPp CPU {m.generator_cpu}{cpu}")


def bench(system: bl.System, files: list[Path], calls: int, limit: int, work: Path) -> None:
    best, steps = bl.capacity(lambda lim: bl.measure(system, SCENARIO, files, calls, work,
                                                     limit=lim), limit)
    for m in steps:
        print("  " + describe(m))
        for e in m.errors[:3]:
            print("    sipp:", e[:200])
    print(f"REGISTER with digest against {system.target}: {describe(best)}")
    if best.generator_saturated:
        print("  warning: a SIPp process used a whole CPU; add --procs or another host")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", help="edge address host:port (with --csv)")
    ap.add_argument("--csv", type=Path, help="SIPp injection file for register.xml")
    ap.add_argument("--start-stack", action="store_true",
                    help="start a private stack and provision synthetic devices")
    ap.add_argument("--devices", type=int, default=2000, help="with --start-stack")
    ap.add_argument("--tenants", type=int, default=20, help="with --start-stack")
    ap.add_argument("--calls", type=int, default=20000, help="registrations per run")
    ap.add_argument("--limit", type=int, default=100,
                    help="registrations in flight at first (doubled while it helps)")
    ap.add_argument("--procs", type=int, default=2, help="SIPp processes")
    ap.add_argument("--nodes", type=int, default=1,
                    help="with --start-stack: edge nodes in a cluster (the load goes to "
                         "the first; every registration is replicated to the others)")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    with tempfile.TemporaryDirectory(prefix="bench") as d:
        work = Path(d)
        if a.start_stack:
            with bl.LocalEdge(work / "edge", nodes=a.nodes) as edge:
                shape = loadkit.Shape(a.tenants, max(1, a.devices // a.tenants))
                n = loadkit.provision(edge.cfg, shape)
                rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
                edge.wait_devices([r[2] for r in rows[::shape.devices_per_tenant]])
                print(f"provisioned {n} devices in {a.tenants} tenants")
                files = loadkit.split(loadkit.register_csv(rows, order="RANDOM"), a.procs,
                                      work / "reg.csv")
                bench(edge.system(), files, a.calls, a.limit, work)
        else:
            if not (a.target and a.csv):
                ap.error("give --target and --csv, or --start-stack")
            files = loadkit.split(a.csv.read_text(), a.procs, work / "reg.csv")
            bench(bl.System("edge", a.target, dict), files, a.calls, a.limit, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
