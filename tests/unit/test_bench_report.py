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
