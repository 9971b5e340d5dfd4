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
    names |= set(re.findall(r'"(edge_[a-z_]+)"', (ROOT / "edgectl" / "ops.py").read_text()))
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


# -- the registration gauges it plots: each contact once, on a cluster too ---------

def _dump(*aors: tuple[str, list[str]]) -> dict:
    """An ul.dump reply (the shape Kamailio 5.6 returns) of AOR -> contact ruids."""
    return {"Domains": [{"Domain": {"Domain": "location", "AoRs": [
        {"Info": {"AoR": aor, "Contacts": [{"Contact": {"Address": f"sip:{aor}-{r}",
                                                        "Ruid": r}} for r in ruids]}}
        for aor, ruids in aors]}}]}


def test_replicated_contacts_count_once():
    # node 1 owns 7001's two contacts, node 2 owns 7002's; DMQ gave each
    # node every contact -- and node 2 has not yet seen 7003 (just saved on 1)
    one = _dump(("7001@00010", ["uloc-1-a-1", "uloc-1-a-2"]), ("7002@00010", ["uloc-2-b-1"]),
                ("7003@00011", ["uloc-1-a-3"]))
    two = _dump(("7001@00010", ["uloc-1-a-1", "uloc-1-a-2"]), ("7002@00010", ["uloc-2-b-1"]))
    contacts, aors = ops.count_registrations([one, two])
    assert contacts == {"00010": 3, "00011": 1}
    assert aors == {"00010": 2, "00011": 1}
    assert ops.count_registrations([one]) == (contacts, aors)       # a single node
    assert ops.count_registrations([]) == ({}, {})


def test_an_aor_without_contacts_is_not_registered():
    contacts, aors = ops.count_registrations([_dump(("7001@00010", []))])
    assert not contacts and not aors
