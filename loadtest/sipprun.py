"""The load kit's SIPp driver: several SIPp processes sharing a run (their
stats CSV, response times, their own CPU), and SIPp processes standing in for
callee devices; every process stopped by PID."""

from __future__ import annotations

import csv
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from edgectl.stack import stop_pid
from loadtest.hostobs import cpu_seconds
from testkit.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
SIPP_DIR = ROOT / "loadtest" / "sipp"


@dataclass
class SippRun:
    successful: int
    failed: int
    retransmissions: int
    elapsed: float
    errors: list[str] = field(default_factory=list)     # first lines of SIPp's error log
    rtt_ms: list[float] = field(default_factory=list)   # response times (rtd), with rtt=True
    cpu_share: list[float] = field(default_factory=list)  # per SIPp process, of one CPU

    @property
    def rate(self) -> float:
        return self.successful / self.elapsed if self.elapsed else 0.0


def _epoch(v: str) -> float:
    """SIPp time stamps: 'date<TAB>time<TAB>epoch.micro'."""
    return float(v.split("\t")[-1])


def run_sipp(target: str, csv_files: Sequence[Path], calls: int, rate: float, limit: int,
             workdir: Path, local_ip: str = "127.0.0.1",
             scenario: Path = SIPP_DIR / "register.xml", timeout: float = 600,
             advertise: str | None = None, rtt: bool = False,
             extra: Sequence[str] = ()) -> SippRun:
    """Several SIPp processes in parallel (one per injection file), each with
    its share of the calls, the rate and the concurrency limit.

    ``advertise`` is the address SIPp writes in Via/Contact/SDP when it
    differs from where its packets come from -- a private address makes the
    device look NATed (SIPp then binds the wildcard address and sends from
    local_ip's interface)."""
    n = len(csv_files)
    procs: list[tuple[subprocess.Popen[bytes], Path, Path]] = []
    for i, f in enumerate(csv_files):
        stats = workdir / f"stats.{i}.csv"
        errors = workdir / f"errors.{i}.log"
        for old in (stats, errors, *workdir.glob(f"{scenario.stem}_*_rtt.csv")):
            old.unlink(missing_ok=True)
        cmd = ["sipp", target, "-sf", str(scenario), "-inf", str(f),
               "-i", advertise or local_ip, "-p", str(free_port(local_ip)),
               "-m", str(max(1, calls // n)), "-r", str(max(1, int(rate / n))),
               "-l", str(max(1, limit // n)),
               "-nostdin", "-trace_stat", "-stf", str(stats), "-fd", "1",
               "-timeout", f"{int(timeout)}s", "-recv_timeout", "5000",
               "-max_recv_loops", "5000", "-buff_size", "4194304",
               "-trace_err", "-error_file", str(errors),
               *(() if advertise else ("-bind_local",)),
               # UDP may reorder a callee's back-to-back 180 and 200 across the
               # proxy's workers: a late provisional must not abort the call
               "-default_behaviors", "all,-abortunexp", *extra]
        if rtt:
            cmd += ["-trace_rtt", "-rtt_freq", "1"]     # every sample, none lost at exit
        procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, cwd=workdir), stats, errors))
    cpu = {p.pid: 0.0 for p, _, _ in procs}
    deadline = time.monotonic() + timeout + 30
    try:
        while any(p.poll() is None for p, _, _ in procs) and time.monotonic() < deadline:
            for p, _, _ in procs:
                if p.returncode is None:
                    cpu[p.pid] = max(cpu[p.pid], cpu_seconds([p.pid]))
            time.sleep(0.1)
    finally:
        for p, _, _ in procs:       # overran, or interrupted: stopped by PID
            if p.poll() is None:
                stop_pid(p.pid, "sipp")
    total = SippRun(0, 0, 0, 0.0)
    for p, stats, errors in procs:
        if p.stderr is not None:
            p.stderr.close()
        try:
            with open(stats) as fh:
                rows = list(csv.DictReader(fh, delimiter=";"))
        except OSError:
            rows = []
        if not rows:
            total.errors.append(f"sipp exited {p.returncode} without statistics")
            continue
        last = rows[-1]
        total.successful += int(last["SuccessfulCall(C)"])
        total.failed += int(last["FailedCall(C)"])
        total.retransmissions += int(last["Retransmissions(C)"])
        if errors.exists():
            total.errors += [ln for ln in errors.read_text(errors="replace").splitlines()
                             if "Aborting" in ln or ("unexpected" in ln.lower()
                                                      and "Continuing" not in ln)][:5]
        # ElapsedTime(C) has whole seconds only; the final dump's time stamps do not
        elapsed = _epoch(last["CurrentTime"]) - _epoch(last["StartTime"])
        total.elapsed = max(total.elapsed, elapsed)
        total.cpu_share.append(cpu[p.pid] / elapsed if elapsed > 0 else 0.0)
    if rtt:
        for f in workdir.glob(f"{scenario.stem}_*_rtt.csv"):
            with open(f) as fh:
                for row in csv.DictReader(fh, delimiter=";"):
                    try:
                        total.rtt_ms.append(float(row["response_time_ms"]))
                    except (KeyError, TypeError, ValueError):
                        continue
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


class UasPool:
    """SIPp UAS processes standing in for callee devices (uas_setup.xml:
    answer, no media), on free loopback ports, stopped by PID."""

    def __init__(self, n: int, workdir: Path, scenario: Path = SIPP_DIR / "uas_setup.xml",
                 local_ip: str = "127.0.0.1"):
        self.addresses: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        try:
            for _ in range(n):
                port = free_port(local_ip)
                self.procs.append(subprocess.Popen(
                    ["sipp", "-sf", str(scenario), "-i", local_ip, "-p", str(port),
                     "-bind_local", "-nostdin", "-buff_size", "4194304",
                     "-max_recv_loops", "5000"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL, cwd=workdir))
                self.addresses.append(f"{local_ip}:{port}")
        except BaseException:
            self.stop()
            raise

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            stop_pid(p.pid, "sipp")
        self.procs = []

    def __enter__(self) -> "UasPool":
        return self

    def __exit__(self, *a: object) -> None:
        self.stop()
