"""loadtest/bench.py's report: the targets (issue 19) and the table of
figures, edge against baseline, each with its verdict."""

from __future__ import annotations

from typing import Any, Sequence

from edgecore import stepprofile
from loadtest import bench_ranges
from loadtest import benchlib as bl

NAT_ADDRESS = "192.168.77.10"        # what the NATed callers put in Contact and SDP

TARGETS = {
    "register_ratio": 0.90,
    "call_ratio": 0.80,
    # CPU per request, baseline/edge (issue 19): edge <= 1.33x native per REGISTER
    "register_cpu_ratio": 0.75,
    "call_cpu_ratio": 0.80,
    "no_nat_cpu_ratio": 0.70,
    # a cold node: the first registration of devices it has not seen
    "first_registration_ratio": 0.70,
    "bytes_per_device": 1500,
    # 1k -> 100k devices, and 100 -> 10,000 tenants (100k devices each)
    "max_ratio_drop": 0.10,
}


def _k(n: float) -> str:
    return f"{n / 1000:g}k" if n >= 1000 else f"{n:g}"


def verdict(ok: bool) -> str:
    return "pass" if ok else "SHORT"


def cpu_row(label: str, r: dict[str, Any], target: float) -> tuple[str, ...]:
    """A headline row: server CPU per request, edge and baseline, and their
    ratio (baseline/edge: 1.0 is native cost) against ``target``."""
    e, b = r["edge"]["best"], r["baseline"]["best"]
    return (label, f"{e['server_cpu_us']:,.0f} us", f"{b['server_cpu_us']:,.0f} us",
            f"{r['cpu_ratio']:.2f}", f">= {target:.2f}", verdict(r["cpu_ratio"] >= target))


def floor_rows(head: dict[str, Any]) -> list[tuple[str, ...]]:
    """The twin's (loadtest/baseline/twin.py) CPU per request beside the
    baseline's, for the figures the edge has a CPU target on; and the edge's
    beside the twin's: what the edge's own work costs above the floor."""
    rows: list[tuple[str, ...]] = []
    for key, label, target in (("register", "CPU per REGISTER request", "register_cpu_ratio"),
                               ("calls", "CPU per NATed call", "call_cpu_ratio"),
                               ("calls_no_nat", "CPU per call without NAT", "no_nat_cpu_ratio")):
        r = head.get(key, {})
        if "twin" not in r:
            continue
        t, b, e = r["twin"]["best"], r["baseline"]["best"], r["edge"]["best"]
        rows.append((label, f"{t['server_cpu_us']:,.0f} us", f"{b['server_cpu_us']:,.0f} us",
                     f"{r['floor_cpu_ratio']:.2f}", f">= {TARGETS[target]:.2f}",
                     f"{e['server_cpu_us']:,.0f} us",
                     f"{t['server_cpu_us'] / e['server_cpu_us']:.2f}" if e["server_cpu_us"] else ""))
    return rows


