"""``edgectl status``: the one-screen view, from a :class:`Snapshot` and the
last hour's CDRs."""

from __future__ import annotations

import time
from typing import Any

from edgecore.config import Config
from edgectl.legacy import status as legacy_status
from edgectl.ops.snapshot import snapshot


def recent_failures(cfg: Config, limit: int) -> list[dict[str, Any]]:
    from edgectl import db

    conn = db.connect(cfg, autocommit=True)
    try:
        rows = conn.execute(
            "SELECT final_code, final_reason, tenant, count(*), max(end_at) FROM edge_cdr "
            "WHERE final_code >= 300 AND end_at > now() - interval '1 hour' "
            "GROUP BY 1, 2, 3 ORDER BY 5 DESC LIMIT %s", (limit,)).fetchall()
    finally:
        conn.close()
    return [{"code": r[0], "reason": r[1], "tenant": r[2], "calls": r[3],
             "last": r[4].isoformat(timespec="seconds")} for r in rows]


def recent_unrecorded(cfg: Config, limit: int) -> dict[str, int]:
    """Calls of recording tenants connected unrecorded in the last hour (no
    pool member was up; edge_cdr.unrecorded), per tenant."""
    from edgectl import db

    conn = db.connect(cfg, autocommit=True)
    try:
        rows = conn.execute(
            "SELECT tenant, count(*) FROM edge_cdr WHERE unrecorded AND "
            "end_at > now() - interval '1 hour' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s",
            (limit,)).fetchall()
    finally:
        conn.close()
    return {r[0]: r[1] for r in rows}


def status_data(cfg: Config, top: int) -> dict[str, Any]:
    s = snapshot(cfg)
    failures: list[dict[str, Any]] = []
    unrecorded: dict[str, int] = {}
    try:
        failures = recent_failures(cfg, top)
        unrecorded = recent_unrecorded(cfg, top)
    except Exception as exc:
        s.errors.append(f"CDRs: {str(exc).splitlines()[0]}")
    regs = sorted(s.devices_registered.items(), key=lambda kv: (-kv[1], kv[0]))
    legacy: list[dict[str, Any]] = []
    try:
        legacy = legacy_status.status(cfg)
    except Exception as exc:
        s.errors.append(f"legacy servers: {str(exc).splitlines()[0]}")
    return {
        "legacy_servers": legacy,
        "nodes": {n: {"up": up, "model_behind": (s.model_version or 0) - s.node_versions.get(n, 0)
                      if up and s.model_version is not None else None}
                  for n, up in s.nodes.items()},
        "registered_devices": (s.location_aors if s.location_aors is not None
                               else sum(s.devices_registered.values())),
        "registered_contacts": (s.location_contacts if s.location_contacts is not None
                                else sum(s.registrations.values())),
        "top_tenants": [{"tenant": t, "devices": n, "contacts": s.registrations.get(t, 0)}
                        for t, n in regs[:top]],
        "tenants_with_registrations": len(regs),
        "pool": [{"member": u, **{k: v[k] for k in ("state", "calls")}}
                 for u, v in sorted(s.pool.items())],
        "bans": [{"kind": b.kind, "value": b.value, "until": b.until, "reason": b.reason}
                 for b in s.bans],
        "rtpengine_sessions": s.rtpengine_sessions,
        "sync_lag_seconds": s.sync_lag_seconds,
        "cdr_backlog": s.cdr_backlog,
        "active_calls": {n: int(st.get("dialog_active_dialogs", 0))
                         for n, st in s.kamailio.items()},
        "recent_failures": failures,
        "unrecorded_calls": unrecorded,
        "errors": s.errors,
    }


def render_status(d: dict[str, Any]) -> str:
    out: list[str] = []
    nodes = ", ".join(f"{n} {'up' if v['up'] else 'DOWN'}"
                      + (f" ({v['model_behind']} behind)" if v.get("model_behind") else "")
                      for n, v in sorted(d["nodes"].items()))
    calls = sum(d["active_calls"].values())
    lag = d["sync_lag_seconds"]
    out.append(f"nodes: {nodes}    calls in progress: {calls}    "
               f"rtpengine sessions: {d['rtpengine_sessions'] if d['rtpengine_sessions'] is not None else '?'}")
    out.append(f"read model: {'in sync' if lag == 0 else ('?' if lag is None else f'{lag:.1f}s behind')}"
               f"    CDRs waiting to ship: {d['cdr_backlog']}")
    out.append("")
    out.append(f"registered devices: {d['registered_devices']} "
               f"({d['registered_contacts']} contacts) in {d['tenants_with_registrations']} tenants")
    if d["top_tenants"]:
        out.append(f"  {'tenant':<10} {'devices':>8} {'contacts':>9}")
        for t in d["top_tenants"]:
            out.append(f"  {t['tenant']:<10} {t['devices']:>8} {t['contacts']:>9}")
    out.extend(legacy_status.render(d.get("legacy_servers", [])))
    out.append("")
    out.append(f"pool members: {len(d['pool'])}")
    for m in d["pool"]:
        out.append(f"  {m['member']:<40} {m['state']:<18} {m['calls']} calls")
    out.append("")
    out.append(f"bans in force: {len(d['bans'])}")
    for b in d["bans"][:10]:
        left = max(0, int(b["until"] - time.time()))
        out.append(f"  {b['kind']:<4} {b['value']:<30} {left:>6}s  {b['reason']}")
    out.append("")
    out.append("failed calls, last hour:")
    if not d["recent_failures"]:
        out.append("  none")
    for f in d["recent_failures"]:
        out.append(f"  {f['code']} {f['reason']:<40} tenant {f['tenant']:<8} "
                   f"{f['calls']:>5} calls, last {f['last']}")
    out.append("unrecorded calls, last hour (no pool member up): " + (", ".join(
        f"tenant {t} {n}" for t, n in d["unrecorded_calls"].items()) or "none"))
    if d["errors"]:
        out.append("")
        out.append("could not read:")
        out.extend(f"  {e}" for e in d["errors"])
    return "\n".join(out)
