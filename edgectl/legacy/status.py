"""``edgectl status``, per legacy namespace: during a cutover the operator
watches each imported server's phones arrive (REGISTERs saved) and fail
(digest failures addressed to that server) -- the KEMI workers' counters
``edge_namespace_registrations_total`` / ``edge_namespace_auth_failures_total``
(edgecore.metrics), summed over every node's ``edgemetrics`` table, since
each node started."""

from __future__ import annotations

from typing import Any

from edgecore.config import Config

SAMPLES = {"namespace_registrations": "registrations",
           "namespace_auth_failures": "auth_failures"}


def namespace_counts(cfg: Config, namespaces: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One row per namespace (``namespaces``: name -> addresses)."""
    from edgectl import counters

    counts: dict[str, dict[str, float]] = {}
    for name, per in counters.totals(cfg).items():
        if name in SAMPLES:
            for (ns,), n in per.items():
                counts.setdefault(ns, {})[SAMPLES[name]] = n
    return [{"namespace": ns, "addresses": addrs,
             "registrations": int(counts.get(ns, {}).get("registrations", 0)),
             "auth_failures": int(counts.get(ns, {}).get("auth_failures", 0))}
            for ns, addrs in sorted(namespaces.items())]


def namespaces(cfg: Config) -> dict[str, list[str]]:
    from edgectl import db

    conn = db.connect(cfg, autocommit=True)
    try:
        out: dict[str, list[str]] = {}
        for ns, addr in conn.execute("SELECT n.name, a.address FROM legacy_namespaces n"
                                     " LEFT JOIN legacy_namespace_addresses a"
                                     " ON a.namespace = n.name ORDER BY 1, 2"):
            out.setdefault(ns, [])
            if addr:
                out[ns].append(addr)
        return out
    finally:
        conn.close()


def status(cfg: Config) -> list[dict[str, Any]]:
    return namespace_counts(cfg, namespaces(cfg))


def render(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    out = ["", "legacy servers (since node start):",
           f"  {'server':<10} {'registrations':>13} {'auth failures':>14}  addresses"]
    for r in rows:
        out.append(f"  {r['namespace']:<10} {r['registrations']:>13} {r['auth_failures']:>14}  "
                   + ", ".join(r["addresses"]))
    return out
