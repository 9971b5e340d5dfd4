"""Call detail records: ``edgectl cdr ...``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgecore.config import Config


def cmd_cdr_ship(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import cdr, db, ops

    total = 0
    for d in sorted(p for p in cfg.cdr_spool.glob("*") if p.is_dir()):
        total += cdr.ship(cdr.Spool(d, lambda: ops.rotate_node_spools(cfg)),
                          lambda: db.connect(cfg), 0.0, lambda s: print(s, file=sys.stderr))
    print(f"{total} CDRs shipped; {cdr.backlog(cfg.cdr_spool)} waiting")


def cmd_cdr_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import cdr_query, db

    f = cdr_query.filters(a.tenant, a.direction, a.since, a.until, a.call_id, a.limit, a.legs)
    fmt = "json" if a.json else a.format
    cdr_query.render([], fmt)                  # a bad --format fails before the database
    with db.transaction(cfg) as conn:
        rows = cdr_query.query(conn, f)
    print(cdr_query.render(rows, fmt, a.legs))


def register(top: Any, group: Any, json_flag: Any) -> None:
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
