"""Nodes sharing an address: path_check_local is off only there
(edgectl.stack.topology.shares_address_with_peers; features/cluster.cfg)."""

from __future__ import annotations

from edgecore.config import Config
from edgectl.stack.kamailio_defines import kamailio_defines
from edgectl.stack.topology import shares_address_with_peers


def node(ip: str, port: int, peers: list[str]) -> Config:
    cfg = Config()
    cfg.sip.listen_ip, cfg.sip.udp_port = ip, port
    cfg.cluster.peers = peers
    return cfg


def test_peers_on_the_same_address_with_other_ports_turn_path_check_local_off():
    cfg = node("127.0.0.1", 5060, ["127.0.0.1:5070", "127.0.0.1:5080"])
    assert shares_address_with_peers(cfg)
    assert kamailio_defines(cfg)["PATH_CHECK_LOCAL"] == "0"


def test_peers_on_their_own_addresses_keep_it_on():
    cfg = node("127.0.0.41", 5060, ["127.0.0.42:5060"])
    assert not shares_address_with_peers(cfg)
    assert kamailio_defines(cfg)["PATH_CHECK_LOCAL"] == "1"
    assert kamailio_defines(node("127.0.0.1", 5060, []))["PATH_CHECK_LOCAL"] == "1"
