"""The per-step profile of the edge's Python: what it measures and how it is
kept, read and summarised (pure; kemi/stepprofile.py does the timing).

Every KEMI worker times (CPU time) one route run in ``SAMPLE_EVERY`` (any route: the
request route step by step, a reply, branch, failure or dialog-event route
as one step) and keeps, per step, the nanoseconds and the number of timed
runs it has seen so far. After each timed run it writes its running totals
for the steps that ran into the node's ``edgeprof`` htable
(kamailio/core.cfg), one item per step, process and figure
(``request|auth.authenticate|<pid>|us``): a set, not an add, so a worker
owns its items and nothing is counted twice. Sampling keeps the cost off
the untimed runs (one integer decrement each), so it stays on.

A reader (``make bench``, loadtest/profile_edge.py) takes two snapshots of
the table around a load and divides the difference by the requests the load
completed: the estimated Python time per step per request (``SAMPLE_EVERY``
times the sampled time) and the Python route runs per request.
"""

from __future__ import annotations

from typing import Iterable

TABLE = "edgeprof"
SAMPLE_EVERY = 64
SEP = "|"
WRAP = 1 << 32          # items are C ints: totals are written, and read, modulo 2^32


def key(route: str, step: str, pid: int, figure: str) -> str:
    """Item of one process's running total: figure "us" (microseconds) or "n"."""
    return SEP.join((route, step, str(pid), figure))


def as_item(total: int) -> int:
    """A running total as a C int item (wrapped to the signed 32-bit range)."""
    v = total % WRAP
    return v - WRAP if v >= WRAP // 2 else v


def snapshot(items: Iterable[tuple[str, int]]) -> dict[tuple[str, str, str, str], int]:
    """Items of the table -> (route, step, pid, figure) -> value (unsigned)."""
    out = {}
    for item, value in items:
        parts = item.split(SEP)
        if len(parts) == 4 and parts[3] in ("us", "n"):
            out[(parts[0], parts[1], parts[2], parts[3])] = int(value) % WRAP
    return out


def per_request(before: dict[tuple[str, str, str, str], int],
                after: dict[tuple[str, str, str, str], int],
                requests: int) -> list[dict[str, object]]:
    """Rows per (route, step), most time first: estimated microseconds of
    Python per completed request, timed runs, and mean microseconds per run."""
    acc: dict[tuple[str, str], list[int]] = {}
    for k, v in after.items():
        d = (v - before.get(k, 0)) % WRAP
        a = acc.setdefault((k[0], k[1]), [0, 0])
        a[0 if k[3] == "us" else 1] += d
    rows: list[dict[str, object]] = []
    for (route, step), (us, n) in acc.items():
        if n == 0:
            continue
        rows.append({"route": route, "step": step, "sampled_runs": n,
                     "us_per_run": us / n,
                     "us_per_request": us * SAMPLE_EVERY / max(1, requests),
                     "runs_per_request": n * SAMPLE_EVERY / max(1, requests)})
    rows.sort(key=lambda r: -float(r["us_per_request"]))  # type: ignore[arg-type]
    return rows
