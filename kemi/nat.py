"""Step: NAT detection of the sender (nathelper).

A request whose Contact/Via disagree with its source address comes from
behind NAT: symmetric signalling is forced (rport, RFC 3581), a REGISTER's
real source is stored with the contact (received, so calls and OPTIONS
keepalives reach the pinhole), and the request is flagged for the registrar
and for media anchoring.

A REGISTER whose Contact names another host than the one it came from gets
its real source stored as ``received`` too, NATed or not: calls to the
device go where its REGISTER came from (its address and port, or its
TCP/TLS/WS connection), whatever its Contact names. Otherwise a device with
valid credentials could register ``Contact: <sip:x@gateway>`` and make the
edge send fresh INVITEs, from its own address, to any host. (A Contact on
the source's own host, another port of it, is the device's to choose.)
"""

from __future__ import annotations

import KSR

from edgecore import dialogs
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_NATS, NAT_TESTS


def detect(req: Request) -> int:
    KSR.force_rport()
    if KSR.nathelper.nat_uac_test(NAT_TESTS) > 0:
        req.nat = True
        KSR.setflag(FLT_NATS)
        if not KSR.is_REGISTER() and KSR.siputils.is_first_hop() > 0:
            KSR.nathelper.set_contact_alias()
    if req.nat and KSR.is_REGISTER():
        KSR.nathelper.fix_nated_register()      # received = the source
    return CONTINUE


def store_source_if_elsewhere(req: Request) -> None:
    """An authenticated REGISTER from no NAT whose Contact names another host:
    its source stored as ``received`` all the same (called by the registrar
    just before it saves: the challenged half of a registration, which
    saves nothing, is spared parsing the Contacts)."""
    if not req.nat and _contact_elsewhere(req.source()):
        KSR.nathelper.fix_nated_register()


def _contact_elsewhere(src: str) -> bool:
    """A Contact of this REGISTER names a host other than its source."""
    contacts = str(KSR.pv.get("$(hdr(Contact)[*])") or "")
    return dialogs.contact_elsewhere(contacts, src)
