"""A private edge for benchmarks: the project's launcher on free loopback
ports in a temporary run directory, stopped by PID on exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecore import config as edgeconfig
from edgectl.stack import Stack, ephemeral_config


class LocalEdge:
    def __init__(self, run_dir: Path, **sections: dict[str, Any]):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg = ephemeral_config(run_dir, rtp_ports=(50000, 59999))
        self.cfg.sip.children = 4
        self.cfg.sip.log_level = 0
        self.cfg.sip.shm_mb = 512
        for section, values in sections.items():
            for k, v in values.items():
                setattr(getattr(self.cfg, section), k, v)
        self.cfg_path = run_dir / "edge.toml"
        self.cfg_path.write_text(edgeconfig.dumps(self.cfg))
        self.stack = Stack(self.cfg, self.cfg_path)

    @property
    def target(self) -> str:
        return f"{self.cfg.sip.listen_ip}:{self.cfg.sip.udp_port}"

    def wait_synced(self, timeout: float = 120) -> None:
        self.stack.wait_synced(timeout)

    def __enter__(self) -> "LocalEdge":
        try:
            self.stack.up()
        except BaseException:
            self.stack.down()
            raise
        return self

    def __exit__(self, *a: object) -> None:
        self.stack.down()
