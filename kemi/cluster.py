"""Steps: an edge node among peers (kamailio/features/cluster.cfg).

* ``classify_source``: a request from a peer node's SIP address (``[cluster]
  peers``, address and port) is marked ``from_peer``. Nothing else is: a
  device cannot claim to be a node.
* ``dmq``: KDMQ requests (registrations replicated by dmq_usrloc, node list)
  are handled only from peers; from anyone else they are dropped unanswered.
* ``deliver``: an initial request a peer relays here because this node owns
  the callee's contact (the Path the registration recorded, with the
  device's real address as ``received``) is loose-routed -- the path module
  turns ``received`` into the destination -- and relayed over this node's
  socket, the one the device's NAT pinhole or TCP/TLS/WS connection belongs
  to. The peer already authenticated the caller, applied the policy, opened
  the CDR and anchored the media; this node only record-routes (so the
  dialog's later requests reach the device the same way), tracks the dialog
  without a CDR of its own (calls.delivered) and relays.
* ``add_path``: REGISTER: record this node as the contact's Path before the
  registrar saves it (applied to the message so ``save`` sees it).
"""

from __future__ import annotations

import time

import KSR

from kemi import context
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_DELIVERED, STOP

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


def _source() -> tuple[str, int]:
    return str(KSR.kx.get_srcip()), int(KSR.kx.get_srcport() or 0)


def enabled() -> bool:
    return bool(context.worker().cfg.cluster.peers)


def classify_source(req: Request) -> int:
    if enabled():
        src = _source()
        # a peer; or this node itself: nathelper's keepalive to a contact
        # this node owns follows the contact's Path, i.e. comes back here
        if src in peers() or src == own_address():
            req.from_peer = True
    return CONTINUE


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


def dmq(req: Request) -> int:
    if KSR.pv.get("$rm") != "KDMQ":
        return CONTINUE
    if req.from_peer:
        KSR.dmq.handle_message()
    return STOP


def deliver(req: Request) -> int:
    if not req.from_peer or KSR.siputils.has_totag() > 0 or KSR.is_CANCEL() or KSR.is_ACK():
        return CONTINUE
    if KSR.is_REGISTER() or not KSR.hdr.is_present("Route"):
        return CONTINUE
    # the Route is this node's own Path entry: consuming it, the path module
    # sets the destination from its `received` (loose_route's return code
    # says "no further route"; the destination is what matters)
    KSR.rr.loose_route()
    if not KSR.isdsturiset():
        from kemi.replies import send
        return send(404, "Not Found - No Path Here")
    from kemi import calls, relay
    KSR.setflag(FLT_DELIVERED)          # its replies get the device's real address
    if KSR.is_INVITE():
        calls.delivered()               # the caller's node writes the call's CDR
    KSR.rr.record_route()
    return relay.forward()


def reply_from_peer() -> bool:
    """A reply relayed by a peer node -- or by this node itself, when a call
    to one of its own devices followed the device's Path back here (nodes
    sharing an address, features/cluster.cfg): its Contact was fixed there."""
    return enabled() and (_source() in peers() or _source() == own_address())


def path_header(node: str, src_ip: str, src_port: int, proto: str) -> str:
    """RFC 3327 Path of a contact this node owns: this node's SIP address,
    loose-routing, with the device's real source as ``received`` (escaped as
    the path module's use_received expects it)."""
    received = f"sip:{src_ip}:{src_port}"
    if proto.lower() != "udp":
        received += f";transport={proto.lower()}"
    received = received.replace(";", "%3B").replace("=", "%3D")
    return f"Path: <sip:{node};lr;received={received}>"


def add_path() -> None:
    """REGISTER on a cluster node: Path with this node and the device's
    source, applied to the message so the registrar's save() stores it."""
    if not enabled():
        return
    node = "%s:%d" % own_address()
    ip, port = _source()
    KSR.hdr.append(path_header(node, ip, port, context.pv_str("$pr")) + "\r\n")
    KSR.textopsx.msg_apply_changes()
