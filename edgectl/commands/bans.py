"""Bans of sources and identities: ``edgectl ban ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config
from edgectl.commands.common import print_rows
from edgectl.db import EdgeError


def _ban_target(target: str) -> tuple[str, str]:
    """An IP address bans a source; anything else is an identity."""
    from edgecore import tenancy
    from edgectl.provision import AUTH_USER

    if tenancy.is_ip_literal(target):
        return "src", target.strip("[]")
    if tenancy.looks_like_ip(target):
        raise EdgeError(f"not a valid IP address: {target!r}")
    if not AUTH_USER.match(target):
        raise EdgeError(f"not an IP address nor an auth username: {target!r}")
    return "id", target


def _guard_redis(cfg: Config) -> Any:
    import redis

    from edgectl.sync import redis_client
    r = redis_client(cfg)
    try:
        r.ping()
    except redis.RedisError as exc:
        raise EdgeError(f"cannot reach Redis at {cfg.redis.url}: {exc}") from None
    return r


def cmd_ban_list(cfg: Config, a: argparse.Namespace) -> None:
    import time
    from datetime import datetime, timezone

    from edgecore import guard

    now = time.time()
    rows = [{"kind": "source" if b.kind == "src" else "identity", "who": b.value,
             "until": datetime.fromtimestamp(b.until, timezone.utc).isoformat(timespec="seconds"),
             "seconds_left": int(b.until - now), "reason": b.reason}
            for b in guard.bans(_guard_redis(cfg), now)]
    print_rows(rows, a.json)


def cmd_ban_add(cfg: Config, a: argparse.Namespace) -> None:
    import time

    from edgecore import guard

    if a.seconds <= 0:
        raise EdgeError("--for must be a positive number of seconds")
    kind, value = _ban_target(a.target)
    guard.ban(_guard_redis(cfg), kind, value, guard.ban_until(time.time(), a.seconds),
              a.reason)
    print(f"banned {'source' if kind == 'src' else 'identity'} {value} for {a.seconds}s "
          "on every edge node")


def cmd_ban_remove(cfg: Config, a: argparse.Namespace) -> None:
    from edgecore import guard

    kind, value = _ban_target(a.target)
    if not guard.unban(_guard_redis(cfg), kind, value):
        raise EdgeError(f"{value} is not banned")
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
