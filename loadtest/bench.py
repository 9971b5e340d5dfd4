#!/usr/bin/env python3
"""`make bench`: the edge against native Kamailio, side by side, in one run.

Starts a private edge (PostgreSQL, Redis, rtpengine, sync follower, Kamailio
with the KEMI routing) and the native yardstick (loadtest/baseline/
kamailio.cfg, sharing the edge's rtpengine) on free loopback ports, and for
each data shape -- 1k, 10k and 100k provisioned devices in 100 tenants, and
100k devices in 10,000 tenants -- provisions the devices (edgectl.loadkit),
gives the baseline the same HA1s, and measures on both, one after the other:

* a first registration of every device (memory per registered device:
  Kamailio shared memory + Redis, after / before);
* REGISTER with digest: the highest sustained rate -- no failed
  registration, at most 1% retransmitted (closed loop, concurrency stepped
  up until the rate stops growing),
  devices drawn at random from the whole data set;
* call setups: INVITE, 407, INVITE with credentials, 200, ACK, BYE, from
  callers behind NAT (private Contact/SDP address) so both anchor media in
  rtpengine (offer, answer, delete), to SIPp devices that answer;
* at the headline shape, REGISTER latency (p50/p99) at a fixed offered rate,
  and call setups without NAT (signalling only) for reference;
* at the headline shape, the floor: the baseline's own routes run as Python
  KEMI (loadtest/baseline/twin.py, a third system in the same runs) -- what
  interpreting a route in Python costs by itself, beside the targets.

Each figure is the best of ``--rounds`` interleaved runs (edge, baseline,
edge, baseline...), because the machine may be shared. Every run records the
server processes' CPU per request (by component), the host's CPU use, each
SIPp process's CPU (a generator near one full CPU may be the bottleneck), UDP
receive errors and retransmissions. Prints a table with each target and
pass/short, and writes everything to loadtest/results/bench-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgecore import stepprofile  # noqa: E402
from edgectl import loadkit  # noqa: E402
from loadtest import bench_ranges  # noqa: E402
from loadtest import benchlib as bl  # noqa: E402
from loadtest.baseline import Baseline, credentials, write_credentials  # noqa: E402
from loadtest.bench_report import (NAT_ADDRESS, TARGETS, _k, _ms,  # noqa: E402
                                   generator_summary, report)

RESULTS = ROOT / "loadtest" / "results"
REGISTER = bl.SIPP_DIR / "register.xml"
CALL = bl.SIPP_DIR / "uac_setup.xml"
HANGUP_AT_ONCE = ["-d", "0"]


@dataclass(frozen=True)
class ShapeSpec:
    key: str
    tenants: int
    per_tenant: int

    @property
    def devices(self) -> int:
        return self.tenants * self.per_tenant

    @property
    def label(self) -> str:
        return f"{_k(self.devices)} devices / {_k(self.tenants)} tenants"


SHAPES = (ShapeSpec("1k", 100, 10), ShapeSpec("10k", 100, 100), ShapeSpec("100k", 100, 1000),
          ShapeSpec("100k/10000t", 10000, 10))
# --smoke: the same run on tiny data, to check the benchmark itself in a minute
SMOKE_SHAPES = (ShapeSpec("1k", 10, 10), ShapeSpec("10k", 10, 20), ShapeSpec("100k", 10, 50),
                ShapeSpec("100k/10000t", 100, 4))
HEADLINE = "10k"
MEMORY_SHAPE = "100k"


def probes(shape: loadkit.Shape) -> list[str]:
    """One auth username per tenant (the last device of each)."""
    from edgectl.provision import default_auth_username

    last = str(loadkit.FIRST_EXTENSION + shape.devices_per_tenant - 1)
    return [default_auth_username(t, last) for t in shape.tenant_ids()]



def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the two systems --------------------------------------------------------------

@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    edge: bl.LocalEdge
    uas: bl.UasPool
    results: dict[str, Any] = field(default_factory=dict)

    def baseline_system(self, base: Baseline, name: str = "baseline") -> bl.System:
        st = self.edge.stack
        return bl.System(name, base.target, lambda: {
            "kamailio": bl.process_tree(base.pid or 0), "rtpengine": [st.rtpengine.pid or 0]})

    # -- memory ----------------------------------------------------------------------
    def redis_used(self) -> int:
        import redis

        r = redis.Redis.from_url(self.edge.cfg.redis.url)
        try:
            return int(r.info("memory")["used_memory"])
        finally:
            r.close()

    @staticmethod
    def shm_used(rpc: Callable[..., Any]) -> int:
        return int(rpc("core.shmmem")["real_used"])

    @staticmethod
    def contacts(rpc: Callable[..., Any]) -> int:
        for line in rpc("stats.get_statistics", "location_contacts") or []:
            return int(str(line).rsplit("=", 1)[1])
        return 0

    # -- one shape -----------------------------------------------------------------
    def shape(self, spec: ShapeSpec, previous: loadkit.Shape | None) -> dict[str, Any]:
        a, cfg = self.args, self.edge.cfg
        out: dict[str, Any] = {"tenants": spec.tenants, "devices": spec.devices}
        if previous is not None:
            loadkit.remove(cfg, previous.tenant_ids())
            self.edge.wait_devices(probes(previous), present=False)
        shape = loadkit.Shape(spec.tenants, spec.per_tenant)
        redis0 = self.redis_used()
        t0 = time.monotonic()
        loadkit.provision(cfg, shape)
        out["provision_s"] = round(time.monotonic() - t0, 2)
        t0 = time.monotonic()
        self.edge.wait_devices(probes(shape))
        out["sync_s"] = round(time.monotonic() - t0, 2)
        log(f"{spec.label}: provisioned in {out['provision_s']}s, in the read model "
            f"{out['sync_s']}s later")
        self.edge.restart_kamailio()
        esys = self.edge.system()
        kam = self.edge.stack.kamailio
        shm0, anon0 = self.shm_used(kam.rpc), bl.anon_bytes(esys.components()["kamailio"])
        redis_model = self.redis_used()         # the read model: per provisioned device

        base = Baseline(cfg, self.work / f"baseline-{spec.key.replace('/', '-')}")
        creds = credentials(cfg, shape.tenant_ids())
        write_credentials(base.creds_dir, creds)
        base.start(timeout=120)
        twin = None
        try:
            bsys = self.baseline_system(base)
            # the headline's floor: the baseline's own routes run as Python KEMI
            # (loadtest/baseline/twin.py) -- what the interpreter costs by itself
            floor: list[bl.System] = []
            if spec.key == a.headline:
                twin = Baseline(cfg, self.work / "twin", kemi=True)
                write_credentials(twin.creds_dir, creds)
                twin.start(timeout=120)
                floor = [self.baseline_system(twin, "twin")]
            loaded = base.credentials_loaded()
            if loaded != spec.devices:
                raise SystemExit(f"baseline loaded {loaded} credentials, expected {spec.devices}")
            bshm0 = self.shm_used(base.rpc)
            rows = loadkit.device_rows(cfg, shape.tenant_ids())
            work = self.work / "sipp"
            work.mkdir(exist_ok=True)

            # every device registers once (its contact: one of the answering UASs)
            first = loadkit.split(loadkit.register_csv(
                loadkit.shuffled(rows), contacts=self.uas.addresses, expires=3600),
                a.procs, work / "first.csv")
            passes = {}
            for s in (esys, bsys, *floor):
                m = bl.measure(s, REGISTER, first, len(rows), work, limit=a.reg_limit)
                passes[s.name] = m
                log(f"  first registration of {len(rows)} devices, {s.name}: "
                    f"{m.rate:,.0f}/s, {m.failed} failed")
            out["first_registration"] = {k: v.as_dict() for k, v in passes.items()}
            # steady state: the notes the burst queued for the timer written
            # (Redis holds the counts, the note queues are empty again)
            self.edge.wait_notes_written()
            e_contacts, b_contacts = self.contacts(kam.rpc), self.contacts(base.rpc)
            dredis, dshm = self.redis_used() - redis0, self.shm_used(kam.rpc) - shm0
            # the device cache was filled before shm0 (restart_kamailio): counted here
            cache_bytes = self.edge.node_cache_bytes()
            dshm += cache_bytes
            danon = bl.anon_bytes(esys.components()["kamailio"]) - anon0
            out["memory"] = {
                "registered": e_contacts, "baseline_registered": b_contacts,
                "redis_bytes": dredis, "kamailio_shm_bytes": dshm,
                "bytes_per_device": (dredis + dshm) / max(1, e_contacts),
                "redis_per_device": dredis / max(1, e_contacts),
                "shm_per_device": dshm / max(1, e_contacts),
                "node_cache_per_device": cache_bytes / max(1, e_contacts),
                # the same total split: what every provisioned device costs
                # (the read model, the node's device cache) and what its
                # registration adds (Redis: the listing and trust; shm: usrloc...)
                "read_model_per_device": (redis_model - redis0) / max(1, len(rows)),
                "registration_per_device": (dredis - (redis_model - redis0) + dshm - cache_bytes)
                / max(1, e_contacts),
                "worker_heap_per_device": danon / max(1, e_contacts),
                "baseline_shm_per_device": (self.shm_used(base.rpc) - bshm0) / max(1, b_contacts),
            }

            # REGISTER: highest rate without failures, devices at random
            reg = loadkit.split(loadkit.register_csv(
                loadkit.shuffled(rows, seed=2), contacts=self.uas.addresses, expires=3600,
                order="RANDOM"), a.procs, work / "reg.csv")
            out["register"] = self.compare(
                "REGISTER", [esys, bsys, *floor], lambda s, lim: bl.measure(
                    s, REGISTER, reg, a.reg_calls, work, limit=lim), a.reg_limit)

            # call setups, NATed callers: both anchor media in rtpengine
            pairs = [(c, e[1]) for c, e in loadkit.call_pairs(rows)]
            calls = loadkit.split(loadkit.calls_csv(pairs, order="RANDOM",
                                                    private_address=NAT_ADDRESS),
                                  a.procs, work / "calls.csv")
            for s in (esys, bsys, *floor):      # warm-up: transactions, rtpengine ports, caches
                bl.measure(s, CALL, calls, min(1000, len(pairs)), work, limit=25,
                           extra=HANGUP_AT_ONCE)
            out["calls"] = self.compare(
                "call setup (NATed caller, rtpengine)", [esys, bsys, *floor],
                lambda s, lim: bl.measure(s, CALL, calls, a.call_calls, work, limit=lim,
                                          extra=HANGUP_AT_ONCE), a.call_limit)

            if spec.key == a.headline:
                out["latency"] = {}
                for s in (esys, bsys):
                    m = bl.measure(s, REGISTER, reg, int(a.latency_rate * a.latency_seconds),
                                   work, rate=a.latency_rate, rtt=True)
                    out["latency"][s.name] = {
                        "offered": a.latency_rate, "p50_ms": bl.percentile(m.rtt_ms, 50),
                        "p99_ms": bl.percentile(m.rtt_ms, 99), "samples": len(m.rtt_ms),
                        "run": m.as_dict()}
                    log(f"  REGISTER latency at {a.latency_rate:,.0f}/s, {s.name}: "
                        f"p50 {_ms(out['latency'][s.name]['p50_ms'])} ms, "
                        f"p99 {_ms(out['latency'][s.name]['p99_ms'])} ms, {m.failed} failed")
                plain = loadkit.split(loadkit.calls_csv(pairs, order="RANDOM"), a.procs,
                                      work / "plain.csv")
                out["calls_no_nat"] = self.compare(
                    "call setup (no NAT, signalling only)", [esys, bsys, *floor],
                    lambda s, lim: bl.measure(s, CALL, plain, a.call_calls * 2, work,
                                              limit=lim, extra=HANGUP_AT_ONCE), a.call_limit)
        finally:
            base.stop()
            if twin is not None:
                twin.stop()
        return out

    def compare(self, what: str, systems: Sequence[bl.System],
                run: Callable[[bl.System, int], bl.Measured], start: int) -> dict[str, Any]:
        """Capacity of each system: the concurrency search, then more rounds at
        the best concurrency, interleaved; the best sustained run counts."""
        before = bl.step_snapshot(self.edge.stack.kamailio.rpc)
        found = {s.name: bl.capacity(lambda lim, s=s: run(s, lim), start)  # type: ignore[misc]
                 for s in systems}
        for _ in range(max(0, self.args.rounds - 1)):
            for s in systems:
                best, steps = found[s.name]
                steps.append(run(s, best.limit))
                found[s.name] = (bl.best(steps) or best, steps)
        res: dict[str, Any] = {}
        # the edge's Python per step over all its runs here (the edge is idle
        # during the baseline's): edgecore/stepprofile.py
        res["edge_steps"] = stepprofile.per_request(
            before, bl.step_snapshot(self.edge.stack.kamailio.rpc),
            sum(m.completed for m in found["edge"][1]))
        for s in systems:
            best, steps = found[s.name]
            res[s.name] = {"best": best.as_dict(), "runs": [m.as_dict() for m in steps]}
            log(f"  {what}, {s.name}: {best.rate:,.0f}/s at {best.limit} in flight "
                f"({best.server_cpu_us:,.0f} us CPU each), {best.failed} failed, "
                f"{best.retransmissions} retransmissions")
        e, b = res["edge"]["best"], res["baseline"]["best"]
        res["ratio"] = e["rate"] / b["rate"] if b["rate"] else 0.0
        res["cpu_ratio"] = b["server_cpu_us"] / e["server_cpu_us"] if e["server_cpu_us"] else 0.0
        if "twin" in res:           # the floor: the baseline's routes in Python, vs native
            t = res["twin"]["best"]
            res["floor_ratio"] = t["rate"] / b["rate"] if b["rate"] else 0.0
            res["floor_cpu_ratio"] = b["server_cpu_us"] / t["server_cpu_us"] if t["server_cpu_us"] else 0.0
        return res


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--procs", type=int, default=2, help="SIPp processes per run")
    ap.add_argument("--rounds", type=int, default=2, help="runs per figure (best counts)")
    ap.add_argument("--reg-calls", type=int, default=30000, help="registrations per run")
    ap.add_argument("--reg-limit", type=int, default=100,
                    help="first concurrency tried for REGISTER (doubled while it helps)")
    ap.add_argument("--call-calls", type=int, default=3000, help="calls per run")
    ap.add_argument("--call-limit", type=int, default=25,
                    help="first concurrency tried for calls")
    ap.add_argument("--latency-rate", type=float, default=2000,
                    help="offered REGISTER/s of the latency run")
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--shapes", default=",".join(s.key for s in SHAPES),
                    help="subset of " + ",".join(s.key for s in SHAPES))
    ap.add_argument("--headline", default=HEADLINE)
    ap.add_argument("--json", type=Path, help="result file (default loadtest/results/)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny data and short runs: checks the benchmark, measures nothing")
    a = ap.parse_args(argv)
    if a.smoke:
        a.rounds, a.reg_calls, a.call_calls, a.latency_seconds = 1, 3000, 500, 2
    if shutil.which("sipp") is None:
        ap.error("sipp not found (Debian package sip-tester)")
    wanted = a.shapes.split(",")
    specs = [s for s in (SMOKE_SHAPES if a.smoke else SHAPES) if s.key in wanted]
    for must in ("1k", "100k", a.headline):
        if must not in wanted:
            ap.error(f"--shapes must include {must} (headline, memory and scaling figures)")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    res: dict[str, Any] = {
        "started": started, "args": vars(a) | {"json": str(a.json or "")},
        "host": {"cpus": os.cpu_count(), "load_before": _load(), "kernel": platform.release()},
        "headline": a.headline, "memory_shape": MEMORY_SHAPE, "targets": TARGETS,
        "nat_address": NAT_ADDRESS, "shapes": {}}
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench") as d:
        work = Path(d)
        log("starting the edge (PostgreSQL, Redis, rtpengine, sync, Kamailio)")
        with bl.LocalEdge(work / "edge") as edge, bl.UasPool(2, work) as uas:
            bench = Bench(a, work, edge, uas)
            previous = None
            for spec in specs:
                res["shapes"][spec.key] = bench.shape(spec, previous)
                previous = loadkit.Shape(spec.tenants, spec.per_tenant)
        log("global number lookup (edge_call) with 1k ... 1M ranges of 10,000 tenants")
        res["ranges"] = bench_ranges.measure(work, lookups=2000 if a.smoke else 20000)
    res["host"]["load_after"] = _load()
    res["seconds"] = round(time.monotonic() - t_start)
    res["generator"] = generator_summary(res["shapes"])
    lines = report(res)
    res["table"] = lines
    out = a.json or RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1, default=str))
    print()
    print("\n".join(lines))
    print(f"\n{res['seconds']}s; details: {out}")
    return 0


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
