"""Where nodes stand among their peers: a node's published ports, its
cluster address, its server_id, whether a peer shares its address; and the
configs of several local nodes acting as one edge (``edgectl stack up
--nodes``). Names are resolved here, in the launcher (once per start), never
in a SIP worker: the results reach Kamailio as defines
(:mod:`edgectl.stack.kamailio_defines`).
"""

from __future__ import annotations

from edgecore.config import Config, ConfigError
from edgectl.db import EdgeError

# node k of a cluster sharing one public address is published k-1 steps higher
# (`cluster.nodes`, and `edgectl stack up --nodes`, which also listens there)
NODE_PORT_STEP = 10


def node_index(cfg: Config) -> int:
    """This node's position (from 1) in ``cluster.nodes``; 0 when not listed."""
    try:
        return cfg.cluster.nodes.index(cfg.node.name) + 1
    except ValueError:
        return 0


def advertised_ports(cfg: Config) -> tuple[int, int, int, int]:
    """(udp, tcp, tls, wss) ports phones reach this node at: the listening
    ports, shifted by the node's place in ``cluster.nodes`` (its host ports)."""
    k = node_index(cfg)
    step = NODE_PORT_STEP * (k - 1) if k else 0
    s = cfg.sip
    return s.udp_port + step, s.tcp_port + step, s.tls_port + step, s.wss_port + step


def cluster_address(cfg: Config) -> str:
    """The address this node's peers reach it at (DMQ, Path): its own, never
    the public address several nodes may share."""
    if cfg.cluster.address:
        return cfg.cluster.address
    ip = cfg.sip.listen_ip
    if ip in ("0.0.0.0", ""):
        import socket
        ip = socket.gethostbyname(socket.gethostname())
        if ip.startswith("127.") and cfg.cluster.peers:
            raise ConfigError(f"cluster.address: the host name resolves to {ip}; set the "
                              "address this node's peers reach it at")
    return ip


def dmq_address(cfg: Config) -> str:
    return cluster_address(cfg) if cfg.cluster.peers else cfg.sip.listen_ip


def server_id(cfg: Config) -> int:
    """Unique per node: the owner recorded in each contact it saves."""
    if cfg.cluster.server_id:
        return cfg.cluster.server_id
    k = node_index(cfg)
    if k:
        return k
    a, b = cluster_address(cfg).split(".")[-2:]
    return int(a) * 256 + int(b) or 1


def shares_address_with_peers(cfg: Config) -> bool:
    """A peer listens on this node's cluster address with another port (all
    nodes of one host on 127.0.0.1, say). The registrar's path_check_local
    compares a Path's host only (registrar lookup.c: check_self(host, 0, 0)),
    so such a node would take a peer's Path for its own and skip the owner.
    A peer given by name is resolved here, in the launcher, never in a SIP
    worker."""
    import socket

    own = cluster_address(cfg)
    for peer in cfg.cluster.peers:
        host, _, port = peer.rpartition(":")
        try:
            addrs = {i[4][0] for i in socket.getaddrinfo(host, None, socket.AF_INET)}
        except OSError:
            addrs = {host}
        if own in addrs and int(port or 5060) != cfg.sip.udp_port:
            return True
    return False


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
        addrs = [f"{cluster_address(c)}:{c.sip.udp_port}" for c in out]
        for i, c in enumerate(out):
            c.cluster.peers = addrs[:i] + addrs[i + 1:]
    return out
