"""The KEMI side of the edge's counters (edgecore/metrics.py names them):
one ``sht_inc`` on the counter's ``edgemetrics_<name>`` htable per increment, in
Kamailio's shared memory, shared by every worker of the node."""

from __future__ import annotations

import KSR

from edgecore import metrics

# (table, item key) per counter and label set, built once per process
# (label sets are bounded: edgecore/metrics.py)
_keys: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}


def inc(name: str, *labels: str) -> None:
    """Add one to a counter's labelled child."""
    k = _keys.get((name, labels))
    if k is None:
        k = _keys[(name, labels)] = (metrics.table(name), metrics.key(name, labels))
    KSR.htable.sht_inc(*k)
