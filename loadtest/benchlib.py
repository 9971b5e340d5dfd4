"""What every benchmark of the load kit shares: a private edge on free
loopback ports (:class:`LocalEdge`), the SIPp driver (sipprun.py:
:func:`run_sipp`, :class:`UasPool`), the host's counters (hostobs.py), and
the observations that make a figure trustworthy (:func:`measure`): the server
processes' CPU per request, UDP receive errors of the host, retransmissions,
Redis round trips per request, and whether a load generator was saturated.

Benchmarks, not tests: nothing here asserts; it reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from edgecore.config import Config
# the benchmarks reach these as benchlib's (bl.UasPool, bl.SIPP_DIR...)
from loadtest.hostobs import anon_bytes, cpu_seconds, host_cpu, process_tree, udp_counters
from loadtest.sipprun import SIPP_DIR, SippRun, UasPool, percentile, run_sipp
from testkit.edge import Edge
from testkit.stacks import ephemeral_config

# a SIPp process above this share of one CPU may be what limits the rate
GENERATOR_SATURATED = 0.90


def bench_config(run_dir: Path, **sections: dict[str, Any]) -> Config:
    """The benchmarks' edge: free loopback ports, state in run_dir, more
    workers and memory than the suite's, quiet logs."""
    # media ports outside the kernel's ephemeral range and the suite's ranges
    cfg = ephemeral_config(run_dir, rtp_ports=(20000, 29999))
    cfg.sip.children = 4
    cfg.sip.log_level = 0
    cfg.sip.shm_mb = 512
    # the load generators are on loopback: listed like a production
    # monitoring/load source, so pike and bans do not cut the run short
    # (authentication and policy still apply to every request)
    cfg.security.exempt_sources = ["127.0.0.0/8"]
    for section, values in sections.items():
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    return cfg


