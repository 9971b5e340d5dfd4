"""The nodes' dispatcher list file, written from PostgreSQL.

A node loads the media pool from ``<run_dir>/dispatcher.list``
(kamailio/features/pool.cfg), never from PostgreSQL: dispatcher reading a
database makes Kamailio refuse to start while it is down. This module renders
the ``dispatcher`` view into that file (edgecore.dispatcher_list) -- on every
pool change, before ``dispatcher.reload`` (edgectl.pool.reload_node, run by
the sync follower and the pool commands), and before a node starts
(:func:`ensure`, edgectl.stack.Kamailio.prepare), which falls back to the last
file written when PostgreSQL does not answer.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psycopg

from edgecore import dispatcher_list as dl
from edgecore.config import Config
from edgectl.db import EdgeError

log = logging.getLogger("edgectl.poollist")


def write(cfg: Config) -> Path:
    """The `dispatcher` view as the nodes' list file (replaced atomically:
    a node reloading meanwhile reads the old file or the new one)."""
    from edgectl import db

    conn = db.connect(cfg, autocommit=True)
    try:
        rows = [dl.Destination(*r) for r in conn.execute(
            "SELECT setid, destination, flags, priority, attrs FROM dispatcher ORDER BY id")]
    except psycopg.errors.UndefinedTable:      # not migrated yet: no pool
        rows = []
    finally:
        conn.close()
    return install(cfg, dl.render(rows))


def install(cfg: Config, text: str) -> Path:
    path = cfg.dispatcher_list
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def ensure(cfg: Config) -> None:
    """Before a node starts: the list file from PostgreSQL when it answers;
    else the last one written (the pool as it was), else an empty pool --
    never a node that refuses to start."""
    try:
        write(cfg)
    except (EdgeError, psycopg.Error) as exc:
        if not cfg.dispatcher_list.exists():
            install(cfg, dl.render([]))
        log.warning("pool: PostgreSQL unavailable (%s); the node loads the pool of %s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    cfg.dispatcher_list)
