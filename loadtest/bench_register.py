#!/usr/bin/env python3
"""Registrations per second with digest auth, against a running edge.

Drives loadtest/sipp/register.xml (REGISTER, 401, REGISTER with credentials,
200) from one or more SIPp processes and prints the rate of completed
registrations, failures and retransmissions. A benchmark, not a test: it
asserts nothing.

    # against any edge, with an injection file (edgectl loadtest csv ...)
    loadtest/bench_register.py --target 10.0.0.10:5060 --csv devices.csv --calls 20000

    # self-contained: a private stack on free loopback ports, N synthetic devices
    loadtest/bench_register.py --start-stack --devices 2000
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl.stack import free_port, stop_pid  # noqa: E402

SCENARIO = ROOT / "loadtest" / "sipp" / "register.xml"


@dataclass
class SippRun:
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    errors: list[str] = field(default_factory=list)     # first lines of SIPp's error log


def _epoch(v: str) -> float:
    """SIPp time stamps: 'date<TAB>time<TAB>epoch.micro'."""
    return float(v.split("\t")[-1])


def run_sipp(target: str, csv_files: list[Path], calls: int, rate: float, limit: int,
             workdir: Path, local_ip: str = "127.0.0.1", scenario: Path = SCENARIO,
             timeout: float = 600) -> SippRun:
    """Several SIPp processes in parallel, each with its share of calls and rate."""
    procs = []
    n = len(csv_files)
    for i, f in enumerate(csv_files):
        stats = workdir / f"stats.{i}.csv"
        cmd = ["sipp", target, "-sf", str(scenario), "-inf", str(f), "-i", local_ip,
               "-p", str(free_port(local_ip)), "-m", str(max(1, calls // n)),
               "-r", str(max(1, int(rate / n))), "-l", str(max(1, limit // n)),
               "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
               "-timeout", f"{int(timeout)}s", "-recv_timeout", "5000",
               "-max_recv_loops", "5000", "-buff_size", "4194304",
               "-trace_err", "-error_file", str(workdir / f"errors.{i}.log"),
               # UDP may reorder a callee's back-to-back 180 and 200 across the
               # proxy's workers: a late provisional must not abort the call
               "-default_behaviors", "all,-abortunexp"]
        procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       cwd=workdir), stats))
    total = SippRun(0, 0, 0, 0.0)
    deadline = time.monotonic() + timeout + 30
    for p, stats in procs:
        try:
            p.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            stop_pid(p.pid, "sipp")
        with open(stats) as fh:
            rows = list(csv.DictReader(fh, delimiter=";"))
        last = rows[-1]
        total.successful += int(last["SuccessfulCall(C)"])
        total.failed += int(last["FailedCall(C)"])
        total.retransmissions += int(last["Retransmissions(C)"])
        err = stats.with_name(stats.name.replace("stats", "errors").replace(".csv", ".log"))
        if err.exists():
            total.errors += [l for l in err.read_text(errors="replace").splitlines()
                             if "Aborting" in l or "unexpected" in l.lower()][:5]
        # ElapsedTime(C) has whole seconds only; the final dump's time stamps do not
        total.elapsed = max(total.elapsed, _epoch(last["CurrentTime"]) - _epoch(last["StartTime"]))
    return total


def bench_against(target: str, csv_files: list[Path], calls: int, rate: float, limit: int,
                  workdir: Path) -> SippRun:
    res = run_sipp(target, csv_files, calls, rate, limit, workdir)
    rps = res.successful / res.elapsed if res.elapsed else 0.0
    print(f"REGISTER with digest against {target}: {res.successful} registered, "
          f"{res.failed} failed, {res.retransmissions} retransmissions in {res.elapsed:.2f}s")
    print(f"  => {rps:,.0f} registrations/s  ({len(csv_files)} SIPp processes, "
          f"offered {rate:,.0f}/s, concurrency {limit})")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", help="edge address host:port (with --csv)")
    ap.add_argument("--csv", type=Path, help="SIPp injection file for register.xml")
    ap.add_argument("--start-stack", action="store_true",
                    help="start a private stack and provision synthetic devices")
    ap.add_argument("--devices", type=int, default=2000, help="with --start-stack")
    ap.add_argument("--tenants", type=int, default=20, help="with --start-stack")
    ap.add_argument("--calls", type=int, default=20000, help="registrations to send")
    ap.add_argument("--rate", type=float, default=20000, help="offered registrations/s")
    ap.add_argument("--limit", type=int, default=400, help="registrations in flight")
    ap.add_argument("--procs", type=int, default=2, help="SIPp processes")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    with tempfile.TemporaryDirectory(prefix="bench") as d:
        work = Path(d)
        if a.start_stack:
            from loadtest.benchlib import LocalEdge
            from edgectl import loadkit
            with LocalEdge(work / "edge") as edge:
                shape = loadkit.Shape(a.tenants, max(1, a.devices // a.tenants))
                n = loadkit.provision(edge.cfg, shape)
                edge.wait_synced()
                print(f"provisioned {n} devices in {a.tenants} tenants")
                rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
                files = loadkit.split(loadkit.register_csv(rows), a.procs, work / "reg.csv")
                bench_against(edge.target, files, a.calls, a.rate, a.limit, work)
        else:
            if not (a.target and a.csv):
                ap.error("give --target and --csv, or --start-stack")
            from edgectl import loadkit
            files = loadkit.split(a.csv.read_text(), a.procs, work / "reg.csv")
            bench_against(a.target, files, a.calls, a.rate, a.limit, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