class LocalEdge(Edge):
    """The test kit's :class:`~testkit.edge.Edge` with the benchmarks' config
    (:func:`bench_config`) and what they observe besides."""

    def __init__(self, run_dir: Path, nodes: int = 1, **sections: dict[str, Any]):
        super().__init__(run_dir, cfg=bench_config(run_dir, **sections), nodes=nodes)

    def wait_synced(self, timeout: float = 120) -> None:
        super().wait_synced(timeout)

    def wait_devices(self, auth_users: Sequence[str], present: bool = True,
                     timeout: float = 600) -> None:
        """Until the read model holds (or no longer holds) these devices, and
        the node has seen that version. One device per tenant is enough: the
        sync follower writes a tenant in one MULTI."""
        import redis

        from edgestore import readmodel as rmstore
        r = redis.Redis.from_url(self.cfg.redis.url, decode_responses=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                gen = r.get(rmstore.GEN_KEY)
                pipe = r.pipeline(transaction=False)
                for au in auth_users:
                    pipe.exists(rmstore.k_device(int(gen or 0), au))
                found = sum(pipe.execute()) if gen is not None else 0
                if found == (len(auth_users) if present else 0):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"read model: {found} of {len(auth_users)} devices "
                                       f"after {timeout:.0f}s")
                time.sleep(0.1)
        finally:
            r.close()
        self.wait_synced(timeout)

    def system(self) -> "System":
        """The edge as the benchmarks observe it: Kamailio and its workers,
        Redis and rtpengine (CPU), Redis (round trips)."""
        import redis

        st = self.stack
        return System("edge", self.target, lambda: {
            "kamailio": process_tree(st.kamailio.pid or 0), "redis": [st.redis.pid or 0],
            "rtpengine": [st.rtpengine.pid or 0]},
            redis.Redis.from_url(self.cfg.redis.url, decode_responses=True))

    def restart_kamailio(self) -> None:
        """A fresh Kamailio: empty location table and worker caches, its
        device cache filled from the read model (kemi/nodecache.py) -- as the
        baseline's credentials are loaded before it answers."""
        self.stack.kamailio.stop()
        self.stack.kamailio.start()
        self.wait_node_cache()

    def wait_node_cache(self, timeout: float = 120) -> None:
        """Until the node's device cache holds every device of the read model."""
        deadline = time.monotonic() + timeout
        while self.node_cache_pending() != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"device cache not filled after {timeout:.0f}s")
            time.sleep(0.05)

    def wait_notes_written(self, timeout: float = 120) -> None:
        """Until the node's timer process has written every note the SIP
        workers queued (registration counts, trust: kemi/htqueue.py) -- after
        a burst of first registrations it lags by seconds, and the queued
        notes sit in shared memory meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.rpc("htable.stats")
            queued = sum(int(t.get("all", 0)) for t in (stats if isinstance(stats, list) else [])
                         if isinstance(t, dict) and t.get("name") in ("edgeregq", "edgetrustq"))
            if queued == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def node_cache_bytes(self) -> int:
        """Shared memory the node's device cache holds: what emptying it frees
        (the node's timer fills it again within a poll or so)."""
        def used() -> int:
            return int(self.rpc("core.shmmem")["real_used"])
        before = used()
        self.rpc("htable.flush", "edgecache")
        freed = before - used()
        time.sleep(0.3)
        self.wait_node_cache()
        return freed


# -- one measured run -------------------------------------------------------------

@dataclass
class System:
    """A SIP server under test, as the benchmark observes it."""
    name: str
    target: str
    # every process doing its work, by component ("kamailio", "redis", ...)
    components: Callable[[], dict[str, list[int]]]
    redis: Any = None                         # a redis.Redis when it uses one


def redis_calls(r: Any) -> int:
    """Commands that reach Redis from the node (FCALL, GET...), so far."""
    if r is None:
        return 0
    stats = r.info("commandstats")
    return sum(int(v.get("calls", 0)) for k, v in stats.items()
               if k.startswith("cmdstat_fcall"))


@dataclass
class Measured:
    system: str
    rate: float                 # completed per second
    completed: int
    failed: int
    retransmissions: int
    elapsed: float
    limit: int                  # requests in flight (closed loop) or 0 (open loop)
    offered: float              # offered rate (open loop) or 0
    server_cpu_us: float        # server CPU per completed request (microseconds)
    server_cpu_share: float     # server CPU during the run, in CPUs
    cpu_us_by_component: dict[str, float]
    host_busy: float            # the whole host's CPU use during the run, 0..1
    generator_cpu: list[float]  # each SIPp process, share of one CPU
    udp_in_errors: int
    udp_rcvbuf_errors: int
    redis_per_exchange: float | None  # FCALLs per completed registration (2 SIP requests) or call (5)
    rtt_ms: list[float] = field(default_factory=list, repr=False)
    errors: list[str] = field(default_factory=list)

    @property
    def generator_saturated(self) -> bool:
        return any(c >= GENERATOR_SATURATED for c in self.generator_cpu)

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "rtt_ms"}
        d["generator_saturated"] = self.generator_saturated
        return d


def measure(system: System, scenario: Path, files: Sequence[Path], calls: int, workdir: Path,
            limit: int = 0, rate: float = 0, advertise: str | None = None,
            rtt: bool = False, extra: Sequence[str] = (),
            seconds: float | None = None) -> Measured:
    """One run against one system: closed loop (``limit`` in flight, as fast
    as it answers) or open loop (``rate`` offered), ``calls`` calls or for
    ``seconds``."""
    comps = system.components()
    udp0, r0, host0 = udp_counters(), redis_calls(system.redis), host_cpu()
    cpu0 = {k: cpu_seconds(v) for k, v in comps.items()}
    t0 = time.monotonic()
    run = run_sipp(system.target, files, calls, rate or 1_000_000, limit or 1_000_000, workdir,
                   scenario=scenario, advertise=advertise, rtt=rtt, extra=extra,
                   timeout=seconds or max(60, calls / 200))
    wall = time.monotonic() - t0
    by = {k: cpu_seconds(v) - cpu0[k] for k, v in comps.items()}
    cpu = sum(by.values())
    udp1, host1 = udp_counters(), host_cpu()
    done = max(1, run.successful)
    return Measured(
        system=system.name, rate=run.rate, completed=run.successful, failed=run.failed,
        retransmissions=run.retransmissions, elapsed=run.elapsed, limit=limit, offered=rate,
        server_cpu_us=cpu / done * 1e6, server_cpu_share=cpu / wall if wall else 0.0,
        cpu_us_by_component={k: round(v / done * 1e6, 1) for k, v in by.items()},
        host_busy=(1 - (host1[0] - host0[0]) / (host1[1] - host0[1])
                   if host1[1] > host0[1] else 0.0),
        generator_cpu=[round(c, 2) for c in run.cpu_share],
        udp_in_errors=udp1["InErrors"] - udp0["InErrors"],
        udp_rcvbuf_errors=udp1["RcvbufErrors"] - udp0["RcvbufErrors"],
        redis_per_exchange=((redis_calls(system.redis) - r0) / done
                           if system.redis is not None else None),
        rtt_ms=run.rtt_ms, errors=run.errors)


