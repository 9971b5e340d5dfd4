"""What the stack looks like now: one :class:`Snapshot` of the nodes (RPC),
the read model (Redis), the pool, rtpengine and the CDR spool, read part by
part -- a part that cannot be read is an error line, never a crash of the
whole view. The exporter (exporter.py) and ``edgectl status`` (status.py)
both show it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from edgecore.config import Config
from edgectl import cdr, rpc

# Kamailio statistics groups exported as kamailio_<group>_<name>
# (tm's counters are registered by the tmx module, under "tmx")
KAMAILIO_GROUPS = ("core", "tmx", "sl", "dialog", "usrloc", "registrar", "shmem", "pike")

node_sockets = rpc.node_sockets


def _rpc(sock: Path, method: str, *params: Any, timeout: float = 2.0) -> Any:
    return rpc.call(sock, method, *params, timeout=timeout)


@dataclass
class Snapshot:
    nodes: dict[str, bool] = field(default_factory=dict)                # node -> answers RPC
    registrations: dict[str, int] = field(default_factory=dict)         # tenant -> contacts
    devices_registered: dict[str, int] = field(default_factory=dict)    # tenant -> AORs
    # the location table's own totals (usrloc statistics; a cluster's nodes
    # each hold every contact, so the largest node's): None when no node answered
    location_contacts: int | None = None
    location_aors: int | None = None
    pool: dict[str, dict[str, Any]] = field(default_factory=dict)       # uri -> state, calls
    rtpengine_sessions: int | None = None
    bans: list[Any] = field(default_factory=list)
    sync_lag_seconds: float | None = None
    provisioning_changed_at: float | None = None
    synced_at: float | None = None
    node_versions: dict[str, int] = field(default_factory=dict)
    model_version: int | None = None
    cdr_backlog: int = 0
    kamailio: dict[str, dict[str, float]] = field(default_factory=dict)  # node -> stat -> v
    errors: list[str] = field(default_factory=list)


# usrloc statistics of the location table (usrloc module docs, 5. Statistics),
# as kamailio_stats names them
LOCATION_CONTACTS = "usrloc_location_contacts"
LOCATION_AORS = "usrloc_location_users"


def location_totals(stats: Iterable[dict[str, float]]) -> tuple[int | None, int | None]:
    """(contacts, AORs) in the location table from the nodes' usrloc
    statistics: on a cluster every node holds every contact (DMQ), so the
    node holding most is the edge's count, not the sum."""
    per_node = [st for st in stats if LOCATION_CONTACTS in st]
    if not per_node:
        return None, None
    return (int(max(st[LOCATION_CONTACTS] for st in per_node)),
            int(max(st.get(LOCATION_AORS, 0) for st in per_node)))


def registrations(cfg: Config, snap: Snapshot, now: float) -> None:
    from edgestore import redisconn, regcount

    r = redisconn.client(cfg.redis, decode_responses=True, socket_timeout=2)
    try:
        snap.registrations, snap.devices_registered = regcount.counts(r, now)
    finally:
        r.close()


def kamailio_stats(sock: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    res = _rpc(sock, "stats.get_statistics", "all")
    for line in res if isinstance(res, list) else []:
        name, _, value = str(line).partition(" = ")
        g, _, stat = name.partition(":")
        if g not in KAMAILIO_GROUPS:
            continue
        try:
            out[f"{g}_{stat}"] = float(value)
        except ValueError:
            continue
    return out


def pool_view(cfg: Config, sock: Path) -> dict[str, dict[str, Any]]:
    from edgectl import pool as edgepool

    view: dict[str, dict[str, Any]] = {}
    try:
        res = _rpc(sock, "dispatcher.list")
    except rpc.RpcError as exc:
        if "no destination sets" in str(exc).lower():
            return {}
        raise
    for rec in (res or {}).get("RECORDS", []) if isinstance(res, dict) else []:
        for target in rec.get("SET", {}).get("TARGETS", []):
            dest = target.get("DEST", {})
            uri = dest.get("URI", "")
            flags = dest.get("FLAGS", "")
            try:
                size = _rpc(sock, "dlg.profile_get_size", "pool", uri)
                calls = int(size.get("value", size) if isinstance(size, dict) else size)
            except (rpc.RpcError, TypeError, ValueError):
                calls = 0
            view[uri] = {"flags": flags, "state": edgepool.describe_flags(flags),
                         "up": flags[:1] == "A", "calls": calls}
    return view


def rtpengine_sessions(cfg: Config) -> int:
    from edgectl import rtpengine

    res = rtpengine.command(cfg.rtpengine.ng_host, cfg.rtpengine.ng_port,
                            {"command": "list", "limit": "100000"})
    return len(res.get("calls", []) or [])


def sync_state(cfg: Config, snap: Snapshot, now: float) -> None:

    from edgestore import readmodel as rmstore
    from edgectl import db

    from edgestore import redisconn

    r = redisconn.client(cfg.redis, decode_responses=True, socket_timeout=2)
    try:
        synced = r.get(rmstore.SYNCED_AT_KEY)
        ver = r.get(rmstore.VER_KEY)
        from edgestore import guard as guardstore
        snap.bans = guardstore.bans(r, now)
    finally:
        r.close()
    snap.synced_at = float(synced) if synced else None
    snap.model_version = int(ver) if ver else None
    conn = db.connect(cfg, autocommit=True)
    try:
        row = conn.execute("SELECT extract(epoch FROM changed_at) FROM provisioning_changed"
                           ).fetchone()
    finally:
        conn.close()
    snap.provisioning_changed_at = float(row[0]) if row else None
    if snap.provisioning_changed_at is not None:
        behind = snap.provisioning_changed_at > (snap.synced_at or 0.0)
        snap.sync_lag_seconds = max(0.0, now - snap.provisioning_changed_at) if behind else 0.0


def snapshot(cfg: Config, now: float | None = None) -> Snapshot:
    """Everything ops look at; a part that cannot be read is an error line,
    never a crash of the whole view."""
    now = time.time() if now is None else now
    snap = Snapshot()

    def attempt(what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:               # one part down must not hide the rest
            snap.errors.append(f"{what}: {str(exc).splitlines()[0] if str(exc) else exc!r}")

    for name, sock in sorted(node_sockets(cfg).items()):
        def one(name: str = name, sock: Path = sock) -> None:
            snap.kamailio[name] = kamailio_stats(sock)
            snap.nodes[name] = True
            snap.node_versions[name] = rpc.read_model_version(sock, timeout=2.0)
            for uri, v in pool_view(cfg, sock).items():
                cur = snap.pool.setdefault(uri, {**v, "calls": 0})
                cur["calls"] += v["calls"]
        snap.nodes[name] = False
        attempt(f"node {name}", one)
    snap.location_contacts, snap.location_aors = location_totals(snap.kamailio.values())
    attempt("registrations", lambda: registrations(cfg, snap, now))
    attempt("rtpengine", lambda: setattr(snap, "rtpengine_sessions", rtpengine_sessions(cfg)))
    attempt("read model", lambda: sync_state(cfg, snap, now))
    attempt("cdr spool", lambda: setattr(snap, "cdr_backlog", cdr.backlog(cfg.cdr_spool)))
    return snap
