"""``edgectl import``: chan-sip (dry run or import), undo, list, verify."""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecore.config import Config
from edgectl.errors import EdgeError

if TYPE_CHECKING:  # the importer's modules are imported by the handlers that run them
    from edgectl.legacy import plan

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


def namespace_name(server: str) -> str:
    from edgectl.legacy import plan

    ns = server.strip().lower()
    if not re.match(plan.NAMESPACE_NAME, ns):
        raise EdgeError(f"server name {server!r}: letters, digits and '-', at most 32")
    return ns


def check_address(a: str) -> str:
    a = a.strip().lower()
    try:
        return str(ipaddress.ip_address(a))
    except ValueError:
        pass
    if not _HOST.match(a) or len(a) > 253:
        raise EdgeError(f"address {a!r} is neither an IP address nor a DNS name")
    return a


def load_plan(a: argparse.Namespace) -> plan.Plan:
    from edgectl.legacy import parse, plan

    ns = namespace_name(a.server)
    addresses = [check_address(x) for x in a.address]
    try:
        server = parse.parse_server(parse.read_tree(Path(a.source)))
    except parse.ParseError as exc:
        raise EdgeError(f"{a.source}: {exc}") from None
    return plan.plan_server(ns, addresses, a.realm, server)


def cmd_chan_sip(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import db
    from edgectl.legacy import plan, store

    t0 = time.monotonic()
    p = load_plan(a)
    if a.dry_run:
        conn = db.connect(cfg)
        try:
            active = store.active_plans(conn)
            others = [q for n, (_, q) in active.items() if n != p["namespace"]]
            rep = plan.report(p, others, store.existing_tenants(conn))
        finally:
            conn.close()
        rep["dry_run"] = True
        print(json.dumps(rep, indent=2) if a.json else plan.render(rep))
        return
    with db.transaction(cfg) as conn:
        iid, changes = store.import_plan(conn, p, str(Path(a.source).resolve()))
    took = time.monotonic() - t0
    if a.json:
        print(json.dumps({"import": iid, "server": p["namespace"], "changes": changes,
                          "unimportable": p["problems"], "seconds": round(took, 3)}))
        return
    if not changes:
        print(f"server {p['namespace']}: nothing changed (same as import {iid})")
    else:
        print(f"import {iid}: server {p['namespace']}: {changes['created']} created, "
              f"{changes['updated']} updated, {changes['deleted']} deleted "
              f"({len(p['problems'])} lines not imported; --dry-run lists them) in {took:.2f}s")


def cmd_undo(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import db
    from edgectl.legacy import store

    with db.transaction(cfg) as conn:
        ch = store.undo(conn, a.id)
    print(f"import {a.id} undone: {ch['created']} created, {ch['updated']} updated, "
          f"{ch['deleted']} deleted")


def cmd_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import db
    from edgectl.legacy import store

    conn = db.connect(cfg)
    try:
        rows = store.list_imports(conn)
    finally:
        conn.close()
    if a.json:
        print(json.dumps(rows))
        return
    for r in rows:
        state = f"undone {r['undone_at']}" if r["undone_at"] else "active/superseded"
        print(f"{r['id']:>5} {r['server']:<10} {r['created_at']} {state} {r['changes']} "
              f"{r['source']}")


def cmd_verify(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.legacy import verify

    res = verify.verify(cfg, namespace_name(a.server))
    if a.json:
        print(json.dumps(res))
    else:
        print(verify.render(res))
    if res["unexplained"]:
        sys.exit(1)


def register(top: Any, group: Any, json_flag: Any) -> None:
    """The ``import`` command family (edgectl/commands/legacy.py hooks it in)."""
    g = group("import", "bring a legacy chan_sip server onto the edge")
    sp = g.add_parser("chan-sip", help="import one server's /etc/asterisk (dir or tarball)")
    sp.add_argument("--server", required=True, help="the server's name, e.g. GV2P")
    sp.add_argument("--address", action="append", required=True, metavar="ADDR",
                    help="address or DNS name its phones send to (repeatable)")
    sp.add_argument("--realm", help="digest realm (default: sip.conf's, else 'asterisk')")
    sp.add_argument("--dry-run", action="store_true", help="print the plan and report only")
    json_flag(sp)
    sp.add_argument("source", metavar="DIR|TARBALL")
    sp.set_defaults(fn=cmd_chan_sip)
    sp = g.add_parser("undo", help="undo an import (the server's previous import applies)")
    sp.add_argument("id", type=int)
    sp.set_defaults(fn=cmd_undo)
    sp = g.add_parser("list", help="imports done")
    json_flag(sp)
    sp.set_defaults(fn=cmd_list)
    sp = g.add_parser("verify", help="legacy dialplan decisions vs the edge's (explain)")
    sp.add_argument("server")
    json_flag(sp)
    sp.set_defaults(fn=cmd_verify)