# a run that needed more retransmissions than this share of its requests was
# losing packets (a socket buffer overflowed): past what the server sustains
MAX_RETRANSMISSIONS = 0.01


def sustained(m: Measured) -> bool:
    """No failed call, and no more than 1% retransmitted."""
    return m.failed == 0 and m.completed > 0 and \
        m.retransmissions <= MAX_RETRANSMISSIONS * m.completed


def best(runs: Sequence[Measured]) -> Measured | None:
    """The fastest sustained run."""
    ok = [m for m in runs if sustained(m)]
    return max(ok, key=lambda m: m.rate) if ok else None


def capacity(run: Callable[[int], Measured], start: int, max_runs: int = 4,
             gain: float = 1.05) -> tuple[Measured, list[Measured]]:
    """The highest sustained rate (:func:`sustained`), by concurrency:
    ``run(limit)`` is a closed-loop run with ``limit`` requests in flight.
    From ``start``, doubles the limit while the rate grows by ``gain`` and
    the run is sustained; when the first doubling does not help, looks below
    the start the same way; when the start is not sustained, halves until a
    run is. Returns the best sustained run (else the last) and every run."""
    steps = [run(start)]

    def walk(factor: float) -> None:
        limit = start
        while len(steps) < max_runs:
            limit = int(limit * factor)
            if limit < 2:
                return
            top = best(steps)
            m = run(limit)
            steps.append(m)
            if top is None:              # going down from a failure: the first success
                if sustained(m):
                    return
                continue
            if not sustained(m) or m.rate < top.rate * gain:
                return

    if not sustained(steps[0]):
        walk(0.5)
    else:
        walk(2)
        if best(steps) is steps[0]:
            walk(0.5)
    top = best(steps)
    if top is None:
        return steps[-1], steps
    # on a plateau (within `gain` of the top) the fewest in flight wins: more
    # concurrency there only adds queueing
    plateau = [m for m in steps if sustained(m) and m.rate * gain >= top.rate]
    return min(plateau, key=lambda m: m.limit), steps


# -- the edge's per-step profile (edgecore/stepprofile.py) ----------------------------

def step_snapshot(rpc: Callable[..., Any]) -> dict[tuple[str, str, str, str], int]:
    """The node's ``edgeprof`` table now (empty when it cannot be read)."""
    from edgecore import stepprofile
    from edgectl import counters

    try:
        return stepprofile.snapshot(counters.table_items(rpc("htable.dump", stepprofile.TABLE)))
    except Exception:
        return {}


def step_lines(rows: Sequence[dict[str, Any]], limit: int = 12) -> list[str]:
    """The busiest steps, one line each: estimated Python microseconds per
    completed request, route runs per request, mean microseconds per run."""
    out = []
    for r in list(rows)[:limit]:
        out.append(f"  {r['us_per_request']:7.1f} us/req  {r['runs_per_request']:5.2f} runs/req "
                   f" {r['us_per_run']:6.1f} us/run  {r['route']}: {r['step']}")
    return out

