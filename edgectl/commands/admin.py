"""Administration: ``edgectl audit list`` (the trail of every change, by
edgectl or the API) and ``edgectl user ...`` (accounts of the API and console)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows, read_password
from edgectl.vocab import MAX_LIMIT, ROLES


def cmd_audit_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import Page, service

    page = service(cfg).audit_log(a.tenant, Page(min(a.limit, MAX_LIMIT)), actor=a.actor,
                                  action=a.action)
    if a.json:
        print(json.dumps(page["items"], default=str, indent=1))
        return
    for r in page["items"]:
        what = r["after"] if r["after"] is not None else r["before"]
        print(f"{r['at']:%Y-%m-%d %H:%M:%S}  {r['actor']:<20} {r['action']:<22} "
              f"{r['op']:<6} {r['object']:<18} {r['tenant'] or '-':<6} "
              f"{json.dumps(what, default=str, sort_keys=True)}")
    if not page["items"]:
        print("(none)")


def cmd_user_add(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    out = service(cfg).user_add(a.username, read_password(a.password), a.role, a.tenant,
                                a.totp)
    print(f"user {a.username} added ({a.role}" + (f" of tenant {a.tenant})" if a.tenant
                                                   else ")"))
    if a.totp:
        print(f"TOTP secret: {out['totp_secret']}\nTOTP URI: {out['totp_uri']}")


def cmd_user_list(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import Page, service

    print_rows(service(cfg).users(Page(MAX_LIMIT), a.tenant)["items"], a.json,
               ("username", "role", "tenant", "totp", "locked_until", "created_at"))


def cmd_user_passwd(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).user_passwd(a.username, read_password(a.password))
    print(f"password of user {a.username} changed; its sessions are revoked")


def cmd_user_totp(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    out = service(cfg).user_totp(a.username, a.enable)
    if a.enable:
        print(f"user {a.username} now needs a TOTP code at login\n"
              f"TOTP secret: {out['totp_secret']}\nTOTP URI: {out['totp_uri']}")
    else:
        print(f"user {a.username} no longer needs a TOTP code")


def cmd_user_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.service import service

    service(cfg).user_remove(a.username)
    print(f"user {a.username} removed")


def register(top: Any, group: Any, json_flag: Any) -> None:
    g = group("audit", "the audit trail of administrative changes")
    sp = g.add_parser("list", help="recent changes, newest first")
    sp.add_argument("--tenant", metavar="ID")
    sp.add_argument("--actor", help="e.g. api:alice or edgectl:root")
    sp.add_argument("--action", help="an operation or its prefix, e.g. device. or device.add")
    sp.add_argument("--limit", type=int, default=50, help=f"at most {MAX_LIMIT}")
    json_flag(sp)
    sp.set_defaults(fn=cmd_audit_list)

    g = group("user", "accounts of the administration API and console")
    sp = g.add_parser("add", help="add an account")
    sp.add_argument("username")
    sp.add_argument("--role", choices=ROLES, required=True)
    sp.add_argument("--tenant", metavar="ID", help="the tenant of a tenant admin (or read-only)")
    sp.add_argument("--password", required=True, help="'-' reads it from stdin")
    sp.add_argument("--totp", action="store_true", help="require a TOTP code at login")
    sp.set_defaults(fn=cmd_user_add)
    sp = g.add_parser("list", help="list accounts")
    sp.add_argument("--tenant", metavar="ID")
    json_flag(sp)
    sp.set_defaults(fn=cmd_user_list)
    sp = g.add_parser("passwd", help="set an account's password (unlocks it, revokes tokens)")
    sp.add_argument("username")
    sp.add_argument("--password", required=True, help="'-' reads it from stdin")
    sp.set_defaults(fn=cmd_user_passwd)
    sp = g.add_parser("totp", help="require (a new secret) or stop requiring a TOTP code")
    sp.add_argument("username")
    on = sp.add_mutually_exclusive_group(required=True)
    on.add_argument("--enable", action="store_true", dest="enable")
    on.add_argument("--disable", action="store_false", dest="enable")
    sp.set_defaults(fn=cmd_user_totp)
    sp = g.add_parser("remove", help="remove an account")
    sp.add_argument("username")
    sp.set_defaults(fn=cmd_user_remove)