def report(res: dict[str, Any]) -> list[str]:
    shapes = res["shapes"]
    head = shapes[res["headline"]]
    mem = shapes[res["memory_shape"]]["memory"]
    lines = []
    h = res["host"]
    lines.append(f"SIP edge vs native Kamailio -- {res['started']}, {h['cpus']} CPUs, load "
                 f"{h['load_before']} -> {h['load_after']} (a shared machine makes rates noisy; "
                 f"CPU per request is the steadier figure)")
    lines.append(f"REGISTER: digest, 2 round trips, no NAT. Calls: caller behind NAT "
                 f"(Contact/SDP {NAT_ADDRESS}), so both anchor media in rtpengine.")
    lines.append("")
    cols = ("figure", "edge", "baseline", "ratio", "target", "result")
    rows: list[tuple[str, ...]] = []
    reg, calls = head["register"], head["calls"]

    def rate_row(label: str, r: dict[str, Any], target: float) -> tuple[str, ...]:
        e, b = r["edge"]["best"], r["baseline"]["best"]
        return (label, f"{e['rate']:,.0f}/s", f"{b['rate']:,.0f}/s", f"{r['ratio']:.2f}",
                f">= {target:.2f}", verdict(r["ratio"] >= target))

    n = _k(head["devices"])
    rows.append(rate_row(f"REGISTER/s, digest ({n} devices)", reg, TARGETS["register_ratio"]))
    rows.append(cpu_row("  CPU per REGISTER request", reg, TARGETS["register_cpu_ratio"]))
    rows.append(rate_row("call setups/s (auth+lookup+policy+rtpengine)", calls,
                         TARGETS["call_ratio"]))
    rows.append(cpu_row("  CPU per call", calls, TARGETS["call_cpu_ratio"]))
    if "calls_no_nat" in head:
        r = head["calls_no_nat"]
        rows.append(("  call setups/s without NAT (info)", f"{r['edge']['best']['rate']:,.0f}/s",
                     f"{r['baseline']['best']['rate']:,.0f}/s", f"{r['ratio']:.2f}", "", ""))
        rows.append(cpu_row("  CPU per call without NAT", r, TARGETS["no_nat_cpu_ratio"]))
    if "latency" in head:
        le, lb = head["latency"]["edge"], head["latency"]["baseline"]
        rows.append((f"REGISTER latency p50 / p99 at {le['offered']:,.0f}/s",
                     f"{_ms(le['p50_ms'])} / {_ms(le['p99_ms'])} ms",
                     f"{_ms(lb['p50_ms'])} / {_ms(lb['p99_ms'])} ms", "", "", ""))
    fr = head.get("first_registration")
    if fr:
        e, b = fr["edge"]["rate"], fr["baseline"]["rate"]
        ratio = e / b if b else 0.0
        rows.append((f"first registration of {n} devices/s (cold node)", f"{e:,.0f}/s",
                     f"{b:,.0f}/s", f"{ratio:.2f}",
                     f">= {TARGETS['first_registration_ratio']:.2f}",
                     verdict(ratio >= TARGETS["first_registration_ratio"])))
    bpd = mem["bytes_per_device"]
    rows.append((f"memory per registered device ({_k(mem['registered'])})", f"{bpd:,.0f} B",
                 f"{mem['baseline_shm_per_device']:,.0f} B", "",
                 f"<= {TARGETS['bytes_per_device']} B",
                 verdict(bpd <= TARGETS["bytes_per_device"])))
    rows.append(("  Redis + Kamailio shm", f"{mem['redis_per_device']:,.0f} + "
                 f"{mem['shm_per_device']:,.0f} B", "shm only", "", "", ""))
    if "registration_per_device" in mem:
        rows.append(("  per provisioned device: read model + device cache",
                     f"{mem['read_model_per_device']:,.0f} + "
                     f"{mem['node_cache_per_device']:,.0f} B", "", "", "", ""))
        rows.append(("  what registering adds", f"{mem['registration_per_device']:,.0f} B",
                     f"{mem['baseline_shm_per_device']:,.0f} B", "", "", ""))
    rows.append(("  workers' private heaps (not in the target)",
                 f"{mem['worker_heap_per_device']:,.0f} B", "", "", "", ""))
    for a, b, what in (("1k", "100k", "1k -> 100k devices"),
                       ("100k", "100k/10000t", "100 -> 10k tenants")):
        if a not in shapes or b not in shapes:
            continue
        for key, label in (("register", "REGISTER"), ("calls", "call setup")):
            first, last = shapes[a][key]["ratio"], shapes[b][key]["ratio"]
            drop = (first - last) / first if first else 0.0
            rows.append((f"{label} ratio drop, {what}", f"{first:.2f} -> {last:.2f}",
                         "", f"{drop:+.0%}", f"<= {TARGETS['max_ratio_drop']:.0%}",
                         verdict(drop <= TARGETS["max_ratio_drop"])))
    if "ranges" in res:
        rg = res["ranges"]
        lo, hi = rg[str(bench_ranges.SIZES[0])], rg[str(bench_ranges.SIZES[-1])]
        rows.append((f"number lookup p50, {_k(bench_ranges.SIZES[0])} -> "
                     f"{_k(bench_ranges.SIZES[-1])} ranges", f"{lo['p50_us']:,.0f} -> "
                     f"{hi['p50_us']:,.0f} us", "", f"x{rg['growth']:.2f}", "flat (info)", ""))
    lines += _table(cols, rows)
    floor = floor_rows(head)
    if floor:
        lines.append("")
        lines.append("The floor: the baseline's own routes, statement for statement, run as Python "
                     "KEMI (loadtest/baseline/twin.py) -- what interpreting them costs by itself; "
                     "an edge doing more than the baseline in Python cannot do better than this:")
        lines += _table(("figure", "Python twin", "baseline", "ratio", "edge's target", "edge",
                         "twin/edge"), floor)
    lines.append("")
    lines.append("Scaling (edge/baseline rate ratio; CPU ratio; edge Redis round trips per "
                 "registration (2 SIP requests) and per call (5)):")
    scols = ("shape", "REGISTER", "cpu", "redis/reg", "calls", "cpu", "redis/call",
             "bytes/device")
    srows = []
    for key, s in shapes.items():
        r, c = s["register"], s["calls"]
        srows.append((key + f" ({_k(s['tenants'])} tenants)", f"{r['ratio']:.2f}",
                      f"{r['cpu_ratio']:.2f}",
                      f"{r['edge']['best']['redis_per_exchange']:.2f}", f"{c['ratio']:.2f}",
                      f"{c['cpu_ratio']:.2f}", f"{c['edge']['best']['redis_per_exchange']:.2f}",
                      f"{s['memory']['bytes_per_device']:,.0f}"))
    lines += _table(scols, srows)
    lines.append("")
    for key, label in (("register", "registration (2 SIP requests)"),
                       ("calls", "NATed call"), ("calls_no_nat", "call without NAT")):
        steps = head.get(key, {}).get("edge_steps")
        if steps:
            lines.append(f"Edge Python per {label}, by step ({res['headline']}; CPU, 1 run "
                         f"in {stepprofile.SAMPLE_EVERY} timed, edgecore/stepprofile.py):")
            lines += bl.step_lines(steps)
            lines.append("")
    g = res["generator"]
    lines.append(f"Load generator: {res['args']['procs']} SIPp processes per run, busiest at "
                 f"{g['max_cpu']:.0%} of a CPU ({'SATURATED: figures may be the generator' if g['saturated'] else 'not saturated'}); "
                 f"in the measured runs UDP InErrors {g['udp_in_errors']}, RcvbufErrors "
                 f"{g['udp_rcvbuf_errors']}, retransmissions {g['retransmissions']}, "
                 f"failed {g['failed']}.")
    return lines


def _ms(v: float) -> str:
    """SIPp measures response times in whole milliseconds."""
    return "<1" if v < 1 else f"{v:g}"


def _table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    return out


def generator_summary(shapes: dict[str, Any]) -> dict[str, Any]:
    """Over every measured (best) run: the busiest SIPp process, UDP errors,
    retransmissions and failures."""
    runs = []
    for s in shapes.values():
        for key in ("register", "calls", "calls_no_nat"):
            if key in s:
                runs += [s[key][n]["best"] for n in ("edge", "baseline")]
    cpu = max((c for r in runs for c in r["generator_cpu"]), default=0.0)
    return {"max_cpu": cpu, "saturated": cpu >= bl.GENERATOR_SATURATED,
            "udp_in_errors": sum(r["udp_in_errors"] for r in runs),
            "udp_rcvbuf_errors": sum(r["udp_rcvbuf_errors"] for r in runs),
            "retransmissions": sum(r["retransmissions"] for r in runs),
            "failed": sum(r["failed"] for r in runs)}
