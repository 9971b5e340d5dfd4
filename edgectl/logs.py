"""Size-based rotation of the stack's logs (<run_dir>/logs/*.log).

The launcher (edgectl.stack) opens each daemon's log file in append mode
and hands it over as the daemon's stdout/stderr; Kamailio (-E), rtpengine
(--log-stderr), Redis, PostgreSQL and our Python services all write there.
None of them can be told to reopen that file, so a rotation copies it and
empties it in place ("copytruncate", as logrotate(8) does): the writers'
descriptors stay valid and, being O_APPEND, write at the new end with no
hole. Lines written between the copy and the truncation (the copy of at most
``max_bytes``: milliseconds) are lost -- the price of not restarting a
daemon. The ops service runs :class:`Rotator`; ``[log]`` in the config.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from pathlib import Path

from edgecore.config import Config

log = logging.getLogger("edgectl.logs")


def log_dir(cfg: Config) -> Path:
    return cfg.run_dir / "logs"


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotate(path: Path, max_bytes: int, keep: int) -> bool:
    """Rotate ``path`` if it has grown past ``max_bytes``: ``.1`` .. ``.keep``
    hold the newest copies (``keep`` 0: the content is dropped). Returns
    whether it rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    if keep > 0:
        rotated(path, keep).unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            if rotated(path, n).exists():
                rotated(path, n).rename(rotated(path, n + 1))
        with open(path, "rb") as src, open(rotated(path, 1), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.truncate(path, 0)
    return True


def rotate_all(cfg: Config) -> list[Path]:
    """Every log of the stack past its size; returns those rotated."""
    out = []
    for path in sorted(log_dir(cfg).glob("*.log")):
        try:
            if rotate(path, cfg.log.max_bytes, cfg.log.keep):
                out.append(path)
        except OSError as exc:                  # one log must not stop the others
            log.warning("logs: could not rotate %s: %s", path, exc)
    return out


class Rotator(threading.Thread):
    """Checks the logs every ``[log] check_every`` seconds until stopped."""

    def __init__(self, cfg: Config, stop: threading.Event):
        super().__init__(name="log-rotator", daemon=True)
        self.cfg = cfg
        self.stop = stop

    def run(self) -> None:
        while not self.stop.wait(self.cfg.log.check_every):
            rotate_all(self.cfg)
