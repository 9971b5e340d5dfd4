"""Schema migrations: ``edgectl db ...``."""

from __future__ import annotations

import argparse
from typing import Any

from edgecore.config import Config


def cmd_db_migrate(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import db

    applied = db.migrate(cfg)
    print("applied: " + ", ".join(applied) if applied else "schema is up to date")


def cmd_db_version(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import db

    print(db.schema_version(cfg) or "(no schema)")


def register(top: Any, group: Any, json_flag: Any) -> None:
    g = group("db", "schema migrations")
    g.add_parser("migrate", help="apply pending migrations").set_defaults(fn=cmd_db_migrate)
    g.add_parser("version", help="print the schema version").set_defaults(fn=cmd_db_version)
