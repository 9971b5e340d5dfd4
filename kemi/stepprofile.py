"""Timing of the edge's Python, one route run in SAMPLE_EVERY per worker
(edgecore/stepprofile.py says what is kept and how it is read)."""

from __future__ import annotations

import os
from time import thread_time_ns

import KSR

from edgecore import stepprofile as sp

# CPU time of this (single-threaded) worker, not wall time: a worker
# descheduled on a busy host, or waiting for Redis, is not working
clock = thread_time_ns
_countdown = sp.SAMPLE_EVERY
# "route|step" -> [nanoseconds, timed runs], this process's running totals
_totals: dict[str, list[int]] = {}


class Sample:
    """The step times of one timed route run."""
    __slots__ = ("route", "times")

    def __init__(self, route: str):
        self.route = route
        self.times: list[tuple[str, int]] = []

    def add(self, step: str, ns: int) -> None:
        self.times.append((step, ns))

    def publish(self) -> None:
        """Add to this process's totals and write those of the steps that
        ran to the node's table (a set per item: the process owns them)."""
        pid = os.getpid()
        for step, ns in self.times:
            tot = _totals.get(self.route + sp.SEP + step)
            if tot is None:
                tot = _totals[self.route + sp.SEP + step] = [0, 0]
            tot[0] += ns
            tot[1] += 1
            KSR.htable.sht_seti(sp.TABLE, sp.key(self.route, step, pid, "us"),
                                sp.as_item(tot[0] // 1000))
            KSR.htable.sht_seti(sp.TABLE, sp.key(self.route, step, pid, "n"),
                                sp.as_item(tot[1]))


def sample(route: str) -> Sample | None:
    """A Sample for this run if it is the one in SAMPLE_EVERY to time."""
    global _countdown
    _countdown -= 1
    if _countdown:
        return None
    _countdown = sp.SAMPLE_EVERY
    return Sample(route)
