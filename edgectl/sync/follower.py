"""``edgectl sync --follow``: LISTEN on the schema's NOTIFY and apply each
changed tenant (see the package docstring)."""

from __future__ import annotations

import logging
import os
import select
import time
from typing import Callable

import psycopg
import redis

from edgecore.config import Config
from edgectl.db import EdgeError, connect
from edgectl.sync.writer import apply_tenants, current_generation, full_rebuild, redis_client

log = logging.getLogger("edgectl.sync")

CHANNEL = "edge_changes"


class Follower:
    """LISTEN/NOTIFY loop keeping Redis current; survives either side restarting."""

    def __init__(self, cfg: Config, on_pool_change: Callable[[], object] | None = None,
                 ready_file: str | None = None):
        self.cfg = cfg
        self.on_pool_change = on_pool_change
        self.ready_file = ready_file
        self.stopping = False
        # self-pipe: stop() (a signal handler) wakes the select() in _wait at
        # once instead of after its 1 s timeout
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def stop(self, *_: object) -> None:
        self.stopping = True
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:             # already woken
            pass

    def run(self) -> None:
        backoff = 0.2
        while not self.stopping:
            try:
                self._session()
                backoff = 0.2
            except (psycopg.Error, redis.RedisError, EdgeError, OSError) as exc:
                log.warning("sync follower: %s; retrying in %.1fs", str(exc).splitlines()[0]
                            if str(exc) else type(exc).__name__, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    def _session(self) -> None:
        r = redis_client(self.cfg)
        conn = connect(self.cfg, autocommit=True)
        try:
            conn.execute(f"LISTEN {CHANNEL}")
            full_rebuild(self.cfg, r, conn)        # anything missed while away
            if self.on_pool_change:
                self.on_pool_change()
            if self.ready_file:
                with open(self.ready_file, "w") as fh:
                    fh.write(str(os.getpid()))
            last_check = time.monotonic()
            while not self.stopping:
                payloads = self._wait(conn, 1.0)
                if payloads:
                    self._apply(payloads, r, conn)
                if time.monotonic() - last_check > 2.0:
                    last_check = time.monotonic()
                    if current_generation(r) is None:   # Redis restarted empty
                        log.warning("read model missing in Redis: rebuilding")
                        full_rebuild(self.cfg, r, conn)
        finally:
            conn.close()
            r.close()

    def _wait(self, conn: psycopg.Connection, timeout: float) -> set[str]:
        payloads: set[str] = set()
        ready = select.select([conn.fileno(), self._wake_r], [], [], timeout)[0]
        if conn.fileno() not in ready:      # timed out, or stop() woke us
            return payloads
        # gather a short burst: one provisioning transaction may notify many
        # tenants. The generator's own timeout ends it, after a whole batch:
        # leaving it mid-batch (a break) drops the rest of the batch psycopg
        # already read off the socket -- 306 of 10,000 tenants provisioned at
        # once never reached the read model until their next change
        for n in conn.notifies(timeout=0.02):
            payloads.add(n.payload)
        if not payloads:
            conn.execute("SELECT 1")   # surface a dead connection as an error
        return payloads

    def _apply(self, payloads: set[str], r: redis.Redis, conn: psycopg.Connection) -> None:
        tenants = sorted(p[2:] for p in payloads if p.startswith("t:"))
        if "ns" in payloads and not tenants:
            snap_conn = connect(self.cfg)
            try:
                apply_tenants(self.cfg, [], r, snap_conn)
            finally:
                snap_conn.close()
        if tenants:
            # tenants and their data are read on a separate, transactional snapshot
            snap_conn = connect(self.cfg)
            try:
                apply_tenants(self.cfg, tenants, r, snap_conn)
            finally:
                snap_conn.close()
            log.info("applied changes of tenants %s", ",".join(tenants))
        if "pool" in payloads and self.on_pool_change:
            self.on_pool_change()
