"""The KEMI workers' counters as the exporter and ``edgectl status`` read
them: every node's ``edgemetrics_<name>`` htables (edgecore/metrics.py) over RPC,
summed over the nodes. A node that does not answer adds nothing (and the
exporter's ``edge_node_up`` says so)."""

from __future__ import annotations

import logging
from typing import Any, Iterator

from edgecore import metrics
from edgecore.config import Config
from edgectl import rpc

log = logging.getLogger("edgectl.counters")


def table_items(dump: Any) -> Iterator[tuple[str, int]]:
    """(key, value) of every integer item of an ``htable.dump`` reply: a
    list of hash slots, each {"entry", "size", "slot": [{"name", "value"},...]}."""
    for slot in dump or []:
        for item in (slot.get("slot") or []) if isinstance(slot, dict) else []:
            value = item.get("value")
            if isinstance(value, int):
                yield str(item.get("name", "")), value


def totals(cfg: Config, timeout: float = 2.0) -> dict[str, dict[tuple[str, ...], int]]:
    """Counter name -> label values -> count, summed over the stack's nodes."""
    items: list[tuple[str, int]] = []
    for name, sock in rpc.node_sockets(cfg).items():
        for counter in metrics.COUNTERS:         # a table per counter: each dump fits a datagram
            try:
                items.extend(table_items(rpc.call(sock, "htable.dump", metrics.table(counter),
                                                  timeout=timeout)))
            except (OSError, rpc.RpcError) as exc:
                log.debug("counters: node %s, %s not read: %s", name, counter, exc)
    return metrics.totals(items)


class Collector:
    """prometheus-client collector of the counters: ``edge_<name>_total``
    with the labels edgecore.metrics.COUNTERS gives each."""

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        counts = totals(self.cfg)
        for name, (help_text, labels) in metrics.COUNTERS.items():
            fam = CounterMetricFamily(f"{metrics.NAMESPACE}_{name}", help_text,
                                      labels=list(labels))
            for values, n in sorted(counts.get(name, {}).items()):
                fam.add_metric(list(values), n)
            yield fam
