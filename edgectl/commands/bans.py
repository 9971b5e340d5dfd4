"""Bans of sources and identities: ``edgectl ban ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows


def cmd_ban_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).bans(EVERYTHING)["items"], a.json)


def cmd_ban_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    kind, value = service(cfg).ban_add(a.target, a.seconds, a.reason)
    print(f"banned {'source' if kind == 'src' else 'identity'} {value} for {a.seconds}s "
          "on every edge node")


def cmd_ban_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    value = service(cfg).ban_remove(a.target)
    print(f"ban of {value} lifted on every edge node")


def register(top: Any, group: Any, json_flag: Any) -> None:
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
