"""docker-compose.yml cannot run here (no Docker engine): check what can be
checked -- it parses, every file it builds from or mounts exists, the edge
config it mounts loads, each edge node has its own cluster identity and
advertises the ports it is published on, and the pool members get what
their entrypoint needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from edgecore import config
from edgectl.stack import kamailio_defines, topology

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_builds_and_mounts_exist():
    c = compose()
    assert {"postgres", "redis", "migrate", "rtpengine", "edge1", "edge2", "sync",
            "asterisk"} <= set(
        c["services"])
    for name, svc in c["services"].items():
        build = svc.get("build")
        if isinstance(build, dict):
            ctx = ROOT / build["context"]
            assert (ctx / build.get("dockerfile", "Dockerfile")).exists(), name
        elif isinstance(build, str):
            assert (ROOT / build / "Dockerfile").exists(), name
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), (name, src)
        if "network_mode" not in svc:
            assert svc.get("networks"), f"{name} has no network"


def edge_nodes(c: dict) -> dict[str, dict]:
    return {name: svc for name, svc in c["services"].items()
            if svc.get("command") == ["node", "run", "kamailio"]}


def test_mounted_edge_config_loads_and_matches_the_topology():
    cfg = config.load(ROOT / "deploy" / "edge.toml")
    c = compose()
    assert "pool" in cfg.node.features
    assert cfg.redis.url.startswith("redis://redis:")
    assert "@postgres:" in cfg.postgres.dsn
    nodes = edge_nodes(c)
    # the edge nodes are one cluster: each service's host name is its place
    # in [cluster] nodes, every node answers to the alias the peers and the
    # pool members use
    assert len(nodes) >= 2
    assert [svc["hostname"] for svc in nodes.values()] == cfg.cluster.nodes
    for svc in nodes.values():
        assert "edge" in svc["networks"]["edge"]["aliases"]
    assert cfg.cluster.peers == ["edge:5060"] and cfg.cluster.server_id == 0
    env = c["services"]["asterisk"]["environment"]
    # members trust the compose network's subnet, not names resolved once
    subnets = [p["subnet"] for p in c["networks"]["edge"]["ipam"]["config"]]
    assert env["EDGE_HOST"] == "edge" and env["EDGE_NETWORKS"].split(",") == subnets
    # Redis through Sentinel, and the sentinels exist
    assert cfg.redis.sentinels == ["sentinel:26379"]
    assert c["services"]["sentinel"]["deploy"]["replicas"] >= 3
    assert "redis-replica" in c["services"]


def replica(monkeypatch: pytest.MonkeyPatch, hostname: str, address: str) -> config.Config:
    """deploy/edge.toml as one edge container loads it: its host name and
    the address Docker gave it."""
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: hostname)
    monkeypatch.setattr(config, "host_name", lambda: hostname)
    monkeypatch.setattr(socket, "gethostbyname",
                        lambda name: address if name == hostname else "10.9.9.9")
    cfg = config.load(ROOT / "deploy" / "edge.toml")
    # resolved now, while this replica's host name is patched in
    cfg.cluster.address = topology.cluster_address(cfg)
    return cfg


def test_each_node_has_its_own_cluster_identity(monkeypatch: pytest.MonkeyPatch):
    """Same edge.toml, two containers: the public address is shared, the
    cluster identity (DMQ node, Path, server_id) is each node's own."""
    one = replica(monkeypatch, "edge1", "172.30.0.11")
    two = replica(monkeypatch, "edge2", "172.30.0.12")
    assert (one.node.name, two.node.name) == ("edge1", "edge2")
    assert topology.cluster_address(one) == "172.30.0.11"
    assert topology.cluster_address(two) == "172.30.0.12"
    assert topology.server_id(one) != topology.server_id(two)
    d1, d2 = kamailio_defines.kamailio_defines(one), kamailio_defines.kamailio_defines(two)
    assert d1["SERVER_ID"] != d2["SERVER_ID"] and d1["SERVER_ID"] != "0"
    assert d1["DMQ_SERVER"] == '"sip:172.30.0.11:5060"'
    assert d2["DMQ_SERVER"] == '"sip:172.30.0.12:5060"'
    # what phones see stays the public address, at each node's own port
    assert d1["ADVERTISED_IP"] == d2["ADVERTISED_IP"] == "203.0.113.10"
    assert d1["ADVERTISED_UDP_PORT"] != d2["ADVERTISED_UDP_PORT"]


