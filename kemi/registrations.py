"""Registration counts per tenant (edgecore.regcount): after a REGISTER is
accepted, the AOR's contacts as this node's usrloc now holds them (registrar
reg_fetch_contacts / $ulc, no I/O) are recorded in Redis by a deferred
write, sent in the request's one pipelined round trip after the reply
(kemi.context.Worker.defer), so `/metrics` and `edgectl status` count
registrations without dumping the location table."""

from __future__ import annotations

import time

import KSR

from edgecore import regcount
from kemi import context
from kemi.ksrconst import LOCATION

PROFILE = "edgereg"     # $ulc profile (registrar module docs, 7.1)


def note(tenant: str, aor: str) -> None:
    expiries: list[int] = []
    if KSR.registrar.reg_fetch_contacts(LOCATION, aor, PROFILE) > 0:
        n = int(KSR.pv.get(f"$(ulc({PROFILE}=>count))") or 0)
        expiries = [int(KSR.pv.get(f"$(ulc({PROFILE}=>expires)[{i}])") or 0) for i in range(n)]
        KSR.registrar.reg_free_contacts(PROFILE)
    w = context.worker()
    member, slots, now = aor.removeprefix("sip:"), w.cfg.sip.max_contacts, time.time()
    w.defer(lambda pipe: regcount.record(pipe, tenant, member, expiries, slots, now))
