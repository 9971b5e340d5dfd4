"""Ring groups (attendant islands): ``edgectl ringgroup ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl import provision
from edgectl.commands.common import print_rows


def cmd_rg_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).ringgroup_add(a.tenant, a.number, a.name, a.strategy, a.timeout,
                               a.member or [])
    print(f"ring group {a.number} added to tenant {a.tenant}")


def cmd_rg_member_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).ringgroup_members_add(a.tenant, a.number, a.extensions)
    print(f"ring group {a.number}: added {', '.join(a.extensions)}")


def cmd_rg_member_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).ringgroup_members_remove(a.tenant, a.number, a.extensions)
    print(f"ring group {a.number}: removed {', '.join(a.extensions)}")


def cmd_rg_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).ringgroups(a.tenant, EVERYTHING)["items"], a.json)


def cmd_rg_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).ringgroup_remove(a.tenant, a.number)
    print(f"ring group {a.number} removed from tenant {a.tenant}")


def register(top: Any, group: Any, json_flag: Any) -> None:
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
