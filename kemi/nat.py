"""Step: NAT detection of the sender (nathelper).

A request whose Contact/Via disagree with its source address comes from
behind NAT: symmetric signalling is forced (rport, RFC 3581), a REGISTER's
real source is stored with the contact (received, so calls and OPTIONS
keepalives reach the pinhole), and the request is flagged for the registrar
and for media anchoring.
"""

from __future__ import annotations

import KSR

from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLT_NATS, NAT_TESTS


def detect(req: Request) -> int:
    KSR.force_rport()
    if KSR.nathelper.nat_uac_test(NAT_TESTS) > 0:
        req.nat = True
        KSR.setflag(FLT_NATS)
        if KSR.is_REGISTER():
            KSR.nathelper.fix_nated_register()
        elif KSR.siputils.is_first_hop() > 0:
            KSR.nathelper.set_contact_alias()
    return CONTINUE
