"""The edge's Prometheus counters: their names, labels and how they are kept.

Counters are incremented by the KEMI code inside Kamailio's many worker
processes, in Kamailio's own shared memory: one htable per counter,
``edgemetrics_<name>`` (kamailio/core.cfg), one integer item per label set,
added to atomically by ``sht_inc`` (htable README: an item missing from a
table with an integer ``initval`` is created at that value). Every worker
adds to the same item, so the counts are summed over workers and survive a
worker's death by construction; no file, no fork check per increment. The
exporter (``edgectl ops``) reads each node's tables over JSON-RPC on the
node's FIFO (``htable.dump``: a stream, so a table of any size comes back
whole), sums the nodes and exposes the names and labels below.
This module is pure: it names the counters and encodes and decodes their
item keys; ``kemi/counters.py`` does the increment.

Label sets are bounded: a tenant id (ops create tenants, a caller cannot), a
reply class, a method, a rule name. Never a device, number or address.
Gauges that describe the running stack (registrations, pool members, bans,
rtpengine sessions, sync lag, Kamailio's own counters) are read by the
exporter itself at scrape time, not kept in workers.
"""

from __future__ import annotations

from typing import Iterable

NAMESPACE = "edge"
UNKNOWN_TENANT = "unknown"          # auth failure of an identity that does not exist
TABLE = "edgemetrics"               # the htables' prefix: one per counter (kamailio/core.cfg)
SEP = "|"                           # between a key's name and label values
# htable items are C ints: the exporter reads them modulo 2^32, so a counter
# wraps to 0 (a counter reset, which Prometheus' rate() handles) rather
# than going negative
WRAP = 1 << 32

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


def table(name: str) -> str:
    """The htable of counter ``name``."""
    return f"{TABLE}_{name}"


def key(name: str, labels: Iterable[str]) -> str:
    """The htable item of a counter's labelled child: ``name|v1|v2``. A
    separator inside a label value would shift the labels: it is replaced."""
    return SEP.join((name, *(v.replace(SEP, "_") for v in labels)))


def parse(item: str) -> tuple[str, tuple[str, ...]] | None:
    """(name, label values) of an item key; None for one that names no
    counter or has the wrong number of labels."""
    name, *values = item.split(SEP)
    spec = COUNTERS.get(name)
    if spec is None or len(values) != len(spec[1]):
        return None
    return name, tuple(values)


def totals(items: Iterable[tuple[str, int]]) -> dict[str, dict[tuple[str, ...], int]]:
    """Item keys and values (of one or several nodes' tables) -> counter name
    -> label values -> total, each item read as an unsigned 32-bit count."""
    out: dict[str, dict[tuple[str, ...], int]] = {}
    for item, value in items:
        parsed = parse(item)
        if parsed is None:
            continue
        name, labels = parsed
        per = out.setdefault(name, {})
        per[labels] = per.get(labels, 0) + int(value) % WRAP
    return out
