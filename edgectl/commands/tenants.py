"""Tenants (resellers): ``edgectl tenant ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl import provision
from edgectl.commands.common import print_rows


def cmd_tenant_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    rec, required = provision.recording_mode("off" if a.no_recording else a.recording)
    service(cfg).tenant_add(a.id, a.name, a.global_access, rec, a.domain, a.max_calls,
                            a.max_devices, a.max_ring_groups, recording_required=required)
    print(f"tenant {a.id} added")


def cmd_tenant_set(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    rec, required = (None, None) if a.recording is None else \
        provision.recording_mode(a.recording)
    service(cfg).tenant_set(a.id, name=a.name, global_access=a.global_access,
                            recording=rec, recording_required=required, domain=a.domain,
                            max_calls=a.max_calls, max_devices=a.max_devices,
                            max_ring_groups=a.max_ring_groups)
    print(f"tenant {a.id} updated")


def cmd_tenant_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import EVERYTHING, service

    print_rows(service(cfg).tenants(EVERYTHING)["items"], a.json)


def cmd_tenant_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).tenant_remove(a.id, a.cascade)
    print(f"tenant {a.id} removed")


def register(top: Any, group: Any, json_flag: Any) -> None:
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
    sp.add_argument("--max-devices", type=int, help="quota: devices the tenant may have")
    sp.add_argument("--max-ring-groups", type=int, help="quota: ring groups the tenant may have")
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
    sp.add_argument("--max-devices", type=int, help="quota of devices; -1 clears it")
    sp.add_argument("--max-ring-groups", type=int, help="quota of ring groups; -1 clears it")
    sp.set_defaults(fn=cmd_tenant_set)
    sp = g.add_parser("list", help="list tenants")
    json_flag(sp)
    sp.set_defaults(fn=cmd_tenant_list)
    sp = g.add_parser("remove", help="remove a tenant")
    sp.add_argument("id")
    sp.add_argument("--cascade", action="store_true",
                    help="also remove its devices, ring groups and ranges")
    sp.set_defaults(fn=cmd_tenant_remove)
