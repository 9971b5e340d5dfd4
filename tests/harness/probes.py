"""Probes of an edge's defences in the integration tests: does it answer a
source at all, what does a registration from a source get, does a node's own
ban table hold an entry."""

from __future__ import annotations

from typing import Any

from testkit.edge import Edge
from testkit.sipmsg import SipClient


def answered(e: Edge, src: str, port: int | None = None) -> bool:
    with SipClient((e.cfg.sip.listen_ip, port or e.cfg.sip.udp_port), local_ip=src,
                   timeout=1) as c:
        r = c.request(c.build("OPTIONS", f"sip:{e.target}", "sip:probe@x", "sip:probe@x"),
                      timeout=1)
        return r is not None


def mirrored(node: Any, field: str) -> bool:
    """The node's own copy of the bans (htable edgeban) holds this entry."""
    try:
        return bool(node.rpc("htable.get", "edgeban", field))
    except Exception:
        return False


def register_code(e: Edge, port: int, src: str, au: str, pw: str) -> int:
    with SipClient((e.cfg.sip.listen_ip, port), local_ip=src, timeout=2) as c:
        first, second = c.register(au, pw)
        r = second or first
        return r.code if r else 0
