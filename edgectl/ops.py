"""`edgectl ops run` and `edgectl status`: what ops see of a running edge.

The ops service is one process beside the nodes. It

* serves Prometheus metrics on ``ops.metrics_listen:ops.metrics_port``
  (``/metrics``): the counters the KEMI code increments in every Kamailio
  worker (prometheus-client multiprocess files, merged here -- see
  edgecore.metrics), plus what describes the running stack, read at scrape
  time: registrations per tenant (edgestore.regcount, kept in Redis by the
  registrar step; never ``ul.dump``, which does not fit a JSON-RPC reply
  beyond a few thousand contacts), pool members' state and calls in
  progress (dispatcher, dialog profile), rtpengine sessions, bans in force,
  read-model sync lag, unshipped CDRs, and Kamailio's own core/tm/sl/dialog/
  usrloc counters (``stats.get_statistics``);
* ships the CDR spool into PostgreSQL (edgectl.cdr) every ship_interval;
* rotates the stack's logs by size (edgectl.logs).

``status`` builds the one-screen view from the same :class:`Snapshot`.
"""

from __future__ import annotations

import glob
import logging
import re
import threading
import time
from collections import Counter as Tally
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from edgecore.config import Config
from edgectl import cdr, rpc
from edgectl.legacy import status as legacy_status

log = logging.getLogger("edgectl.ops")

# Kamailio statistics groups exported as kamailio_<group>_<name>
# (tm's counters are registered by the tmx module, under "tmx")
KAMAILIO_GROUPS = ("core", "tmx", "sl", "dialog", "usrloc", "registrar", "shmem", "pike")
_NAME_OK = re.compile(r"[^a-zA-Z0-9_]")


node_sockets = rpc.node_sockets


def _rpc(sock: Path, method: str, *params: Any, timeout: float = 2.0) -> Any:
    return rpc.call(sock, method, *params, timeout=timeout)


# -- what the stack looks like now ------------------------------------------------------

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


def ul_dump(sock: Path) -> Any:
    """One node's whole location table (``ul.dump``), for listings of a few
    contacts: past a few thousand it no longer fits one JSON-RPC reply, so
    nothing that counts registrations reads it (see :func:`registrations`)."""
    return _rpc(sock, "ul.dump", timeout=10.0)


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


# -- Prometheus ------------------------------------------------------------------------

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


class WorkerCounters:
    """The KEMI workers' counters: every node's multiprocess files, merged."""

    def __init__(self, root: Path):
        self.root = root

    def collect(self) -> Iterator[Any]:
        from prometheus_client.multiprocess import MultiProcessCollector

        files = glob.glob(str(self.root / "*" / "*.db"))
        return iter(MultiProcessCollector.merge(files, accumulate=True))


def registry(cfg: Config) -> Any:
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(WorkerCounters(cfg.run_dir / "metrics"))      # type: ignore[arg-type]
    reg.register(StackCollector(cfg, cache_for=min(cfg.ops.registrations_every, 5.0)))  # type: ignore[arg-type]
    return reg


# -- the service ---------------------------------------------------------------------

def _rotate_all(cfg: Config) -> bool:
    """Every node reopened its spool files (or is not running: nobody
    holds them)."""
    ok = True
    for name, sock in node_sockets(cfg).items():
        try:
            _rpc(sock, "flatstore.k_rotate")
        except (ConnectionRefusedError, FileNotFoundError):
            continue                           # node down: its files are closed
        except (OSError, rpc.RpcError) as exc:
            log.warning("cdr: node %s did not rotate its spool: %s", name, exc)
            ok = False
    return ok


def run(cfg: Config, ready_file: Path | None = None,
        stop: threading.Event | None = None) -> None:
    from prometheus_client import Counter, start_http_server

    reg = registry(cfg)
    shipped = Counter("edge_cdr_shipped", "CDRs committed to PostgreSQL by the shipper",
                      registry=reg)
    failures = Counter("edge_cdr_ship_failures", "Shipping rounds that failed (PostgreSQL "
                       "unreachable...); the spool keeps the CDRs", registry=reg)
    server, thread = start_http_server(cfg.ops.metrics_port, cfg.ops.metrics_listen,
                                       registry=reg)
    log.info("ops: metrics on http://%s:%d/metrics", cfg.ops.metrics_listen,
             cfg.ops.metrics_port)
    if ready_file is not None:
        ready_file.write_text("ready\n")
    stop = stop or threading.Event()
    from edgectl import db, logs

    logs.Rotator(cfg, stop).start()        # the stack's logs, by size ([log])

    spools: dict[Path, cdr.Spool] = {}
    last_error = ""
    try:
        while not stop.is_set():
            cfg.cdr_spool.mkdir(parents=True, exist_ok=True)
            for d in sorted(p for p in cfg.cdr_spool.iterdir() if p.is_dir()):
                spool = spools.setdefault(d, cdr.Spool(d, lambda: _rotate_all(cfg)))
                try:
                    n = cdr.ship(spool, lambda: db.connect(cfg), cfg.ops.ship_interval,
                                 log.warning)
                    shipped.inc(n)
                    if last_error:
                        log.warning("cdr: shipping again after: %s", last_error)
                        last_error = ""
                except Exception as exc:
                    failures.inc()
                    msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
                    if msg != last_error:
                        log.warning("cdr: shipping deferred (CDRs kept in %s): %s", d, msg)
                        last_error = msg
            stop.wait(cfg.ops.ship_interval)
    finally:
        server.shutdown()
        thread.join(timeout=5)


# -- edgectl status -------------------------------------------------------------------

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
