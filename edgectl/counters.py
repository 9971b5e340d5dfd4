"""The KEMI workers' counters as the exporter and ``edgectl status`` read
them: every node's ``edgemetrics_<name>`` htables (edgecore/metrics.py) over
JSON-RPC on the node's FIFO (a dump of thousands of label sets does not fit one
datagram), summed over the nodes. A node that does not answer adds nothing (and the
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


def read(cfg: Config, timeout: float = 2.0
         ) -> tuple[dict[str, dict[tuple[str, ...], int]], set[str]]:
    """(counter name -> label values -> count summed over the stack's nodes,
    counters some answering node could not give).

    A node that answers nothing adds nothing (``edge_node_up`` says so). A
    node that answers but whose table for one counter does not come back
    makes that counter unreadable: a sum without that node's part would look
    like a counter reset to Prometheus, so the caller leaves it out, loudly."""
    items: list[tuple[str, int]] = []
    unreadable: set[str] = set()
    for name, (fifo, reply_dir) in rpc.node_streams(cfg).items():
        failed: list[str] = []
        for counter in metrics.COUNTERS:
            try:
                items.extend(table_items(rpc.call_stream(fifo, reply_dir, "htable.dump",
                                                         metrics.table(counter),
                                                         timeout=timeout)))
            except (OSError, rpc.RpcError) as exc:
                failed.append(counter)
                log.debug("counters: node %s, %s not read: %s", name, counter, exc)
        if failed and len(failed) < len(metrics.COUNTERS):
            log.warning("counters: node %s answered but not for %s: left out of this scrape",
                        name, ", ".join(failed))
            unreadable.update(failed)
    counts = metrics.totals(items)
    return {k: v for k, v in counts.items() if k not in unreadable}, unreadable


def totals(cfg: Config, timeout: float = 2.0) -> dict[str, dict[tuple[str, ...], int]]:
    """Counter name -> label values -> count, summed over the stack's nodes
    (counters a node could not give are left out: :func:`read`)."""
    return read(cfg, timeout)[0]


class Collector:
    """prometheus-client collector of the counters: ``edge_<name>_total``
    with the labels edgecore.metrics.COUNTERS gives each."""

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        counts, unreadable = read(self.cfg)
        for name, (help_text, labels) in metrics.COUNTERS.items():
            if name in unreadable:
                continue                    # no sample rather than a wrong one
            fam = CounterMetricFamily(f"{metrics.NAMESPACE}_{name}", help_text,
                                      labels=list(labels))
            for values, n in sorted(counts.get(name, {}).items()):
                fam.add_metric(list(values), n)
            yield fam
