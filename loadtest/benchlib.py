"""A private edge for benchmarks: the project's launcher on free loopback
ports in a temporary run directory, stopped by PID on exit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edgecore import config as edgeconfig
from edgecore import readmodel as rm
from edgecore.config import Config
from edgectl import rpc
from edgectl.stack import Stack, _shv_int, free_port


def bench_config(run_dir: Path, **sections: dict[str, Any]) -> Config:
    cfg = Config()
    cfg.paths.run_dir = str(run_dir)
    cfg.sip.udp_port = cfg.sip.tcp_port = free_port()
    cfg.sip.children = 4
    cfg.sip.log_level = 0
    cfg.redis.url = f"redis://127.0.0.1:{free_port()}/0"
    cfg.postgres.dsn = f"postgresql://edge@127.0.0.1:{free_port()}/edge"
    cfg.rtpengine.ng_port = free_port()
    cfg.rtpengine.port_min, cfg.rtpengine.port_max = 50000, 59999
    for section, values in sections.items():
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    return cfg


class LocalEdge:
    def __init__(self, run_dir: Path, shm_mb: int = 512, **sections: dict[str, Any]):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg = bench_config(run_dir, **sections)
        self.cfg_path = run_dir / "edge.toml"
        self.cfg_path.write_text(edgeconfig.dumps(self.cfg))
        self.stack = Stack(self.cfg, self.cfg_path)
        self.stack.kamailio.shm_mb = shm_mb

    @property
    def target(self) -> str:
        return f"{self.cfg.sip.listen_ip}:{self.cfg.sip.udp_port}"

    def wait_synced(self, timeout: float = 120) -> None:
        import redis
        r = redis.Redis.from_url(self.cfg.redis.url, decode_responses=True)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2)
                ver = int(r.get(rm.VER_KEY) or -1)
                node = _shv_int(rpc.call(self.cfg.rpc_socket, "pv.shvGet", "edge_ver"))
                if ver >= 0 and node == ver:
                    return
        finally:
            r.close()
        raise TimeoutError("read model did not reach the node")

    def __enter__(self) -> "LocalEdge":
        try:
            self.stack.up()
        except BaseException:
            self.stack.down()
            raise
        return self

    def __exit__(self, *a: object) -> None:
        self.stack.down()
