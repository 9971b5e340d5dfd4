"""The administration API and console in the foreground: ``edgectl api run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgecore.config import Config


def cmd_api_run(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl.api import server

    server.run(cfg, Path(a.ready_file) if a.ready_file else None)


def register(top: Any, group: Any, json_flag: Any) -> None:
    g = group("api", "the administration HTTP API and web console (HTTPS)")
    sp = g.add_parser("run", help="serve the API and console (foreground)")
    sp.add_argument("--ready-file", help="file written once the API is served")
    sp.set_defaults(fn=cmd_api_run)
