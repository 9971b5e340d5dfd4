"""The Redis read model: ``edgectl sync``."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import Any

from edgecore.config import Config


def cmd_sync(cfg: Config, a: argparse.Namespace) -> None:
    from edgectl import pool, sync

    if not a.follow:
        res = sync.full_rebuild(cfg)
        print(f"read model generation {res.generation}: {res.tenants} tenants, "
              f"{res.devices} devices, {res.keys} keys in {res.seconds:.2f}s")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    follower = sync.Follower(cfg, on_pool_change=lambda: pool.reload_node(cfg),
                             ready_file=a.ready_file)
    signal.signal(signal.SIGTERM, follower.stop)
    signal.signal(signal.SIGINT, follower.stop)
    follower.run()


def register(top: Any, group: Any, json_flag: Any) -> None:
    sp = top.add_parser("sync", help="rebuild the Redis read model from PostgreSQL",
                        description="Full rebuild (atomic generation swap); with --follow, "
                                    "keep Redis current from PostgreSQL notifications.")
    sp.add_argument("--follow", action="store_true", help="keep running, applying changes")
    sp.add_argument("--ready-file", help="with --follow: file written once the model is built")
    sp.set_defaults(fn=cmd_sync)
