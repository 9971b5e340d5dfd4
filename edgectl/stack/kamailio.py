"""One Kamailio edge node as a daemon of the stack: its command line (the
config's defines, features and secrets), environment (the embedded Python's
path, the metrics directory) and readiness (RPC answers and the node has
seen the read model).
"""

from __future__ import annotations

from pathlib import Path

from edgecore.config import REPO_ROOT, Config
from edgectl import rpc
from edgectl.stack import kamailio_defines
from edgectl.stack.process import Service
from edgectl.stack.services import python_env

KAMAILIO_CFG = REPO_ROOT / "kamailio" / "kamailio.cfg"


class Kamailio(Service):
    def __init__(self, cfg: Config, cfg_path: Path,
                 extra_defines: dict[str, str] | None = None):
        super().__init__(cfg, f"kamailio-{cfg.node.name}", "kamailio")
        self.cfg_path = cfg_path
        self.extra_defines = extra_defines or {}

    def defines(self) -> dict[str, str]:
        d = kamailio_defines.kamailio_defines(self.cfg)
        for feature in self.cfg.node.features:
            d[f"WITH_{feature.upper()}"] = ""
        if self.cfg.cluster.peers:          # a node with peers is in a cluster
            d["WITH_CLUSTER"] = ""
        d[kamailio_defines.SECRETS_FLAG] = ""     # the secrets themselves: env()
        d.update(self.extra_defines)
        return d

    def command(self) -> list[str]:
        kamailio_defines.kamailio_secrets(self.cfg)       # refuses the default off loopback
        cmd = ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", str(self.cfg.sip.shm_mb),
               "-M", str(self.cfg.sip.pkg_mb), "-x", self.cfg.sip.memory_manager]
        for name, value in self.defines().items():
            cmd += ["-A", f"{name}={value}" if value != "" else name]
        for addr in self.cfg.sip.legacy_listen:     # imported legacy servers' addresses
            cmd += ["-l", f"udp:{addr}:{self.cfg.sip.udp_port}",
                    "-l", f"tcp:{addr}:{self.cfg.sip.tcp_port}"]
        return cmd

    def env(self) -> dict[str, str]:
        env = python_env(self.cfg_path)
        env.update(kamailio_defines.kamailio_secrets(self.cfg))
        return env

    def prepare(self) -> None:
        self.cfg.rpc_socket.unlink(missing_ok=True)
        # jsonrpcs refuses to start without its FIFO reply directory
        self.cfg.rpc_reply_dir.mkdir(mode=0o770, parents=True, exist_ok=True)
        # never wiped: unshipped CDRs survive restarts
        self.cfg.node_spool.mkdir(parents=True, exist_ok=True)
        if "pool" in self.cfg.node.features:
            from edgectl import poollist
            poollist.ensure(self.cfg)       # PostgreSQL down: the last pool written
        if "websocket" in self.cfg.node.features:
            from edgectl import certs
            certs.ensure(self.cfg)

    def ready(self) -> bool:
        """Answers RPC, and its timer has seen the read model (edge_ver >= 0)."""
        try:
            return rpc.read_model_version(self.cfg.rpc_socket, timeout=2.0) >= 0
        except (rpc.RpcError, OSError, ValueError):
            return False

    def rpc(self, method: str, *params: object) -> object:
        return rpc.call(self.cfg.rpc_socket, method, *params)
