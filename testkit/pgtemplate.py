"""One PostgreSQL data directory per test session, made by the stack's own
``initdb`` step and copied into each private edge's run directory.

``initdb`` costs about 1.3 s of CPU per edge on a quiet machine (far more
under the suite's own load); copying the directory it made costs about 0.3 s.
The copy is what ``Postgres.prepare`` would have produced (same program,
same options, same owner): ``prepare`` finds ``PG_VERSION`` in place and
starts the server on it. Each edge still gets its own data directory and
its own server: nothing is shared between edges but the starting bytes."""

from __future__ import annotations

import atexit
import copy
import shutil
import subprocess
import tempfile
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from edgecore.config import Config
from edgectl.stack.services import Postgres

_templates: dict[str, Path] = {}      # database user -> template data directory


def _template(cfg: Config) -> Path:
    user = str(conninfo_to_dict(cfg.postgres.dsn).get("user", "edge"))
    if user not in _templates:
        base = Path(tempfile.mkdtemp(prefix="edge-pg-template-"))
        atexit.register(shutil.rmtree, base, True)
        tcfg = copy.deepcopy(cfg)
        tcfg.paths.run_dir = str(base)
        pg = Postgres(tcfg)               # the product's own initdb step
        pg.prepare()
        _templates[user] = pg.datadir
    return _templates[user]


def seed(cfg: Config) -> None:
    """Put a fresh copy of the session's initdb output where the stack's
    PostgreSQL keeps its data (cfg.run_dir/pg), unless one is there."""
    datadir = Postgres(cfg).datadir
    if datadir.exists():
        return
    datadir.parent.mkdir(parents=True, exist_ok=True)
    # cp -a: owner (the postgres account when run as root) and mode 0700 kept
    subprocess.run(["cp", "-a", str(_template(cfg)), str(datadir)], check=True)
