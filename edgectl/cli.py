"""``edgectl``: the operator's command line for the edge.

Every provisioning command is one database transaction; a refused command
prints one line on stderr, exits non-zero and leaves nothing behind. Changes
reach the running edge through the sync follower (LISTEN/NOTIFY), with no
Kamailio restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
from pathlib import Path
import sys
from typing import Any, Callable, NoReturn, Sequence

from edgecore import config as edgeconfig
from edgecore.config import Config, ConfigError
from edgectl import db, device_name, provision
from edgectl.db import EdgeError
from edgectl.loadkit import DEFAULT_PATTERN as LOADTEST_PATTERN
from edgectl.loadkit import LOADTEST_TENANT_BASE
from edgectl.loadkit import ORDERS as LOADTEST_ORDERS

PROG = "edgectl"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and a pointer to --help)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _print_rows(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str] | None = None
                ) -> None:
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
        return
    if not rows:
        print("(none)")
        return
    cols = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v) or "-"
        return str(v)

    table = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def _read_password(value: str) -> str:
    if value == "-":
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise EdgeError("no password on standard input")
        return line
    return value


# -- command handlers ------------------------------------------------------------

def cmd_db_migrate(cfg: Config, a: argparse.Namespace) -> None:
    applied = db.migrate(cfg)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")


def cmd_db_version(cfg: Config, a: argparse.Namespace) -> None:
    print(db.schema_version(cfg) or "(no schema)")


def cmd_tenant_add(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        rec, required = provision.recording_mode("off" if a.no_recording else a.recording)
        provision.tenant_add(c, a.id, a.name, a.global_access, rec, a.domain,
                             a.max_calls, required)
    print(f"tenant {a.id} added")


def cmd_tenant_set(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        rec, required = (None, None) if a.recording is None else \
            provision.recording_mode(a.recording)
        provision.tenant_set(c, a.id, name=a.name, global_access=a.global_access,
                             recording=rec, recording_required=required, domain=a.domain,
                             max_calls=a.max_calls)
    print(f"tenant {a.id} updated")


def cmd_tenant_list(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        _print_rows(provision.tenant_list(c), a.json)


def cmd_tenant_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.tenant_remove(c, a.id, a.cascade)
    print(f"tenant {a.id} removed")


def cmd_range_add(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        scope = provision.range_add(c, a.tenant, a.first, a.last, a.scope)
    print(f"{scope} range {a.first}-{a.last} added to tenant {a.tenant}")


def cmd_range_list(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        _print_rows(provision.range_list(c, a.tenant), a.json)


def cmd_range_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.range_remove(c, a.tenant, a.first, a.last)
    print(f"range {a.first}-{a.last} removed from tenant {a.tenant}")


def cmd_device_add(cfg: Config, a: argparse.Namespace) -> None:
    pw = _read_password(a.password) if a.password is not None else None
    with db.transaction(cfg) as c:
        d = provision.device_add(c, cfg.auth.realm, a.tenant, a.extension, password=pw,
                                 ha1=a.ha1, auth_username=a.auth_user, display_name=a.name,
                                 max_calls=a.max_calls)
    print(f"device {d.extension} added to tenant {d.tenant}; auth username {d.auth_username}, "
          f"realm {cfg.auth.realm}")


def cmd_device_passwd(cfg: Config, a: argparse.Namespace) -> None:
    pw = _read_password(a.password)
    with db.transaction(cfg) as c:
        provision.device_passwd(c, cfg.auth.realm, a.tenant, a.extension, pw)
    print(f"password of device {a.extension} of tenant {a.tenant} changed")


def _in_transaction(cfg: Config, fn: Callable[[Any], None]) -> None:
    with db.transaction(cfg) as c:
        fn(c)


def cmd_device_list(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        _print_rows(provision.device_list(c, a.tenant), a.json)


def cmd_device_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.device_remove(c, a.tenant, a.extension)
    print(f"device {a.extension} removed from tenant {a.tenant}")


def cmd_exception_add(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.exception_add(c, a.from_tenant, a.to_tenant, a.both_ways)
    arrow = "<->" if a.both_ways else "->"
    print(f"exception {a.from_tenant} {arrow} {a.to_tenant} added")


def cmd_exception_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.exception_remove(c, a.from_tenant, a.to_tenant, a.both_ways)
    print("exception removed")


def cmd_exception_list(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        _print_rows(provision.exception_list(c, a.tenant), a.json)


def cmd_rg_add(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.ringgroup_add(c, a.tenant, a.number, a.name, a.strategy, a.timeout,
                                a.member or [])
    print(f"ring group {a.number} added to tenant {a.tenant}")


def cmd_rg_member_add(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.ringgroup_member_add(c, a.tenant, a.number, a.extensions)
    print(f"ring group {a.number}: added {', '.join(a.extensions)}")


def cmd_rg_member_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.ringgroup_member_remove(c, a.tenant, a.number, a.extensions)
    print(f"ring group {a.number}: removed {', '.join(a.extensions)}")


def cmd_rg_list(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        _print_rows(provision.ringgroup_list(c, a.tenant), a.json)


def cmd_rg_remove(cfg: Config, a: argparse.Namespace) -> None:
    with db.transaction(cfg) as c:
        provision.ringgroup_remove(c, a.tenant, a.number)
    print(f"ring group {a.number} removed from tenant {a.tenant}")


def _pool_change(cfg: Config, a: argparse.Namespace, verb: str, uri: str, present: bool,
                 disabled: bool | None = None) -> None:
    from edgectl import pool

    if pool.wait_applied(cfg, uri, present, disabled):
        print(f"pool member {uri} {verb}; in effect on the local edge node")
    else:
        print(f"pool member {uri} {verb}; edge nodes apply it through their sync follower")


def cmd_pool_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        uri = pool.add(c, a.uri, a.weight, a.description)
    _pool_change(cfg, a, "added", uri, True, False)


def cmd_pool_drain(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        uri = pool.set_state(c, a.uri, "draining")
    _pool_change(cfg, a, "draining (no new calls; calls in progress continue)", uri, True, True)


def cmd_pool_activate(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        uri = pool.set_state(c, a.uri, "active")
    _pool_change(cfg, a, "active", uri, True, False)


def cmd_pool_weight(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        uri = pool.set_weight(c, a.uri, a.weight)
    _pool_change(cfg, a, f"weight {a.weight}", uri, True)


def cmd_pool_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        uri = pool.remove(c, a.uri, a.force, lambda u: pool.calls_in_progress(cfg, u))
    _pool_change(cfg, a, "removed", uri, False)


def cmd_pool_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool

    with db.transaction(cfg) as c:
        _print_rows(pool.listing(cfg, c), a.json,
                    ("uri", "weight", "state", "edge_sees", "duid", "description"))


def _ban_target(target: str) -> tuple[str, str]:
    """An IP address bans a source; anything else is an identity."""
    from edgecore import tenancy
    from edgectl.provision import AUTH_USER

    if tenancy.is_ip_literal(target):
        return "src", target.strip("[]")
    if tenancy.looks_like_ip(target):
        raise EdgeError(f"not a valid IP address: {target!r}")
    if not AUTH_USER.match(target):
        raise EdgeError(f"not an IP address nor an auth username: {target!r}")
    return "id", target


def _guard_redis(cfg: Config) -> Any:
    import redis

    from edgectl.sync import redis_client
    r = redis_client(cfg)
    try:
        r.ping()
    except redis.RedisError as exc:
        raise EdgeError(f"cannot reach Redis at {cfg.redis.url}: {exc}") from None
    return r


def cmd_ban_list(cfg: Config, a: argparse.Namespace) -> None:
    import time
    from datetime import datetime, timezone

    from edgecore import guard

    now = time.time()
    rows = [{"kind": "source" if b.kind == "src" else "identity", "who": b.value,
             "until": datetime.fromtimestamp(b.until, timezone.utc).isoformat(timespec="seconds"),
             "seconds_left": int(b.until - now), "reason": b.reason}
            for b in guard.bans(_guard_redis(cfg), now)]
    _print_rows(rows, a.json)


def cmd_ban_add(cfg: Config, a: argparse.Namespace) -> None:
    import time

    from edgecore import guard

    if a.seconds <= 0:
        raise EdgeError("--for must be a positive number of seconds")
    kind, value = _ban_target(a.target)
    guard.ban(_guard_redis(cfg), kind, value, guard.ban_until(time.time(), a.seconds),
              a.reason)
    print(f"banned {'source' if kind == 'src' else 'identity'} {value} for {a.seconds}s "
          "on every edge node")


def cmd_ban_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgecore import guard

    kind, value = _ban_target(a.target)
    if not guard.unban(_guard_redis(cfg), kind, value):
        raise EdgeError(f"{value} is not banned")
    print(f"ban of {value} lifted on every edge node")


def cmd_ops_run(cfg: Config, a: argparse.Namespace) -> None:
    import threading

    from edgectl import ops

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        ops.run(cfg, Path(a.ready_file) if a.ready_file else None, stop)
    except OSError as exc:
        raise EdgeError(f"metrics endpoint {cfg.ops.metrics_listen}:{cfg.ops.metrics_port}: "
                        f"{exc.strerror or exc}") from None


def cmd_cdr_ship(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import cdr, db, ops

    total = 0
    for d in sorted(p for p in cfg.cdr_spool.glob("*") if p.is_dir()):
        total += cdr.ship(cdr.Spool(d, lambda: ops._rotate_all(cfg)), lambda: db.connect(cfg),
                          0.0, lambda s: print(s, file=sys.stderr))
    print(f"{total} CDRs shipped; {cdr.backlog(cfg.cdr_spool)} waiting")


def cmd_cdr_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import cdr_query, db

    f = cdr_query.filters(a.tenant, a.direction, a.since, a.until, a.call_id, a.limit, a.legs)
    fmt = "json" if a.json else a.format
    cdr_query.render([], fmt)                  # a bad --format fails before the database
    with db.transaction(cfg) as conn:
        rows = cdr_query.query(conn, f)
    print(cdr_query.render(rows, fmt, a.legs))


def cmd_status(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import ops

    if a.top < 1:
        raise EdgeError("--top must be at least 1")
    data = ops.status_data(cfg, a.top)
    if a.json:
        print(json.dumps(data, default=str, indent=1))
    else:
        print(ops.render_status(data))


def cmd_sync(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool, sync

    if not a.follow:
        res = sync.full_rebuild(cfg)
        print(f"read model generation {res.generation}: {res.tenants} tenants, "
              f"{res.devices} devices, {res.keys} keys in {res.seconds:.2f}s")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    follower = sync.Follower(cfg, on_pool_change=lambda: pool.reload_node(cfg),
                             ready_file=a.ready_file)
    signal.signal(signal.SIGTERM, follower.stop)
    signal.signal(signal.SIGINT, follower.stop)
    follower.run()


def cmd_explain(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import explain, rpc

    def registered(aor: str) -> int | None:
        try:
            res = rpc.call(cfg.rpc_socket, "ul.lookup", "location", aor.removeprefix("sip:"),
                           timeout=2)
        except rpc.RpcError as exc:
            return 0 if "not found" in str(exc).lower() else None
        except OSError:
            return None
        return len(res.get("Contacts", [])) if isinstance(res, dict) else None

    def pool_up() -> bool | None:
        from edgectl import pool

        view = pool.node_view(cfg)
        if view is None:
            return None
        return any(v["flags"].startswith(("A", "T")) for v in view.values())

    e = explain.explain(cfg, a.caller, a.dialled, registered, pool_up)
    print(json.dumps(e.as_dict(), indent=1) if a.json else explain.render(e))


def cmd_stack_up(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import demo
    from edgectl.stack import Stack

    stack = Stack(cfg, cfg_path=_cfg_path(a), nodes=a.nodes)
    if a.demo:
        stack.on_migrated.append(lambda: print("demo dataset provisioned")
                                 if demo.apply(cfg) else None)
    started = stack.up()
    print("started: " + ", ".join(started) if started else "already running")
    s = cfg.sip
    print(f"\nSIP edge ready. Point a phone at {s.listen_ip}:{s.udp_port} (UDP/TCP),"
          f" realm {cfg.auth.realm}.")
    if a.nodes > 1:
        print("Nodes (one edge; a phone may use any, or several): " + ", ".join(
            f"{c.node.name} {c.sip.listen_ip}:{c.sip.udp_port}" for c in stack.node_cfgs))
    if a.demo:
        print("Demo devices (auth username / password):")
        for tid, ext in demo.DEVICES:
            au = provision.default_auth_username(tid, ext)
            print(f"  tenant {tid} ext {ext:<11} {au:<16} {demo.password(tid, ext)}")
    from edgectl import banner
    print("\n".join(banner.lines(cfg)))
    print(f"Metrics: http://{cfg.ops.metrics_listen}:{cfg.ops.metrics_port}/metrics   "
          f"Status: .venv/bin/edgectl status")
    print(f"Logs: {cfg.run_dir / 'logs'}   Stop: make down")


def cmd_node_run(cfg: Config, a: argparse.Namespace) -> None:
    """Replace this process with one daemon of the node, in the foreground,
    configured from the config file (a container's entrypoint)."""
    import os

    from edgectl import stack

    cfg_path = _cfg_path(a)
    if cfg_path is None:
        raise EdgeError("node run needs --config or $EDGE_CONFIG")
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    services = {"kamailio": stack.Kamailio(cfg, cfg_path),
                "rtpengine": stack.Rtpengine(cfg)}
    svc = services[a.daemon]
    svc.prepare()
    cmd = svc.command()
    if a.print:
        print(" ".join(cmd))
        return
    os.execvpe(cmd[0], cmd, svc.env())


def cmd_stack_down(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.stack import Stack

    stopped = Stack(cfg, cfg_path=_cfg_path(a)).down()
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


def cmd_stack_status(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.stack import Stack

    running = Stack(cfg, cfg_path=_cfg_path(a)).running()
    if not running:
        print("not running")
        raise SystemExit(3)
    for name, pid in running.items():
        print(f"{name:<20} pid {pid}")


def _loadtest_tenants(a: argparse.Namespace) -> list[str]:
    from edgectl import loadkit

    if a.tenant:
        return list(dict.fromkeys(a.tenant))
    if a.tenants is None:
        raise EdgeError("choose the tenants: --tenants N [--first-tenant ID] or --tenant ID ...")
    return loadkit.Shape(a.tenants, 1, a.first_tenant).tenant_ids()


def cmd_loadtest_provision(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import loadkit

    shape = loadkit.Shape(a.tenants, a.devices, a.first_tenant)
    n = loadkit.provision(cfg, shape, a.pattern, a.recording)
    ids = shape.tenant_ids()
    print(f"provisioned {n} devices in {len(ids)} load-test tenants {ids[0]}-{ids[-1]} "
          f"(password pattern {a.pattern!r}, realm {cfg.auth.realm})")


def cmd_loadtest_csv(cfg: Config, a: argparse.Namespace) -> None:
    from pathlib import Path

    from edgectl import loadkit

    rows = loadkit.device_rows(cfg, _loadtest_tenants(a), a.per_tenant)
    if not rows:
        raise EdgeError("no devices in the chosen tenants")
    if a.kind == "register":
        if a.role != "all":
            rows = [p[0] if a.role == "callers" else p[1] for p in loadkit.call_pairs(rows)]
        text = loadkit.register_csv(rows, a.pattern, a.expires, a.contact or [""], a.order)
    elif a.kind == "calls":
        dialled = [(c, e[1]) for c, e in loadkit.call_pairs(rows)]
        if not dialled:
            raise EdgeError("calls need at least two devices in a tenant")
        text = loadkit.calls_csv(dialled, a.pattern, a.order, a.private_address or "")
    else:
        text = loadkit.devices_csv(rows, a.pattern)
    if a.output in (None, "-"):
        sys.stdout.write(text)
        return
    out = Path(a.output)
    if a.split < 1:
        raise EdgeError("--split needs at least 1")
    if a.split > 1:
        files = loadkit.split(text, a.split, out)
        sys.stderr.write(f"wrote {len(text.splitlines()) - 1} lines to "
                         f"{', '.join(str(f) for f in files)}\n")
    else:
        out.write_text(text)
        sys.stderr.write(f"wrote {len(text.splitlines()) - 1} lines to {out}\n")


def cmd_loadtest_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import loadkit

    ids = _loadtest_tenants(a)
    n = loadkit.remove(cfg, ids)
    print(f"removed {len(ids)} load-test tenants and their {n} devices")


def cmd_loadtest_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import loadkit

    _print_rows([{"tenant": t, "devices": n} for t, n in loadkit.loadtest_tenants(cfg)], a.json)


def _cfg_path(a: argparse.Namespace) -> Any:
    from pathlib import Path

    import os
    p = a.config or os.environ.get(edgeconfig.ENV_VAR)
    return Path(p).resolve() if p else None


# -- parser ----------------------------------------------------------------------

def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Control plane of the multi-tenant SIP edge.")
    p.add_argument("--config", metavar="PATH",
                   help=f"TOML config overriding the defaults (default: ${edgeconfig.ENV_VAR})")
    top = p.add_subparsers(dest="group", required=True, parser_class=Parser, metavar="COMMAND")

    def group(name: str, help: str) -> Any:
        g = top.add_parser(name, help=help, description=help)
        return g.add_subparsers(dest="action", required=True, parser_class=Parser,
                                metavar="ACTION")

    def json_flag(sp: Any) -> None:
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    # db
    g = group("db", "schema migrations")
    g.add_parser("migrate", help="apply pending migrations").set_defaults(fn=cmd_db_migrate)
    g.add_parser("version", help="print the schema version").set_defaults(fn=cmd_db_version)

    # tenant
    g = group("tenant", "tenants (resellers)")
    sp = g.add_parser("add", help="add a tenant")
    sp.add_argument("id", help="5-digit tenant id, e.g. 00003")
    sp.add_argument("--name", required=True)
    sp.add_argument("--global-access", action="store_true",
                    help="may call every tenant (support tenants)")
    sp.add_argument("--no-recording", action="store_true", help="do not record calls")
    sp.add_argument("--recording", default="on", metavar="on|off|required",
                    help="required: refuse calls (503) rather than connect them unrecorded")
    sp.add_argument("--domain", help="the tenant's own SIP domain (optional)")
    sp.add_argument("--max-calls", type=int, help="concurrent call limit of the tenant")
    sp.set_defaults(fn=cmd_tenant_add)
    sp = g.add_parser("set", help="change a tenant")
    sp.add_argument("id")
    sp.add_argument("--name")
    sp.add_argument("--global-access", action=argparse.BooleanOptionalAction, default=None)
    sp.add_argument("--recording", nargs="?", const="on", metavar="on|off|required",
                    help="required: refuse calls (503) rather than connect them unrecorded")
    sp.add_argument("--no-recording", dest="recording", action="store_const", const="off")
    sp.add_argument("--domain", help="'' clears it")
    sp.add_argument("--max-calls", type=int, help="-1 clears it")
    sp.set_defaults(fn=cmd_tenant_set)
    sp = g.add_parser("list", help="list tenants")
    json_flag(sp)
    sp.set_defaults(fn=cmd_tenant_list)
    sp = g.add_parser("remove", help="remove a tenant")
    sp.add_argument("id")
    sp.add_argument("--cascade", action="store_true",
                    help="also remove its devices, ring groups and ranges")
    sp.set_defaults(fn=cmd_tenant_remove)

    # range
    g = group("range", "number ranges owned by tenants")
    sp = g.add_parser("add", help="add a number range to a tenant")
    sp.add_argument("tenant")
    sp.add_argument("first")
    sp.add_argument("last")
    sp.add_argument("--scope", choices=provision.SCOPES,
                    help=f"local: tenant-private extensions; global: edge-wide numbers "
                         f"(default: local up to {provision.LOCAL_MAX_DIGITS} digits, "
                         f"else global)")
    sp.set_defaults(fn=cmd_range_add)
    sp = g.add_parser("list", help="list ranges")
    sp.add_argument("tenant", nargs="?")
    json_flag(sp)
    sp.set_defaults(fn=cmd_range_list)
    sp = g.add_parser("remove", help="remove a range (refused while numbers use it)")
    sp.add_argument("tenant")
    sp.add_argument("first")
    sp.add_argument("last")
    sp.set_defaults(fn=cmd_range_remove)

    # device
    g = group("device", "devices (phones, browsers) and their credentials")
    sp = g.add_parser("add", help="add a device; stores HA1, never the password")
    sp.add_argument("tenant")
    sp.add_argument("extension")
    cred = sp.add_mutually_exclusive_group(required=True)
    cred.add_argument("--password", help="the device password ('-' reads it from stdin)")
    cred.add_argument("--ha1", help="import a precomputed HA1 (32 hex digits)")
    sp.add_argument("--auth-user", help="digest username (default: tenant id + extension)")
    sp.add_argument("--name", help="display name")
    sp.add_argument("--max-calls", type=int, help="concurrent call limit of the device")
    sp.set_defaults(fn=cmd_device_add)
    sp = g.add_parser("passwd", help="set a device's password")
    sp.add_argument("tenant")
    sp.add_argument("extension")
    sp.add_argument("--password", required=True, help="'-' reads it from stdin")
    sp.set_defaults(fn=cmd_device_passwd)
    sp = g.add_parser("list", help="list devices")
    sp.add_argument("tenant", nargs="?")
    json_flag(sp)
    sp.set_defaults(fn=cmd_device_list)
    sp = g.add_parser("remove", help="remove a device")
    sp.add_argument("tenant")
    sp.add_argument("extension")
    sp.set_defaults(fn=cmd_device_remove)
    device_name.register(g, _in_transaction)

    # exception
    g = group("exception", "cross-tenant dialing exceptions")
    for action, fn, hlp in (("add", cmd_exception_add, "allow FROM to call TO"),
                            ("remove", cmd_exception_remove, "remove an exception")):
        sp = g.add_parser(action, help=hlp)
        sp.add_argument("from_tenant", metavar="FROM")
        sp.add_argument("to_tenant", metavar="TO")
        sp.add_argument("--both-ways", action="store_true", help="also TO -> FROM")
        sp.set_defaults(fn=fn)
    sp = g.add_parser("list", help="list exceptions")
    sp.add_argument("tenant", nargs="?")
    json_flag(sp)
    sp.set_defaults(fn=cmd_exception_list)

    # ring groups
    g = group("ringgroup", "ring groups (attendant islands)")
    sp = g.add_parser("add", help="add a ring group")
    sp.add_argument("tenant")
    sp.add_argument("number")
    sp.add_argument("--name", required=True)
    sp.add_argument("--strategy", choices=provision.RG_STRATEGIES, default="ringall")
    sp.add_argument("--timeout", type=int, default=30, help="ring timeout in seconds")
    sp.add_argument("--member", action="append", metavar="EXT", help="member extension "
                    "(repeat; order is the ring order)")
    sp.set_defaults(fn=cmd_rg_add)
    for action, fn, hlp in (("member-add", cmd_rg_member_add, "add members"),
                            ("member-remove", cmd_rg_member_remove, "remove members")):
        sp = g.add_parser(action, help=hlp)
        sp.add_argument("tenant")
        sp.add_argument("number")
        sp.add_argument("extensions", nargs="+", metavar="EXT")
        sp.set_defaults(fn=fn)
    sp = g.add_parser("list", help="list ring groups")
    sp.add_argument("tenant", nargs="?")
    json_flag(sp)
    sp.set_defaults(fn=cmd_rg_list)
    sp = g.add_parser("remove", help="remove a ring group")
    sp.add_argument("tenant")
    sp.add_argument("number")
    sp.set_defaults(fn=cmd_rg_remove)

    # pool
    g = group("pool", "the Asterisk media pool (Kamailio dispatcher)")
    sp = g.add_parser("add", help="add a member; it takes calls at once")
    sp.add_argument("uri", help="host[:port] or sip:host[:port] of the member")
    sp.add_argument("--weight", type=int, default=1, help="share of calls (1-100)")
    sp.add_argument("--description")
    sp.set_defaults(fn=cmd_pool_add)
    for action, fn, hlp in (
            ("drain", cmd_pool_drain, "no new calls; calls in progress continue to the end"),
            ("activate", cmd_pool_activate, "take new calls again after a drain")):
        sp = g.add_parser(action, help=hlp)
        sp.add_argument("uri")
        sp.set_defaults(fn=fn)
    sp = g.add_parser("weight", help="change a member's weight")
    sp.add_argument("uri")
    sp.add_argument("weight", type=int)
    sp.set_defaults(fn=cmd_pool_weight)
    sp = g.add_parser("remove", help="remove a drained member with no call in progress")
    sp.add_argument("uri")
    sp.add_argument("--force", action="store_true",
                    help="remove even if not drained or calls are in progress")
    sp.set_defaults(fn=cmd_pool_remove)
    sp = g.add_parser("list", help="members and their state as the edge sees it")
    json_flag(sp)
    sp.set_defaults(fn=cmd_pool_list)

    # bans
    g = group("ban", "bans of sources and identities, enforced by every edge node")
    sp = g.add_parser("list", help="bans in force")
    json_flag(sp)
    sp.set_defaults(fn=cmd_ban_list)
    sp = g.add_parser("add", help="ban a source address or lock an identity")
    sp.add_argument("target", metavar="IP|AUTH_USER")
    sp.add_argument("--for", dest="seconds", type=int, default=3600, help="seconds (3600)")
    sp.add_argument("--reason", default="banned by an operator")
    sp.set_defaults(fn=cmd_ban_add)
    sp = g.add_parser("remove", help="lift a ban")
    sp.add_argument("target", metavar="IP|AUTH_USER")
    sp.set_defaults(fn=cmd_ban_remove)

    # load-test data
    g = group("loadtest", "synthetic tenants/devices and SIPp/locust injection files")
    sp = g.add_parser("provision", help="bulk-create load-test tenants and devices (one COPY)")
    sp.add_argument("--tenants", type=int, required=True, help="how many tenants")
    sp.add_argument("--devices", type=int, required=True, metavar="N",
                    help="devices per tenant (extensions 10000, 10001, ...)")
    sp.add_argument("--first-tenant", type=int, default=LOADTEST_TENANT_BASE, metavar="ID",
                    help=f"first tenant id (default {LOADTEST_TENANT_BASE})")
    sp.add_argument("--pattern", default=LOADTEST_PATTERN,
                    help="password pattern with {tenant} and {ext} (default %(default)s)")
    sp.add_argument("--recording", action="store_true",
                    help="tenants record their calls (calls then go to the media pool)")
    sp.set_defaults(fn=cmd_loadtest_provision)

    def chosen_tenants(sp: Any) -> None:
        sp.add_argument("--tenants", type=int, help="N load-test tenants from --first-tenant")
        sp.add_argument("--first-tenant", type=int, default=LOADTEST_TENANT_BASE, metavar="ID")
        sp.add_argument("--tenant", action="append", metavar="ID",
                        help="a tenant (repeat); instead of --tenants")

    sp = g.add_parser("csv", help="write an injection file for the chosen tenants/devices",
                      description="register: loadtest/sipp/register.xml; calls: "
                                  "uac_call.xml/uac_setup.xml (each tenant's first half of "
                                  "devices calls its second half); devices: plain "
                                  "credentials for loadtest/locust.")
    sp.add_argument("kind", choices=("register", "calls", "devices"))
    chosen_tenants(sp)
    sp.add_argument("--per-tenant", type=int, metavar="N", help="at most N devices per tenant")
    sp.add_argument("--pattern", default=LOADTEST_PATTERN,
                    help="the password pattern they were provisioned with")
    sp.add_argument("--role", choices=("all", "callers", "callees"), default="all",
                    help="register: only the devices that call, or that are called")
    sp.add_argument("--contact", action="append", metavar="HOST:PORT",
                    help="register: the binding to register (repeat: spread over the devices, "
                         "each always given the same one); "
                         "default: the SIPp process itself")
    sp.add_argument("--expires", type=int, default=600, help="register: seconds")
    sp.add_argument("--private-address", metavar="IP",
                    help="calls: callers put this address in Contact/SDP (behind NAT)")
    sp.add_argument("--order", choices=LOADTEST_ORDERS, default="SEQUENTIAL",
                    help="SIPp's reading order (RANDOM: a random line per call)")
    sp.add_argument("--split", type=int, default=1, metavar="K",
                    help="K files, one per SIPp process (FILE.0.csv ...)")
    sp.add_argument("-o", "--output", metavar="FILE", help="default: standard output")
    sp.set_defaults(fn=cmd_loadtest_csv)
    sp = g.add_parser("remove", help="delete load-test tenants with their devices "
                                     "(refuses any other tenant)")
    chosen_tenants(sp)
    sp.set_defaults(fn=cmd_loadtest_remove)
    sp = g.add_parser("list", help="load-test tenants and their device counts")
    json_flag(sp)
    sp.set_defaults(fn=cmd_loadtest_list)

    # sync (no sub-action)
    sp = top.add_parser("sync", help="rebuild the Redis read model from PostgreSQL",
                        description="Full rebuild (atomic generation swap); with --follow, "
                                    "keep Redis current from PostgreSQL notifications.")
    sp.add_argument("--follow", action="store_true", help="keep running, applying changes")
    sp.add_argument("--ready-file", help="with --follow: file written once the model is built")
    sp.set_defaults(fn=cmd_sync)

    # operations
    sp = top.add_parser("status", help="one screen: registrations, pool, bans, lag, failures",
                        description="The running edge at a glance: nodes, registered devices "
                                    "per tenant (top N), pool members and their calls, bans, "
                                    "read-model sync lag, CDR backlog, failed calls.")
    sp.add_argument("--top", type=int, default=10, metavar="N", help="tenants shown (10)")
    json_flag(sp)
    sp.set_defaults(fn=cmd_status)
    g = group("ops", "the metrics exporter and CDR shipper")
    sp = g.add_parser("run", help="serve /metrics and ship CDRs (foreground)")
    sp.add_argument("--ready-file", help="file written once /metrics is served")
    sp.set_defaults(fn=cmd_ops_run)
    g = group("cdr", "call detail records")
    sp = g.add_parser("list", help="recent calls (newest first)")
    sp.add_argument("--tenant", metavar="ID", help="calls the tenant made or received")
    sp.add_argument("--direction", metavar="in|out", help="with --tenant: received / made")
    sp.add_argument("--since", metavar="TIME", help="ISO 8601 time or an age (30m, 2h, 7d)")
    sp.add_argument("--until", metavar="TIME", help="ISO 8601 time or an age (exclusive)")
    sp.add_argument("--call-id", metavar="CALL_ID")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--legs", action="store_true", help="also the legs pool members rang back")
    sp.add_argument("--format", default="table", metavar="table|csv|json")
    json_flag(sp)
    sp.set_defaults(fn=cmd_cdr_list)
    g.add_parser("ship", help="ship the spool now (normally the ops service does)"
                 ).set_defaults(fn=cmd_cdr_ship)

    # explain (no sub-action)
    sp = top.add_parser("explain", help="dry run: what the edge does with a call",
                        description="Resolve DIALLED for CALLER and apply the dialing policy "
                                    "exactly as the edge does, without placing a call.")
    sp.add_argument("caller", metavar="CALLER", help="auth username, or TENANT:EXTENSION")
    sp.add_argument("dialled", metavar="DIALLED", help="the dialled number")
    json_flag(sp)
    sp.set_defaults(fn=cmd_explain)

    # node
    g = group("node", "one node's daemons in the foreground (containers)")
    sp = g.add_parser("run", help="exec kamailio or rtpengine configured from the config file")
    sp.add_argument("daemon", choices=("kamailio", "rtpengine"))
    sp.add_argument("--print", action="store_true", help="print the command instead")
    sp.set_defaults(fn=cmd_node_run)

    # stack
    g = group("stack", "the native launcher (make up / make down)")
    sp = g.add_parser("up", help="start PostgreSQL, Redis, rtpengine, sync and Kamailio")
    sp.add_argument("--demo", action=argparse.BooleanOptionalAction, default=True,
                    help="provision the demo dataset into an empty database")
    sp.add_argument("--nodes", type=int, default=1, metavar="N",
                    help="N Kamailio edge nodes acting as one edge (ports +10 per node)")
    sp.set_defaults(fn=cmd_stack_up)
    g.add_parser("down", help="stop every process the stack started").set_defaults(
        fn=cmd_stack_down)
    g.add_parser("status", help="which processes run").set_defaults(fn=cmd_stack_status)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg: Config | None = None
    try:
        cfg = edgeconfig.load(args.config)
        args.fn(cfg, args)
    except (EdgeError, ConfigError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # a store that cannot be reached is a refused command, not a crash:
        # one line, non-zero exit (db.transaction already rolled back)
        line = store_error(exc, cfg)
        if line is None:
            raise
        sys.stderr.write(f"{PROG}: error: {line}\n")
        return 1
    return 0


def store_error(exc: Exception, cfg: Config | None) -> str | None:
    """One line for a Redis or PostgreSQL failure a command did not handle
    itself (None: not such a failure)."""
    import psycopg
    import redis

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        where = (", ".join(cfg.redis.sentinels) or db.safe_url(cfg.redis.url)) if cfg else "Redis"
        return f"cannot reach Redis at {where}: {first}"
    if isinstance(exc, redis.RedisError):
        return f"Redis refused the command: {first}"
    if isinstance(exc, psycopg.OperationalError):
        return f"cannot reach PostgreSQL: {first}"
    if isinstance(exc, psycopg.Error):
        return f"PostgreSQL: {db.explain_error(exc)}"
    return None
