"""Operations: ``edgectl status`` and ``edgectl ops run``."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
import signal
from typing import Any

from edgecore.config import Config
from edgectl.errors import EdgeError


def cmd_ops_run(cfg: Config, a: argparse.Namespace) -> None:
    import threading

    from edgectl import ops

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        ops.run(cfg, Path(a.ready_file) if a.ready_file else None, stop)
    except OSError as exc:
        raise EdgeError(f"metrics endpoint {cfg.ops.metrics_listen}:{cfg.ops.metrics_port}: "
                        f"{exc.strerror or exc}") from None

def cmd_status(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import ops

    if a.top < 1:
        raise EdgeError("--top must be at least 1")
    data = ops.status_data(cfg, a.top)
    if a.json:
        print(json.dumps(data, default=str, indent=1))
    else:
        print(ops.render_status(data))


def register(top: Any, group: Any, json_flag: Any) -> None:
    sp = top.add_parser("status", help="one screen: registrations, pool, bans, lag, failures",
                        description="The running edge at a glance: nodes, registered devices "
                                    "per tenant (top N), pool members and their calls, bans, "
                                    "read-model sync lag, CDR backlog, failed calls.")
    sp.add_argument("--top", type=int, default=10, metavar="N", help="tenants shown (10)")
    json_flag(sp)
    sp.set_defaults(fn=cmd_status)
    g = group("ops", "the metrics exporter and CDR shipper")
    sp = g.add_parser("run", help="serve /metrics and ship CDRs (foreground)")
    sp.add_argument("--ready-file", help="file written once /metrics is served")
    sp.set_defaults(fn=cmd_ops_run)
