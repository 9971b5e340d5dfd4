"""Number ranges owned by tenants: ``edgectl range ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl import provision
from edgectl.commands.common import print_rows


def cmd_range_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    scope = service(cfg).range_add(a.tenant, a.first, a.last, a.scope)
    print(f"{scope} range {a.first}-{a.last} added to tenant {a.tenant}")


def cmd_range_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).ranges(a.tenant, EVERYTHING)["items"], a.json)


def cmd_range_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).range_remove(a.tenant, a.first, a.last)
    print(f"range {a.first}-{a.last} removed from tenant {a.tenant}")


def register(top: Any, group: Any, json_flag: Any) -> None:
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
