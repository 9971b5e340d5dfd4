"""The edge's Prometheus metrics: one source for their names and labels.

Counters are incremented by the KEMI code inside Kamailio's many worker
processes. prometheus-client's multiprocess mode keeps them correct: with
``PROMETHEUS_MULTIPROC_DIR`` set before Kamailio starts (edgectl.stack), each
process writes its values to its own memory-mapped file there, and the
exporter (edgectl.ops) adds every process's files up on each scrape -- a
worker's counts are neither lost nor double counted, also after it died.

Label sets are bounded: a tenant id (ops create tenants, a caller cannot), a
reply class, a method, a rule name. Never a device, number or address.
Gauges that describe the running stack (registrations, pool members, bans,
rtpengine sessions, sync lag, Kamailio's own counters) are read by the
exporter itself at scrape time, not kept in workers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

NAMESPACE = "edge"
UNKNOWN_TENANT = "unknown"          # auth failure of an identity that does not exist

# name -> (help, labels); the exporter and the Grafana dashboard use these names
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "registrations": ("REGISTER requests answered after authentication, by result "
                      "(ok: binding saved or removed; refused: identity/domain/registrar)",
                      ("tenant", "result")),
    "auth_failures": ("Failed digest authentications (wrong or unknown credentials)",
                      ("tenant", "method")),
    "call_attempts": ("Authenticated initial INVITEs (calls the edge handles)", ("tenant",)),
    "call_outcomes": ("Calls by the class of their final reply to the caller", ("tenant", "class")),
    "policy_denials": ("Calls refused by the dialing policy or a call limit, by rule",
                       ("tenant", "rule")),
    "unrecorded_calls": ("Calls of a recording tenant connected without a recording "
                         "(no media-pool member up)", ("tenant",)),
    # legacy namespaces (edgectl import): a handful, created by ops
    "namespace_registrations": ("REGISTERs saved for phones of an imported legacy server",
                                ("namespace",)),
    "namespace_auth_failures": ("Failed digest authentications addressed to an imported "
                                "legacy server", ("namespace",)),
    "bans": ("Bans imposed by this edge (source: an address; identity: a locked user)",
             ("kind", "reason")),
}


def reply_class(code: int) -> str:
    """'2xx' ... '6xx' (RFC 3261 7.2); anything else 'other'."""
    return f"{code // 100}xx" if 100 <= code < 700 else "other"


def method_label(method: str) -> str:
    return method if method in ("REGISTER", "INVITE") else "other"


@lru_cache(maxsize=None)
def counter(name: str) -> Any:
    """The prometheus_client Counter ``edge_<name>_total`` (created on first
    use, in the process that uses it: Kamailio forks after loading)."""
    from prometheus_client import Counter

    help_text, labels = COUNTERS[name]
    return Counter(name, help_text, labels, namespace=NAMESPACE)


_children: dict[tuple[str, tuple[str, ...]], Any] = {}


def inc(name: str, *labels: str) -> None:
    """Add one to a counter's labelled child. The child is looked up once per
    process and label set (``labels()`` takes a lock and builds a key on each
    call); label sets are bounded, so is this table."""
    key = (name, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = counter(name).labels(*labels)
    child.inc()
