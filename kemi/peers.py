"""The edge node's peers (kamailio/features/cluster.cfg, ``[cluster]
peers``): whether a source is a peer node -- without DNS in a SIP worker --,
this node's own cluster address, and the `peers` timer that resolves the
peers given by name. Asked by the cluster steps (:mod:`kemi.cluster`), the
relay's reply route and the parties' checks.
"""

from __future__ import annotations

import time

import KSR

from kemi import context

RESOLVE_EVERY = 60.0            # s: a scaled service's new nodes become peers
# the addresses of peers given by name, kept current by the `peers` timer
# process (kamailio/features/cluster.cfg): the SIP workers never resolve a
# name themselves -- a blocking DNS lookup there stalls every request behind it
PEER_TABLE = "edgepeers"


def _split(entry: str) -> tuple[str, int]:
    host, _, port = entry.rpartition(":")
    return host, int(port)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def resolve_peers(entries: list[str]) -> frozenset[tuple[str, int]]:
    """(address, port) of every peer; a name stands for all its addresses."""
    import socket

    out = set()
    for p in entries:
        host, port = _split(p)
        try:
            infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            continue                      # not resolvable now: retried later
        out |= {(str(i[4][0]), port) for i in infos}
    return frozenset(out)


class Peers:
    """Whether a source (address, port) is a peer, without DNS: the peers
    configured by address are compared directly, those given by name are
    looked up in PEER_TABLE (shared memory, filled by the timer)."""

    def __init__(self, entries: list[str]):
        self.literal = frozenset((h, p) for h, p in map(_split, entries) if _is_address(h))
        self.named = any(not _is_address(_split(e)[0]) for e in entries)

    def __contains__(self, src: object) -> bool:
        if src in self.literal:
            return True
        if not self.named or not isinstance(src, tuple):
            return False
        return KSR.htable.sht_get(PEER_TABLE, "%s:%d" % src) is not None


_peers: Peers | None = None


def peers() -> Peers:
    global _peers
    if _peers is None:
        _peers = Peers(context.worker().cfg.cluster.peers)
    return _peers


_resolved: dict[str, object] = {"at": None, "by_name": {}}


def refresh_peers() -> None:
    """The `peers` timer (its own process): resolve the peers given by name
    every RESOLVE_EVERY seconds and make PEER_TABLE hold their addresses. A
    name that does not resolve now keeps the addresses it had."""
    now = time.monotonic()
    at = _resolved["at"]
    if isinstance(at, float) and now - at < RESOLVE_EVERY:
        return
    _resolved["at"] = now
    old = _resolved["by_name"]
    assert isinstance(old, dict)
    new: dict[str, frozenset[tuple[str, int]]] = {}
    for entry in context.worker().cfg.cluster.peers:
        if not _is_address(_split(entry)[0]):
            new[entry] = resolve_peers([entry]) or old.get(entry, frozenset())
    before = {a for addrs in old.values() for a in addrs}
    after = {a for addrs in new.values() for a in addrs}
    for ip, port in before - after:
        KSR.htable.sht_rm(PEER_TABLE, f"{ip}:{port}")
    for ip, port in after - before:
        KSR.htable.sht_seti(PEER_TABLE, f"{ip}:{port}", 1)
    _resolved["by_name"] = new


def source() -> tuple[str, int]:
    return str(KSR.kx.get_srcip()), int(KSR.kx.get_srcport() or 0)


def enabled() -> bool:
    return context.worker().clustered


_own: tuple[str, int] | None = None


def own_address() -> tuple[str, int]:
    """This node's address as its peers reach it (the Path it records): the
    DMQ server address the launcher rendered, a name already resolved there
    (DMQ_SERVER, kamailio/defaults.cfg) -- a SIP worker never resolves one."""
    global _own
    if _own is None:
        uri = str(KSR.pv.get("$def(DMQ_SERVER)") or "").strip('"')
        _own = _split(uri.removeprefix("sip:"))
    return _own


def reply_from_peer() -> bool:
    """A reply relayed by a peer node -- or by this node itself, when a call
    to one of its own devices followed the device's Path back here (nodes
    sharing an address, features/cluster.cfg): its Contact was fixed there."""
    return enabled() and (source() in peers() or source() == own_address())
