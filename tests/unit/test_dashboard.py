"""The Grafana dashboard plots only metrics the stack exports: the workers'
counters (edgecore.metrics), the exporter's gauges (edgectl.ops) and
Kamailio's statistics (kamailio_<group>_<name> of the groups exported)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from edgecore import metrics
from edgectl import ops

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "edge-dashboard.json"
PROMQL_WORDS = {"sum", "by", "rate", "topk", "class", "result", "tenant", "rule", "kind",
                "reason", "member", "state", "node", "m"}


def exported_names() -> set[str]:
    names = {f"edge_{n}_total" for n in metrics.COUNTERS}
    for src in sorted((ROOT / "edgectl" / "ops").glob("*.py")):
        names |= set(re.findall(r'"(edge_[a-z_]+)"', src.read_text()))
    names |= {"edge_cdr_shipped_total", "edge_cdr_ship_failures_total"}
    return names


def test_every_panel_plots_an_exported_metric():
    d = json.loads(DASHBOARD.read_text())
    assert d["panels"]
    known = exported_names()
    for p in d["panels"]:
        for t in p["targets"]:
            words = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", re.sub(r'"[^"]*"', "", t["expr"])))
            used = words - PROMQL_WORDS
            assert used, p["title"]
            for name in used:
                if name.startswith("kamailio_"):
                    assert name.split("_")[1] in ops.KAMAILIO_GROUPS, (p["title"], name)
                else:
                    assert name in known, (p["title"], name)


def test_counters_cover_what_ops_asked_for():
    assert {"registrations", "auth_failures", "call_attempts", "call_outcomes",
            "policy_denials", "bans"} <= set(metrics.COUNTERS)
    for _, labels in metrics.COUNTERS.values():
        assert not set(labels) & {"device", "number", "user", "address", "ip"}


# -- the registration totals: the location table's own statistics, once on a cluster ----

def test_location_totals_are_the_largest_nodes_not_the_sum():
    # DMQ gives every node every contact; node 2 has not yet seen the newest
    one = {ops.LOCATION_CONTACTS: 100000.0, ops.LOCATION_AORS: 2000.0, "core_rcv_requests": 5.0}
    two = {ops.LOCATION_CONTACTS: 99999.0, ops.LOCATION_AORS: 2000.0}
    assert ops.location_totals([one, two]) == (100000, 2000)
    assert ops.location_totals([two]) == (99999, 2000)
    assert ops.location_totals([]) == (None, None)              # no node answered
    assert ops.location_totals([{"core_rcv_requests": 1.0}]) == (None, None)
