"""Steps: enforce the dialing policy's decision (edgecore.policy) -- refused
calls get their final reply here: 403 with the cross-tenant reason, 404 for
an unknown number, 484 for what cannot be a number -- and the concurrent-call
limits of the caller's device and tenant.

Call slots are counted in Redis (edgestore.guard), so a limit holds across all
edge nodes. Taking a slot costs one round trip, paid only by calls of devices
or tenants that have a limit; the slot is freed when the dialog ends or fails
(``release``, from the dialog module's events), and expires on its own after
``security.max_call_duration`` if the node holding it dies.
"""

from __future__ import annotations

import time

import KSR

from edgestore import guard as guardstore
from kemi import calls, context
from kemi.context import Request
from kemi.ksrconst import CONTINUE
from kemi.replies import send

# dialog variable: "<auth username> <tenant> <Call-ID>". The Call-ID is kept
# with the slot because the message a dialog event runs with is not always the
# call's: a dialog that fails on a reply the edge generated itself (its own
# 480, a tm timeout's 408) runs the event with a faked message, where $ci is
# not the INVITE's -- a slot freed by $ci there freed nothing and leaked
SLOT_VAR = "edge_slot"


def enforce(req: Request) -> int:
    if req.plan is None:
        return CONTINUE
    d = req.plan.decision
    if d.allowed:
        return CONTINUE
    caller = req.tenant.id if req.tenant else "?"
    callee = req.plan.resolution.tenant.id if req.plan.resolution.tenant else "-"
    KSR.notice(f"policy: {d.rule}: tenant {caller} -> {req.dialled} (tenant {callee}): "
               f"{d.code}\n")
    calls.denied(req, d.rule)
    return send(d.code, d.reason)


def limit_calls(req: Request) -> int:
    plan, device, tenant = req.plan, req.device, req.tenant
    if plan is None or not plan.decision.allowed or device is None or tenant is None:
        return CONTINUE
    w = context.worker()
    sec = w.cfg.security
    dev_max = device.max_calls if device.max_calls is not None else sec.device_max_calls
    ten_max = tenant.max_calls if tenant.max_calls is not None else sec.tenant_max_calls
    if dev_max <= 0 and ten_max <= 0:
        return CONTINUE
    call_id = context.pv_str("$ci")
    try:
        which = guardstore.admit_call(w.redis, call_id, device.auth_username, tenant.id,
                                      dev_max, ten_max, time.time(), sec.max_call_duration)
    except Exception as exc:
        KSR.err(f"call limits unavailable: {exc}\n")
        return send(503, "Service Unavailable", f"Retry-After: {w.cfg.redis.retry_after}")
    if which is not None:
        KSR.notice(f"policy: {which} call limit reached for {device.auth_username}\n")
        calls.denied(req, f"call_limit_{which}")
        return send(403, f"Forbidden - Concurrent Call Limit ({which})")
    # the slot is stored with the call's dialog (created here if it is not
    # yet) so whichever process sees the call end can free it
    KSR.dialog.dlg_manage()
    KSR.dialog.var_sets(SLOT_VAR, slot_value(device.auth_username, tenant.id, call_id))
    return CONTINUE


def slot_value(auth_username: str, tenant: str, call_id: str) -> str:
    """SLOT_VAR's value (auth usernames and tenant ids hold no spaces)."""
    return f"{auth_username} {tenant} {call_id}"


def release(evname: str) -> None:
    """dialog:end / dialog:failed: free the call's slot, if it took one --
    once: the variable is cleared, so a second event of the same dialog (an
    end after a failure, a timeout after a BYE) frees nothing twice."""
    if evname not in ("dialog:end", "dialog:failed"):
        return
    slot = KSR.dialog.var_get(SLOT_VAR)
    if not slot:
        return
    au, tenant, call_id = (str(slot).split(" ", 2) + [""])[:3]
    try:
        guardstore.release_call(context.worker().redis, call_id or context.pv_str("$ci"), au,
                                tenant)
    except Exception as exc:
        KSR.warn(f"call slot not released (expires by itself): {exc}\n")
        return
    # cleared by an empty value, not dialog.var_rm: in Kamailio 5.6 its KEMI
    # form takes a reference to the dialog it never gives back (fixed in 6.1,
    # kamailio GH #4151), so every call that took a slot stayed in shared
    # memory, with its variables, until the dialog module's cleaner dropped
    # it 300 s after its end (the soak's shared memory that did not return)
    KSR.dialog.var_sets(SLOT_VAR, "")
