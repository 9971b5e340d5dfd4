"""Private stacks beside any other: a config with every port free and all
state under one directory, and a scratch Redis holding the read model's
function library."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from edgecore.config import Config
from edgectl.stack.services import Redis
from testkit.ports import MAX_LOCAL_NODES, free_port


@contextlib.contextmanager
def scratch_redis(run_dir: Path) -> Iterator[Any]:
    """A private Redis on a free loopback port (state in run_dir) holding the
    read model's function library, for measurements and tests of the Redis
    side alone; stopped by PID on exit."""
    import redis as redispy

    from edgestore import readmodel as rmstore

    server = Redis(ephemeral_config(run_dir))
    server.start()
    try:
        client = redispy.Redis.from_url(server.cfg.redis.url, decode_responses=True)
        rmstore.load_library(client)
        try:
            yield client
        finally:
            client.close()
    finally:
        server.stop()


def ephemeral_config(run_dir: Path, name: str = "edge1", listen_ip: str = "127.0.0.1",
                     rtp_ports: tuple[int, int] = (30000, 30999)) -> Config:
    """Defaults, with every listening port free on this host and all state in
    run_dir: a private stack beside any other (tests, benchmarks)."""
    cfg = Config()
    cfg.paths.run_dir = str(run_dir)
    cfg.node.name = name
    cfg.sip.listen_ip = listen_ip
    # the SIP ports: node k of `stack up --nodes` listens k-1 steps higher
    cfg.sip.udp_port = cfg.sip.tcp_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.sip.tls_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.sip.wss_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.redis.url = f"redis://127.0.0.1:{free_port()}/0"
    cfg.postgres.dsn = f"postgresql://edge@127.0.0.1:{free_port()}/edge"
    cfg.rtpengine.ng_port = free_port()
    cfg.rtpengine.port_min, cfg.rtpengine.port_max = rtp_ports
    cfg.ops.metrics_port = free_port()
    cfg.api.port = free_port()
    return cfg
