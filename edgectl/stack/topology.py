"""Several local edge nodes acting as one edge (``edgectl stack up
--nodes``): each node's config, its ports and its cluster peers."""

from __future__ import annotations

from edgecore import config as edgeconfig
from edgecore.config import Config
from edgectl.db import EdgeError

NODE_PORT_STEP = edgeconfig.NODE_PORT_STEP  # node k listens on the ports + 10 * (k - 1)


def cluster_configs(cfg: Config, nodes: int) -> list[Config]:
    """Configs of ``nodes`` local edge nodes acting as one edge: edge1 keeps
    the configured ports, node k listens 10*(k-1) ports higher, each has the
    others as cluster peers and its own server_id."""
    import copy

    if nodes < 1:
        raise EdgeError("--nodes must be at least 1")
    out = []
    for k in range(1, nodes + 1):
        c = copy.deepcopy(cfg)
        step = NODE_PORT_STEP * (k - 1)
        if k > 1:
            c.node.name = f"edge{k}"
        c.sip.udp_port, c.sip.tcp_port = cfg.sip.udp_port + step, cfg.sip.tcp_port + step
        c.sip.tls_port, c.sip.wss_port = cfg.sip.tls_port + step, cfg.sip.wss_port + step
        c.cluster.server_id = k
        out.append(c)
    if nodes > 1:
        # peers meet at their own addresses, never the public one they may share
        addrs = [f"{edgeconfig.cluster_address(c)}:{c.sip.udp_port}" for c in out]
        for i, c in enumerate(out):
            c.cluster.peers = addrs[:i] + addrs[i + 1:]
    return out
