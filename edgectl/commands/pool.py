"""The Asterisk media pool: ``edgectl pool ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows


def _pool_change(cfg: Config, a: argparse.Namespace, verb: str, uri: str, present: bool,
                 disabled: bool | None = None) -> None:
    from edgectl import pool

    if pool.wait_applied(cfg, uri, present, disabled):
        print(f"pool member {uri} {verb}; in effect on the local edge node")
    else:
        print(f"pool member {uri} {verb}; edge nodes apply it through their sync follower")


def cmd_pool_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    uri = service(cfg).pool_add(a.uri, a.weight, a.description)
    _pool_change(cfg, a, "added", uri, True, False)


def cmd_pool_drain(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    uri = service(cfg).pool_state(a.uri, "draining")
    _pool_change(cfg, a, "draining (no new calls; calls in progress continue)", uri, True, True)


def cmd_pool_activate(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    uri = service(cfg).pool_state(a.uri, "active")
    _pool_change(cfg, a, "active", uri, True, False)


def cmd_pool_weight(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    uri = service(cfg).pool_weight(a.uri, a.weight)
    _pool_change(cfg, a, f"weight {a.weight}", uri, True)


def cmd_pool_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    uri = service(cfg).pool_remove(a.uri, a.force)
    _pool_change(cfg, a, "removed", uri, False)


def cmd_pool_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).pool(EVERYTHING)["items"], a.json,
               ("uri", "weight", "state", "edge_sees", "duid", "description"))


def register(top: Any, group: Any, json_flag: Any) -> None:
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
