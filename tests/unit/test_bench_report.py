"""loadtest/bench.py's headline (its report: loadtest/bench_report.py): CPU
per request is a figure with a target (issue 19), judged like the rates."""

from __future__ import annotations

from loadtest import bench_report


def _compared(edge_us: float, base_us: float) -> dict:
    return {"edge": {"best": {"server_cpu_us": edge_us}},
            "baseline": {"best": {"server_cpu_us": base_us}},
            "cpu_ratio": base_us / edge_us}


def test_cpu_per_request_rows_carry_their_target_and_verdict():
    row = bench_report.cpu_row("  CPU per REGISTER request", _compared(48, 25),
                               bench_report.TARGETS["register_cpu_ratio"])
    assert row == ("  CPU per REGISTER request", "48 us", "25 us", "0.52", ">= 0.75", "SHORT")
    row = bench_report.cpu_row("  CPU per call", _compared(700, 617),
                               bench_report.TARGETS["call_cpu_ratio"])
    assert row[3:] == ("0.88", ">= 0.80", "pass")


def test_targets_are_those_of_issue_19():
    t = bench_report.TARGETS
    assert (t["register_cpu_ratio"], t["call_cpu_ratio"], t["no_nat_cpu_ratio"]) == (0.75, 0.80, 0.70)
    assert (t["register_ratio"], t["call_ratio"], t["first_registration_ratio"]) == (0.90, 0.80, 0.70)
    assert (t["bytes_per_device"], t["max_ratio_drop"]) == (1500, 0.10)


def _shape(devices: int, tenants: int, reg_ratio: float) -> dict:
    side = {"best": {"rate": 1000.0, "server_cpu_us": 100.0, "redis_per_exchange": 0.0}}
    pair = {"edge": side, "baseline": side, "ratio": reg_ratio, "cpu_ratio": 0.5}
    return {"devices": devices, "tenants": tenants, "register": pair,
            "calls": dict(pair, ratio=0.5),
            "memory": {"bytes_per_device": 1400.0, "registered": devices,
                       "baseline_shm_per_device": 984.0, "redis_per_device": 400.0,
                       "shm_per_device": 1000.0, "worker_heap_per_device": 1100.0}}


def test_the_report_judges_the_cold_node_and_the_tenant_spread():
    res = {"started": "now", "host": {"cpus": 2, "load_before": "0", "load_after": "0"},
           "headline": "10k", "memory_shape": "100k", "args": {"procs": 2},
           "generator": {"max_cpu": 0.5, "saturated": False, "udp_in_errors": 0,
                         "udp_rcvbuf_errors": 0, "retransmissions": 0, "failed": 0},
           "shapes": {"1k": _shape(1000, 100, 0.50), "10k": _shape(10_000, 100, 0.48),
                      "100k": _shape(100_000, 100, 0.46),
                      "100k/10000t": _shape(100_000, 10_000, 0.40)}}
    res["shapes"]["10k"]["first_registration"] = {"edge": {"rate": 7000.0},
                                                  "baseline": {"rate": 10000.0}}
    lines = bench_report.report(res)
    row = [ln for ln in lines if ln.startswith("first registration of 10k")]
    assert len(row) == 1 and "7,000/s" in row[0] and row[0].rstrip().endswith("pass")
    memory = [ln for ln in lines if ln.startswith("memory per registered device")]
    assert "<= 1500 B" in memory[0] and memory[0].rstrip().endswith("pass")
    devices = [ln for ln in lines if ln.startswith("REGISTER ratio drop, 1k -> 100k devices")]
    tenants = [ln for ln in lines if ln.startswith("REGISTER ratio drop, 100 -> 10k tenants")]
    assert devices[0].rstrip().endswith("pass")       # -8%
    assert tenants[0].rstrip().endswith("SHORT")      # -13%


def test_the_floor_is_the_twin_beside_the_baseline_with_the_edges_targets():
    reg = dict(_compared(187, 46), twin={"best": {"server_cpu_us": 80.0}}, floor_cpu_ratio=46 / 80)
    rows = bench_report.floor_rows({"register": reg, "calls": _compared(1700, 1000)})
    # only the figures measured with the twin: a shape without one has no floor
    assert rows == [("CPU per REGISTER request", "80 us", "46 us", "0.57", ">= 0.75", "187 us",
                     "0.43")]
    assert bench_report.floor_rows({"register": _compared(187, 46)}) == []


def test_memory_is_split_into_per_provisioned_device_and_what_registering_adds():
    res = {"started": "now", "host": {"cpus": 2, "load_before": "0", "load_after": "0"},
           "headline": "10k", "memory_shape": "100k", "args": {"procs": 2},
           "generator": {"max_cpu": 0.5, "saturated": False, "udp_in_errors": 0,
                         "udp_rcvbuf_errors": 0, "retransmissions": 0, "failed": 0},
           "shapes": {"10k": _shape(10_000, 100, 0.48), "100k": _shape(100_000, 100, 0.46)}}
    res["shapes"]["100k"]["memory"].update(read_model_per_device=450.0,
                                           node_cache_per_device=184.0,
                                           registration_per_device=1500.0)
    lines = bench_report.report(res)
    split = [ln for ln in lines if "per provisioned device" in ln]
    adds = [ln for ln in lines if ln.startswith("  what registering adds")]
    assert "450 + 184 B" in split[0] and "1,500 B" in adds[0] and "984 B" in adds[0]
    # a result without the split (an older run's JSON) prints without it
    del res["shapes"]["100k"]["memory"]["registration_per_device"]
    assert not [ln for ln in bench_report.report(res) if "registering adds" in ln]
