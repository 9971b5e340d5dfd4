"""Dry run of a call: ``edgectl explain``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecore.config import Config


def cmd_explain(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import explain
    from edgectl.service import service

    d = service(cfg).explain(a.caller, a.dialled)
    print(json.dumps(d, indent=1) if a.json else explain.render(explain.Explanation(**d)))


def register(top: Any, group: Any, json_flag: Any) -> None:
    sp = top.add_parser("explain", help="dry run: what the edge does with a call",
                        description="Resolve DIALLED for CALLER and apply the dialing policy "
                                    "exactly as the edge does, without placing a call.")
    sp.add_argument("caller", metavar="CALLER", help="auth username, or TENANT:EXTENSION")
    sp.add_argument("dialled", metavar="DIALLED", help="the dialled number")
    json_flag(sp)
    sp.set_defaults(fn=cmd_explain)
