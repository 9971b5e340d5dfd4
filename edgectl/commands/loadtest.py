"""Load-test data: ``edgectl loadtest ...``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows
from edgectl.errors import EdgeError
from edgectl.loadkit import DEFAULT_PATTERN as LOADTEST_PATTERN
from edgectl.loadkit import LOADTEST_TENANT_BASE
from edgectl.loadkit import ORDERS as LOADTEST_ORDERS


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

    print_rows([{"tenant": t, "devices": n} for t, n in loadkit.loadtest_tenants(cfg)], a.json)


def register(top: Any, group: Any, json_flag: Any) -> None:
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
