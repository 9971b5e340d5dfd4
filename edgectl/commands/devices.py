"""Devices and their credentials: ``edgectl device ...``."""

from __future__ import annotations

import argparse
from typing import Any, Callable

from edgecore.config import Config
from edgectl import device_name
from edgectl.commands.common import print_rows, read_password


def cmd_device_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    pw = read_password(a.password) if a.password is not None else None
    d = service(cfg).device_add(a.tenant, a.extension, password=pw, ha1=a.ha1,
                                auth_username=a.auth_user, display_name=a.name,
                                max_calls=a.max_calls)
    print(f"device {d.extension} added to tenant {d.tenant}; auth username {d.auth_username}, "
          f"realm {cfg.auth.realm}")


def cmd_device_passwd(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    pw = read_password(a.password)
    service(cfg).device_passwd(a.tenant, a.extension, pw)
    print(f"password of device {a.extension} of tenant {a.tenant} changed")


def _in_transaction(cfg: Config, fn: Callable[[Any], None]) -> None:
    """device set: one audited change through the service layer."""
    from edgectl.service import service

    with service(cfg).change("device.set") as c:
        fn(c)


def cmd_device_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).devices(a.tenant, EVERYTHING)["items"], a.json)


def cmd_device_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).device_remove(a.tenant, a.extension)
    print(f"device {a.extension} removed from tenant {a.tenant}")


def register(top: Any, group: Any, json_flag: Any) -> None:
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
