"""``edgectl``: the operator's command line for the edge.

Every provisioning command is one database transaction; a refused command
prints one line on stderr, exits non-zero and leaves nothing behind. Changes
reach the running edge through the sync follower (LISTEN/NOTIFY), with no
Kamailio restart.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any, NoReturn, Sequence

from edgecore import config as edgeconfig
from edgecore.config import Config, ConfigError
from edgectl import commands
from edgectl.errors import EdgeError

PROG = "edgectl"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and a pointer to --help)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> Parser:
    p = Parser(prog=PROG, description="Control plane of the multi-tenant SIP edge.")
    p.add_argument("--config", metavar="PATH",
                   help=f"TOML config overriding the defaults (default: ${edgeconfig.ENV_VAR})")
    top = p.add_subparsers(dest="group", required=True, parser_class=Parser, metavar="COMMAND")

    def group(name: str, help: str) -> Any:
        g = top.add_parser(name, help=help, description=help)
        return g.add_subparsers(dest="action", required=True, parser_class=Parser,
                                metavar="ACTION")

    def json_flag(sp: Any) -> None:
        sp.add_argument("--json", action="store_true", help="machine-readable output")

    for name in commands.FAMILIES:
        importlib.import_module(f"edgectl.commands.{name}").register(top, group, json_flag)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg: Config | None = None
    try:
        cfg = edgeconfig.load(args.config)
        args.fn(cfg, args)
    except (EdgeError, ConfigError) as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # a store that cannot be reached is a refused command, not a crash:
        # one line, non-zero exit (db.transaction already rolled back)
        line = store_error(exc, cfg)
        if line is None:
            raise
        sys.stderr.write(f"{PROG}: error: {line}\n")
        return 1
    return 0


def store_error(exc: Exception, cfg: Config | None) -> str | None:
    """One line for a Redis or PostgreSQL failure a command did not handle
    itself (None: not such a failure)."""
    import psycopg
    import redis

    from edgectl import db

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        where = (", ".join(cfg.redis.sentinels) or db.safe_url(cfg.redis.url)) if cfg else "Redis"
        return f"cannot reach Redis at {where}: {first}"
    if isinstance(exc, redis.RedisError):
        return f"Redis refused the command: {first}"
    if isinstance(exc, psycopg.OperationalError):
        return f"cannot reach PostgreSQL: {first}"
    if isinstance(exc, psycopg.Error):
        return f"PostgreSQL: {db.explain_error(exc)}"
    return None
