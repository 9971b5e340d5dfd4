"""docker-compose.yml cannot run here (no Docker engine): check what can be
checked -- it parses, every file it builds from or mounts exists, the edge
config it mounts loads, and the pool members get what their entrypoint needs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from edgecore import config

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_builds_and_mounts_exist():
    c = compose()
    assert {"postgres", "redis", "migrate", "rtpengine", "edge", "sync", "asterisk"} <= set(
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


def test_mounted_edge_config_loads_and_matches_the_topology():
    cfg = config.load(ROOT / "deploy" / "edge.toml")
    c = compose()
    assert "pool" in cfg.node.features
    assert cfg.redis.url.startswith("redis://redis:")
    assert "@postgres:" in cfg.postgres.dsn
    edge = c["services"]["edge"]
    # the edge is a scaled service: its replicas are one cluster, named by
    # the service; pool members ring and trust them by that name
    assert edge["deploy"]["replicas"] >= 2
    assert cfg.cluster.peers == ["edge:5060"] and cfg.cluster.server_id == 0
    assert cfg.node.name                                 # "" -> the container's host name
    env = c["services"]["asterisk"]["environment"]
    assert env["EDGE_HOST"] == "edge" and "edge" in env["EDGE_ADDRESSES"].split(",")
    # Redis through Sentinel, and the sentinels exist
    assert cfg.redis.sentinels == ["sentinel:26379"]
    assert c["services"]["sentinel"]["deploy"]["replicas"] >= 3
    assert "redis-replica" in c["services"]


def test_pool_members_get_every_variable_their_entrypoint_requires():
    script = (ROOT / "asterisk-pool" / "entrypoint.sh").read_text()
    required = set(re.findall(r'\$\{([A-Z_]+):\?', script))
    env = compose()["services"]["asterisk"]["environment"]
    assert required <= set(env)
    assert compose()["services"]["asterisk"]["deploy"]["replicas"] >= 2
