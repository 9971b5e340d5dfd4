#!/usr/bin/env python3
"""Call setups per second through the edge: proxy digest auth, number
resolution, dialing policy and relay to a registered device, per call.

SIPp UACs (loadtest/sipp/uac_setup.xml: INVITE, 407, ACK, INVITE with
credentials, 200, ACK, BYE) call synthetic devices whose registered contacts
are SIPp UASs (uas_setup.xml). A benchmark, not a test: it asserts nothing.

    loadtest/bench_calls.py --start-stack [--devices 2000] [--calls 10000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgectl import loadkit  # noqa: E402
from edgectl.stack import free_port, stop_pid  # noqa: E402
from loadtest.bench_register import SippRun, run_sipp  # noqa: E402

SIPP_DIR = ROOT / "loadtest" / "sipp"


def start_uas(n: int, workdir: Path, local_ip: str = "127.0.0.1"
              ) -> list[tuple[subprocess.Popen[bytes], int]]:
    out = []
    for _ in range(n):
        port = free_port(local_ip)
        p = subprocess.Popen(["sipp", "-sf", str(SIPP_DIR / "uas_setup.xml"), "-i", local_ip,
                              "-p", str(port), "-nostdin",
                              "-buff_size", "4194304", "-max_recv_loops", "5000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir)
        out.append((p, port))
    return out


def setup_calls(target: str, shape: loadkit.Shape, cfg_for_rows: object, work: Path,
                calls: int, rate: float, limit: int, procs: int, uas_procs: int = 2
                ) -> SippRun:
    rows = loadkit.device_rows(cfg_for_rows, shape.tenant_ids())       # type: ignore[arg-type]
    half = shape.devices_per_tenant // 2
    by_tenant: dict[str, list[tuple[str, str, str]]] = {}
    for r in rows:
        by_tenant.setdefault(r[0], []).append(r)
    callers, callees = [], []
    for devs in by_tenant.values():
        callers += devs[:half]
        callees += devs[half:2 * half]
    uas = start_uas(uas_procs, work)
    try:
        # each callee device registers one contact: a UAS process, round robin
        for i, (p, port) in enumerate(uas):
            share = callees[i::len(uas)]
            csv = work / f"callee.{i}.csv"
            csv.write_text(loadkit.register_csv(share, contact=f"127.0.0.1:{port}",
                                                expires=3600))
            reg = run_sipp(target, [csv], len(share), 2000, 200, work,
                           scenario=SIPP_DIR / "register.xml")
            if reg.failed:
                raise SystemExit(f"could not register callee contacts ({reg.failed} failed)")
        pairs = [(c, e[1]) for c, e in zip(callers, callees)]
        files = loadkit.split(loadkit.calls_csv(pairs), procs, work / "calls.csv")
        return run_sipp(target, files, calls, rate, limit, work,
                        scenario=SIPP_DIR / "uac_setup.xml")
    finally:
        for p, _ in uas:
            stop_pid(p.pid, "sipp")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--start-stack", action="store_true", required=True,
                    help="start a private stack and provision synthetic devices")
    ap.add_argument("--devices", type=int, default=2000)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rate", type=float, default=1000, help="offered calls/s")
    ap.add_argument("--limit", type=int, default=300, help="calls in flight")
    ap.add_argument("--procs", type=int, default=2, help="SIPp UAC processes")
    a = ap.parse_args()
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    from loadtest.benchlib import LocalEdge
    with tempfile.TemporaryDirectory(prefix="benchcalls") as d:
        work = Path(d)
        with LocalEdge(work / "edge") as edge:
            shape = loadkit.Shape(a.tenants, max(2, a.devices // a.tenants))
            loadkit.provision(edge.cfg, shape)
            edge.wait_synced()
            res = setup_calls(edge.target, shape, edge.cfg, work, a.calls, a.rate, a.limit,
                              a.procs)
    cps = res.successful / res.elapsed if res.elapsed else 0.0
    for e in res.errors:
        print("  sipp:", e[:300])
    print(f"call setups through the edge: {res.successful} completed, {res.failed} failed, "
          f"{res.retransmissions} retransmissions in {res.elapsed:.2f}s")
    print(f"  => {cps:,.0f} call setups/s (auth + lookup + policy + relay; "
          f"offered {a.rate:,.0f}/s, concurrency {a.limit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
