"""Step: registrar (RFC 3261 10.3) for authenticated devices.

The contact is saved under the device's tenant-scoped AOR ``sip:<ext>@<tenant>``
whatever URI the phone registered, so the same 7001 in many tenants never
collides and the tenant never depends on the domain the phone chose (see
edgecore.tenancy). ``Expires: 0`` and ``Contact: *`` unregister; expiry is
the usrloc timer's. A NATed contact is stored with its real source and
flagged for OPTIONS keepalives.
"""

from __future__ import annotations

import KSR

from edgecore import tenancy
from kemi import cluster, context, counters, nat, registrations
from kemi.context import Request
from kemi.ksrconst import CONTINUE, FLB_NATB, FLB_NATSIPPING, FLB_WEBRTC, LOCATION, STOP
from kemi.replies import send


def register(req: Request) -> int:
    if not KSR.is_REGISTER():
        return CONTINUE
    device, tenant = req.device, req.tenant
    if device is None or tenant is None:       # auth step guarantees this
        return send(500, "Server Internal Error")
    if not tenancy.identity_matches(context.pv_str("$tU"), device):
        counters.inc("registrations", tenant.id, "refused")
        return send(403, "Forbidden - Not Your Identity")
    if not req.namespace and not tenancy.domain_acceptable(
            context.pv_str("$td"), tenant, context.worker().edge_domains, KSR.is_myself_turi()):
        # (a legacy namespace was found by this address or name: it is served)
        counters.inc("registrations", tenant.id, "refused")
        return send(403, "Forbidden - Domain Not Served")
    if req.nat:
        KSR.setbflag(FLB_NATB)
        if not KSR.is_WSX():            # browsers are kept alive by WebSocket pings
            KSR.setbflag(FLB_NATSIPPING)
    if KSR.is_WSX():
        KSR.setbflag(FLB_WEBRTC)        # stored with the contact: calls to it bridge media
    nat.store_source_if_elsewhere(req)
    cluster.add_path()
    if KSR.registrar.save_uri(LOCATION, 0, device.aor) < 0:
        counters.inc("registrations", tenant.id, "refused")
        KSR.sl.sl_reply_error()
    else:
        counters.inc("registrations", tenant.id, "ok")
        registrations.note(tenant.id, device.aor)       # counted without ul.dump
        if req.namespace:
            counters.inc("namespace_registrations", req.namespace)
    return STOP
