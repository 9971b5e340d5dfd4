#!/usr/bin/env python3
"""Where the edge's CPU goes, per request: which KEMI step, and how much is
Python, Kamailio's own C, and the kernel.

Starts a private edge (and, with --baseline, the native yardstick instead),
drives REGISTER or call load at it with SIPp, and samples its busiest
Kamailio workers with py-spy (time per KEMI step; ``pip install py-spy``) and
perf (time per library and per Kamailio function, call graphs by DWARF;
Debian package linux-perf). Both need to attach to another process (root,
or kernel.perf_event_paranoid <= 1 and ptrace allowed). A diagnostic for
whoever optimises the routing; `make bench` is the measurement.

    loadtest/profile_edge.py register            # or: calls, nat-calls
    loadtest/profile_edge.py register --baseline
    loadtest/profile_edge.py first --devices 10000 --tenants 100   # a cold node

``first`` measures what a node restarted by ops pays: the first registration
of every device on a freshly started Kamailio (the edge is restarted after
provisioning; the baseline is fresh anyway), as `make bench` does, with the
step profile and the node's shared memory before and after (no py-spy/perf).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecore import stepprofile  # noqa: E402
from edgectl import loadkit  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402
from loadtest.baseline import Baseline, credentials, write_credentials  # noqa: E402

# Kamailio functions whose share (with what they call) tells the story
FUNCTIONS = ("receive_msg", "apy_exec", "sr_apy_kemi_exec_func_ex", "sl_reply_helper",
             "build_sip_msg_from_buf", "regapi_save_uri", "auth_challenge_helper",
             "pv_auth_check", "parse_msg", "t_relay", "rtpengine_manage", "__libc_sendto",
             "regcomp", "re_compile_internal")


def py_spy_steps(files: list[Path]) -> list[tuple[float, str]]:
    """py-spy raw stacks -> share of samples per KEMI step (the frame called
    by a ksr_* entry point)."""
    steps: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            n = int(count)
            total += n
            key = "(no Python frame: Kamailio core, or idle)"
            for i, fr in enumerate(frames):
                if ".ksr_" in fr:
                    nxt = frames[i + 1] if i + 1 < len(frames) else fr
                    m = re.match(r"(\S+) \(([^:]+)", nxt)
                    key = f"{m.group(1)} ({m.group(2)})" if m else nxt
                    break
            steps[key] += n
    return [(100 * v / total, k) for k, v in steps.most_common()] if total else []


def perf_report(data: Path, sort: str, children: bool) -> list[tuple[float, str]]:
    out = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "-g", "none",
                          "--sort", sort, "--children" if children else "--no-children"],
                         capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(3).strip()))
    return rows


def py_spy_functions(files: list[Path]) -> list[tuple[float, str]]:
    """py-spy raw stacks -> share of samples in which each function is on
    the stack (inclusive time), busiest first."""
    seen: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        for line in f.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            for fr in set(stack.split(";")):
                seen[re.sub(r":\d+\)", ")", fr)] += n
    return sorted(((100.0 * c / max(1, total), fn) for fn, c in seen.items()), reverse=True)


def first_registration(a: argparse.Namespace, edge: bl.LocalEdge, uas: bl.UasPool,
                       shape: loadkit.Shape, rows: list[Any], work: Path) -> int:
    """Every device's first REGISTER on a node started after provisioning."""
    base = None
    if a.baseline:
        base = Baseline(edge.cfg, work / "baseline")
        write_credentials(base.creds_dir, credentials(edge.cfg, shape.tenant_ids()))
        base.start(timeout=120)
    else:                          # restarted, not yet filled: the fill is timed below
        edge.stack.kamailio.stop()
        edge.stack.kamailio.start()
    try:
        rpc: Any = base.rpc if base else edge.stack.kamailio.rpc
        system = (bl.System("baseline", base.target,
                            lambda: {"kamailio": bl.process_tree(base.pid or 0)})
                  if base else edge.system())
        shm = [int(rpc("core.shmmem")["real_used"])]
        t0, pending = time.monotonic(), None
        if not base:           # how long the node's device cache takes to fill (kemi/nodecache.py)
            while time.monotonic() - t0 < 60:
                try:
                    res = rpc("pv.shvGet", "edge_fill")
                    pending = (res[0] if isinstance(res, list) else res)["value"]
                except Exception:           # a node without one
                    break
                if pending == 0:
                    break
                time.sleep(0.05)
            print(f"device cache: tenants left to fetch {pending} after "
                  f"{time.monotonic() - t0:.2f}s (measured from when the node was ready)")
            shm.append(int(rpc("core.shmmem")["real_used"]))
        files = loadkit.split(loadkit.register_csv(loadkit.shuffled(rows), contacts=uas.addresses,
                                                   expires=3600), 2, work / "first.csv")
        steps0 = bl.step_snapshot(rpc)
        m = bl.measure(system, bl.SIPP_DIR / "register.xml", files, len(rows), work, limit=100)
        steps = stepprofile.per_request(steps0, bl.step_snapshot(rpc), m.completed)
        tables = rpc("htable.stats") if not base else []
        lag = time.monotonic()
        if not base:
            edge.wait_notes_written()
        lag = time.monotonic() - lag
        shm.append(int(rpc("core.shmmem")["real_used"]))
        cache_bytes = edge.node_cache_bytes() if not base else 0
    finally:
        if base:
            base.stop()
    who = "baseline" if a.baseline else "edge"
    print(f"first registration of {len(rows)} devices ({shape.tenants} tenants) on a fresh "
          f"{who}: {m.rate:,.0f}/s, {m.failed} failed, server CPU {m.server_cpu_us:,.0f} us "
          f"per request {m.cpu_us_by_component}, Redis FCALLs per registration "
          f"{m.redis_per_exchange}")
    print(f"shared memory: {shm[0]:,} B used when ready, {shm[-1]:,} B after (notes written) "
          f"({(shm[-1] - shm[0]) / max(1, m.completed):,.0f} B per registered device)")
    if len(shm) == 3:
        print(f"  of which the device cache filled: {shm[1] - shm[0]:,} B "
              f"({(shm[1] - shm[0]) / len(rows):,.0f} B per device of the read model); "
              f"emptying it freed {cache_bytes:,} B ({cache_bytes / len(rows):,.0f} B per device)")
    if tables:
        print(f"the timer wrote the notes still queued {lag:.1f}s after the run; "
              "htable items right after the run: " + ", ".join(
            f"{t.get('name')} {t.get('all')}" for t in (tables if isinstance(tables, list) else [tables])
            if isinstance(t, dict) and t.get("all")))
    if steps:
        print(f"\nKEMI steps (1 run in {stepprofile.SAMPLE_EVERY} timed; per completed request):")
        print("\n".join(bl.step_lines(steps, limit=15)))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("load", choices=("register", "calls", "nat-calls", "first"))
    ap.add_argument("--baseline", action="store_true", help="profile the native baseline")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--tenants", type=int, default=0, help="default: devices / 10")
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy")
    ap.add_argument("--functions", type=int, default=0, metavar="N",
                    help="also list the N Python functions with the most time (with callees)")
    ap.add_argument("--native", action="store_true",
                    help="py-spy samples C frames too (Kamailio's, libpython's) under each Python line")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="copy perf.data and py-spy's raw stacks into DIR (for perf report)")
    a = ap.parse_args()
    for tool in ("sipp", "perf"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found")
    spy = a.py_spy if shutil.which(a.py_spy) and not a.baseline else None
    with tempfile.TemporaryDirectory(prefix="profile") as d:
        work = Path(d)
        with bl.LocalEdge(work / "edge") as edge, bl.UasPool(2, work) as uas:
            tenants = a.tenants or max(1, a.devices // 10)
            shape = loadkit.Shape(tenants, max(1, a.devices // tenants))
            loadkit.provision(edge.cfg, shape)
            rows = loadkit.device_rows(edge.cfg, shape.tenant_ids())
            edge.wait_devices([r[2] for r in rows[::shape.devices_per_tenant]])
            if a.load == "first":
                return first_registration(a, edge, uas, shape, rows, work)
            base = None
            if a.baseline:
                base = Baseline(edge.cfg, work / "baseline")
                write_credentials(base.creds_dir, credentials(edge.cfg, shape.tenant_ids()))
                base.start()
            try:
                main_pid = base.pid if base else edge.stack.kamailio.pid
                assert main_pid is not None
                system = (bl.System("baseline", base.target,
                                    lambda: {"kamailio": bl.process_tree(base.pid or 0)})
                          if base else edge.system())
                # every device registers once, at one of the answering UASs
                first = loadkit.split(loadkit.register_csv(rows, contacts=uas.addresses,
                                                           expires=3600), 2, work / "first.csv")
                bl.measure(system, bl.SIPP_DIR / "register.xml", first, len(rows), work,
                           limit=100)
                reg = loadkit.split(loadkit.register_csv(rows, contacts=uas.addresses,
                                                         expires=3600, order="RANDOM"),
                                    2, work / "reg.csv")
                if a.load == "register":
                    scenario, files, extra, limit = bl.SIPP_DIR / "register.xml", reg, [], 200
                else:
                    pairs = [(c, e[1]) for c, e in loadkit.call_pairs(rows)]
                    nat = "192.168.77.10" if a.load == "nat-calls" else ""
                    files = loadkit.split(loadkit.calls_csv(pairs, order="RANDOM",
                                                            private_address=nat),
                                          2, work / "calls.csv")
                    scenario, extra, limit = bl.SIPP_DIR / "uac_setup.xml", ["-d", "0"], 50
                result: dict[str, Any] = {}
                node_rpc = base.rpc if base else edge.stack.kamailio.rpc
                steps0 = bl.step_snapshot(node_rpc)
                tree = bl.process_tree(main_pid)
                cpu0 = {p: bl.cpu_seconds([p]) for p in tree}
                load = threading.Thread(target=lambda: result.setdefault("m", bl.measure(
                    system, scenario, files, 10_000_000, work, limit=limit, extra=extra,
                    seconds=a.seconds + 5)))
                load.start()
                time.sleep(3)
                busiest = sorted(bl.process_tree(main_pid), key=lambda p: -bl.cpu_seconds([p]))
                workers = busiest[:4]
                # the timer process writing the workers' notes (kemi/poller.py flush_notes)
                psx = node_rpc("core.psx")
                notes_pid = [int(p["PID"]) for p in (psx if isinstance(psx, list) else [])
                             if isinstance(p, dict) and "timer=notes" in str(p.get("DSC"))]
                spies = []
                if spy:
                    spies = [subprocess.Popen(
                        [spy, "record", "-p", str(p), "-d", str(int(a.seconds)), "-r", "200",
                         "-f", "raw", "--idle", *(["--native"] if a.native else ["--nonblocking"]),
                         "-o", str(work / f"spy.{p}")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for p in [*workers[:2], *notes_pid[:1]]]
                perf = subprocess.Popen(
                    ["perf", "record", "-F", "299", "--call-graph", "dwarf,16384", "-o",
                     str(work / "perf.data"), "-p", ",".join(map(str, workers)),
                     "--", "sleep", str(a.seconds)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                perf.wait(timeout=a.seconds + 60)
                for s in spies:
                    s.wait(timeout=a.seconds + 60)
                load.join()
                m: bl.Measured = result["m"]
                # CPU per request by Kamailio process (its role from core.psx)
                psx = node_rpc("core.psx")
                roles = {int(p["PID"]): p["DSC"] for p in (psx if isinstance(psx, list) else [])
                         if isinstance(p, dict)}
                by_proc = sorted(((bl.cpu_seconds([p]) - c0, p) for p, c0 in cpu0.items()),
                                 reverse=True)
                steps = stepprofile.per_request(steps0, bl.step_snapshot(node_rpc), m.completed)
            finally:
                if base:
                    base.stop()
        who = "baseline" if a.baseline else "edge"
        print(f"{a.load} load on the {who}: {m.rate:,.0f}/s, server CPU "
              f"{m.server_cpu_us:,.0f} us per request {m.cpu_us_by_component}")
        print("\nKamailio processes, CPU per request:")
        for secs, pid in by_proc[:8]:
            print(f"  {1e6 * secs / max(1, m.completed):7.1f} us  {roles.get(pid, pid)}")
        if steps:
            print(f"\nKEMI steps (edgecore/stepprofile.py, 1 run in {stepprofile.SAMPLE_EVERY} "
                  "timed; per completed request):")
            print("\n".join(bl.step_lines(steps, limit=25)))
        if spies:
            print("\nKEMI steps (py-spy, share of the sampled workers' time):")
            workers_spied = [f for f in sorted(work.glob("spy.*")) if f.name not in
                             {f"spy.{p}" for p in notes_pid}]
            for share, step in py_spy_steps(workers_spied):
                if share >= 0.5:
                    print(f"  {share:5.1f}%  {step}")
            if a.functions:
                print("\nPython functions with what they call (py-spy):")
                for share, fn in py_spy_functions(workers_spied)[:a.functions]:
                    print(f"  {share:5.1f}%  {fn}")
                for p in notes_pid[:1]:
                    print("\nThe notes timer's Python functions with what they call (py-spy):")
                    for share, fn in py_spy_functions([work / f"spy.{p}"])[:a.functions]:
                        print(f"  {share:5.1f}%  {fn}")
        if a.keep:
            a.keep.mkdir(parents=True, exist_ok=True)
            for kept in [work / "perf.data", *work.glob("spy.*")]:
                shutil.copy(kept, a.keep / kept.name)
        print("\nBy library (perf, self time):")
        for share, dso in perf_report(work / "perf.data", "dso", False)[:8]:
            print(f"  {share:5.1f}%  {dso}")
        print("\nKamailio functions with what they call (perf, children):")
        rows_ = dict((name.split()[-1], share) for share, name in
                     perf_report(work / "perf.data", "sym", True))
        for fn in FUNCTIONS:
            if fn in rows_:
                print(f"  {rows_[fn]:5.1f}%  {fn}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
