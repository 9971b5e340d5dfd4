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

Which sources are peers, and this node's own cluster address, are
:mod:`kemi.peers` (also asked by the relay and the parties' checks).
"""

from __future__ import annotations

import KSR

from kemi import calls, context, peers, relay
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_DELIVERED, STOP
from kemi.replies import send

def classify_source(req: Request) -> int:
    if peers.enabled():
        src = peers.source()
        # a peer; or this node itself: nathelper's keepalive to a contact
        # this node owns follows the contact's Path, i.e. comes back here
        if src in peers.peers() or src == peers.own_address():
            req.from_peer = True
    return CONTINUE


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
        return send(404, "Not Found - No Path Here")
    KSR.setflag(FLT_DELIVERED)          # its replies get the device's real address
    if KSR.is_INVITE():
        calls.delivered()               # the caller's node writes the call's CDR
    KSR.rr.record_route()
    return relay.forward()


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
    if not peers.enabled():
        return
    node = "%s:%d" % peers.own_address()
    ip, port = peers.source()
    KSR.hdr.append(path_header(node, ip, port, context.pv_str("$pr")) + "\r\n")
    KSR.textopsx.msg_apply_changes()