def test_replicas_not_listed_get_ids_from_their_addresses(monkeypatch: pytest.MonkeyPatch):
    """A node outside [cluster] nodes (e.g. `docker compose --scale` of a
    node service): server_id from its own address, never the public one."""
    a = replica(monkeypatch, "3f2a9c0d11aa", "172.30.0.21")
    b = replica(monkeypatch, "77bb0e5f2c10", "172.30.0.22")
    assert topology.server_id(a) != topology.server_id(b)
    assert {topology.cluster_address(a), topology.cluster_address(b)} == {"172.30.0.21",
                                                                       "172.30.0.22"}


def test_a_host_name_resolving_to_loopback_is_refused_as_cluster_address(monkeypatch):
    """(Debian maps its host name to 127.0.1.1: peers could never reach that.)"""
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "edge1")
    monkeypatch.setattr(config, "host_name", lambda: "edge1")
    monkeypatch.setattr(socket, "gethostbyname", lambda name: "127.0.1.1")
    cfg = config.load(ROOT / "deploy" / "edge.toml")
    with pytest.raises(config.ConfigError, match="cluster.address"):
        topology.cluster_address(cfg)


def _published(mapping: str) -> tuple[int, int, str]:
    """'5070:5060/udp' -> (host port, container port, proto)."""
    ports, _, proto = mapping.partition("/")
    host, _, container = ports.rpartition(":")
    return int(host), int(container), proto or "tcp"


def test_each_node_advertises_the_host_ports_it_is_published_on(monkeypatch):
    """A phone reaches node k at the port the node puts in its Via/Record-Route:
    each node service maps its container ports to exactly the ports that
    node advertises, and no two nodes share a host port."""
    c = compose()
    seen: set[tuple[int, str]] = set()
    for i, (name, svc) in enumerate(edge_nodes(c).items()):
        cfg = replica(monkeypatch, svc["hostname"], f"172.30.0.{11 + i}")
        d = kamailio_defines.kamailio_defines(cfg)
        want = {(cfg.sip.udp_port, "udp"): int(d["ADVERTISED_UDP_PORT"]),
                (cfg.sip.tcp_port, "tcp"): int(d["ADVERTISED_TCP_PORT"]),
                (cfg.sip.tls_port, "tcp"): int(d["ADVERTISED_TLS_PORT"]),
                (cfg.sip.wss_port, "tcp"): int(d["ADVERTISED_WSS_PORT"])}
        got = {}
        for m in svc["ports"]:
            host, container, proto = _published(m)
            got[(container, proto)] = host
            assert (host, proto) not in seen, (name, m)
            seen.add((host, proto))
        assert got == want, name


def test_pool_members_get_every_variable_their_entrypoint_requires():
    script = (ROOT / "asterisk-pool" / "entrypoint.sh").read_text()
    required = set(re.findall(r'\$\{([A-Z_]+):\?', script))
    env = compose()["services"]["asterisk"]["environment"]
    assert required <= set(env)
    assert compose()["services"]["asterisk"]["deploy"]["replicas"] >= 2


def test_every_redis_keeps_the_runtime_state_on_a_volume():
    """Issue 15 item 12: bans, locks and call slots live only in Redis; the
    primary and the replica that may replace it append every write (fsync
    each second) to a named volume, as the native launcher's Redis does."""
    from edgectl.stack import Redis

    c = compose()
    for name in ("redis", "redis-replica"):
        svc = c["services"][name]
        cmd = " ".join(svc["command"])
        assert "--appendonly yes" in cmd and "--appendfsync everysec" in cmd, name
        vols = [v.split(":")[0] for v in svc.get("volumes", [])]
        assert vols and all(v in c["volumes"] for v in vols), name
    native = " ".join(Redis(config.Config()).command())
    assert "--appendonly yes" in native and "--appendfsync everysec" in native
