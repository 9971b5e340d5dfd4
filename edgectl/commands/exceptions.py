"""Cross-tenant dialing exceptions: ``edgectl exception ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows


def cmd_exception_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).exception_add(a.from_tenant, a.to_tenant, a.both_ways)
    arrow = "<->" if a.both_ways else "->"
    print(f"exception {a.from_tenant} {arrow} {a.to_tenant} added")


def cmd_exception_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).exception_remove(a.from_tenant, a.to_tenant, a.both_ways)
    print("exception removed")


def cmd_exception_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).exceptions(a.tenant, EVERYTHING)["items"], a.json)


def register(top: Any, group: Any, json_flag: Any) -> None:
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
