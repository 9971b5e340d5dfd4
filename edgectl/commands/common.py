"""What every command family shares: table/JSON output, reading a password,
the config file's path."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from edgecore import config as edgeconfig
from edgectl.errors import EdgeError


def print_rows(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str] | None = None
                ) -> None:
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
        return
    if not rows:
        print("(none)")
        return
    cols = list(columns or rows[0].keys())

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, (list, tuple)):
            return ",".join(str(x) for x in v) or "-"
        return str(v)

    table = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths)).rstrip())
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def read_password(value: str) -> str:
    if value == "-":
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise EdgeError("no password on standard input")
        return line
    return value


def cfg_path(a: argparse.Namespace) -> Any:
    p = a.config or os.environ.get(edgeconfig.ENV_VAR)
    return Path(p).resolve() if p else None
