"""The host as a benchmark observes it, from /proc: CPU time of processes
and of the whole host, a process's direct children, anonymous memory, UDP
receive errors."""

from __future__ import annotations

import os
from typing import Sequence

TICK = os.sysconf("SC_CLK_TCK")


def udp_counters() -> dict[str, int]:
    """The host's UDP counters (/proc/net/snmp): InErrors, RcvbufErrors..."""
    with open("/proc/net/snmp") as fh:
        rows = [line.split() for line in fh if line.startswith("Udp:")]
    return {k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])}


def host_cpu() -> tuple[int, int]:
    """(idle, total) jiffies of the whole host (/proc/stat)."""
    with open("/proc/stat") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return f[3] + f[4], sum(f)


def process_tree(pid: int) -> list[int]:
    """pid and its direct children (Kamailio's workers)."""
    out = [pid]
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(p))
            except (OSError, ValueError, IndexError):
                continue
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time consumed so far by these processes."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / TICK


def anon_bytes(pids: Sequence[int]) -> int:
    """Private anonymous memory of these processes (heaps: Kamailio pkg
    memory and the embedded Python's objects; not the shared memory pool)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Anonymous:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total
