"""The Prometheus side of the ops service: the gauges of a :class:`Snapshot`
read at scrape time, and the KEMI workers' counters (edgecore.metrics)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter as Tally
from typing import Any, Iterator

from edgecore.config import Config
from edgectl import counters
from edgectl.ops.snapshot import Snapshot, snapshot

_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


class StackCollector:
    """Collector of the gauges above, read at scrape time (bounded labels:
    tenant, pool member, node, ban kind)."""

    def __init__(self, cfg: Config, cache_for: float):
        self.cfg = cfg
        self.cache_for = cache_for
        self._snap: Snapshot | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def current(self) -> Snapshot:
        with self._lock:
            if self._snap is None or time.monotonic() - self._at >= self.cache_for:
                self._snap = snapshot(self.cfg)
                self._at = time.monotonic()
            return self._snap

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        s = self.current()
        g = GaugeMetricFamily("edge_registered_contacts", "Registered contacts by tenant",
                              labels=["tenant"])
        for t, n in sorted(s.registrations.items()):
            g.add_metric([t], n)
        yield g
        g = GaugeMetricFamily("edge_registered_devices",
                              "Devices with at least one registered contact, by tenant",
                              labels=["tenant"])
        for t, n in sorted(s.devices_registered.items()):
            g.add_metric([t], n)
        yield g
        up = GaugeMetricFamily("edge_pool_member_up", "1 when the edge routes calls to the "
                               "member (dispatcher active)", labels=["member", "state"])
        calls = GaugeMetricFamily("edge_pool_member_calls", "Calls in progress per pool member",
                                  labels=["member"])
        for uri, v in sorted(s.pool.items()):
            up.add_metric([uri, v["state"]], 1 if v["up"] else 0)
            calls.add_metric([uri], v["calls"])
        yield up
        yield calls
        if s.rtpengine_sessions is not None:
            yield GaugeMetricFamily("edge_rtpengine_sessions", "Calls rtpengine holds",
                                    value=s.rtpengine_sessions)
        b = GaugeMetricFamily("edge_bans_active", "Bans in force", labels=["kind"])
        kinds = Tally(x.kind for x in s.bans)
        for kind in ("src", "id"):
            b.add_metric([kind], kinds.get(kind, 0))
        yield b
        if s.sync_lag_seconds is not None:
            yield GaugeMetricFamily("edge_sync_lag_seconds", "How long the newest provisioning "
                                    "change has waited for the Redis read model (0: in sync)",
                                    value=s.sync_lag_seconds)
        if s.model_version is not None:
            behind = GaugeMetricFamily("edge_node_model_behind", "Read-model versions a node's "
                                       "workers have not seen yet", labels=["node"])
            for node, ver in sorted(s.node_versions.items()):
                behind.add_metric([node], max(0, s.model_version - ver) if ver >= 0 else -1)
            yield behind
        yield GaugeMetricFamily("edge_cdr_backlog", "CDRs written by acc and not yet in "
                                "PostgreSQL", value=s.cdr_backlog)
        nodes = GaugeMetricFamily("edge_node_up", "1 when the node answers RPC", labels=["node"])
        for node, ok in sorted(s.nodes.items()):
            nodes.add_metric([node], 1 if ok else 0)
        yield nodes
        families: dict[str, GaugeMetricFamily] = {}
        for node, stats in sorted(s.kamailio.items()):
            for stat, value in sorted(stats.items()):
                name = "kamailio_" + _NAME_OK.sub("_", stat)
                fam = families.get(name)
                if fam is None:
                    fam = families[name] = GaugeMetricFamily(
                        name, f"Kamailio statistic {stat.replace('_', ':', 1)}", labels=["node"])
                fam.add_metric([node], value)
        yield from families.values()
        e = GaugeMetricFamily("edge_ops_scrape_errors", "Parts of the stack the exporter "
                              "could not read on this scrape", value=len(s.errors))
        yield e


def registry(cfg: Config) -> Any:
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(counters.Collector(cfg))      # type: ignore[arg-type]
    reg.register(StackCollector(cfg, cache_for=min(cfg.ops.registrations_every, 5.0)))  # type: ignore[arg-type]
    return reg
