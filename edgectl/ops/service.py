"""``edgectl ops run``: the ops service's process -- the metrics endpoint,
the CDR shipper loop and the log rotator."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from edgecore.config import Config
from edgectl import cdr
from edgectl.ops.exporter import registry
from edgectl.ops.shipping import rotate_node_spools

log = logging.getLogger("edgectl.ops")


def run(cfg: Config, ready_file: Path | None = None,
        stop: threading.Event | None = None) -> None:
    from prometheus_client import Counter, start_http_server

    reg = registry(cfg)
    shipped = Counter("edge_cdr_shipped", "CDRs committed to PostgreSQL by the shipper",
                      registry=reg)
    failures = Counter("edge_cdr_ship_failures", "Shipping rounds that failed (PostgreSQL "
                       "unreachable...); the spool keeps the CDRs", registry=reg)
    server, thread = start_http_server(cfg.ops.metrics_port, cfg.ops.metrics_listen,
                                       registry=reg)
    log.info("ops: metrics on http://%s:%d/metrics", cfg.ops.metrics_listen,
             cfg.ops.metrics_port)
    if ready_file is not None:
        ready_file.write_text("ready\n")
    stop = stop or threading.Event()
    from edgectl import db, logs

    logs.Rotator(cfg, stop).start()        # the stack's logs, by size ([log])

    spools: dict[Path, cdr.Spool] = {}
    last_error = ""
    try:
        while not stop.is_set():
            cfg.cdr_spool.mkdir(parents=True, exist_ok=True)
            for d in sorted(p for p in cfg.cdr_spool.iterdir() if p.is_dir()):
                spool = spools.setdefault(d, cdr.Spool(d, lambda: rotate_node_spools(cfg)))
                try:
                    n = cdr.ship(spool, lambda: db.connect(cfg), cfg.ops.ship_interval,
                                 log.warning)
                    shipped.inc(n)
                    if last_error:
                        log.warning("cdr: shipping again after: %s", last_error)
                        last_error = ""
                except Exception as exc:
                    failures.inc()
                    msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
                    if msg != last_error:
                        log.warning("cdr: shipping deferred (CDRs kept in %s): %s", d, msg)
                        last_error = msg
            stop.wait(cfg.ops.ship_interval)
    finally:
        server.shutdown()
        thread.join(timeout=5)
