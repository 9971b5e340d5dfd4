"""Steps: the Asterisk media pool (Kamailio dispatcher, set 1).

``classify_source``: a request from a pool member's address is trusted (its
legs back to devices need no credentials); from anyone else, every
``X-Edge-*`` header of a request the edge may relay is removed, so only the
edge ever speaks to members in that vocabulary.

``route``: ring-group calls, and calls whose caller or callee tenant records,
go to a member chosen by weight, with the headers of edgecore.pool. A member
that sends nothing within ``pool.branch_timeout``, or refuses the call 500/503
itself (no Q.850 Reason: edgecore.pool.member_failed), is marked down and the
call is retried on the next member (``failover``, from the failure route)
before the caller hears anything; the callee's outcome relayed by a healthy
member goes back to the caller as it is.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

import KSR

from edgecore import pool as edge_pool
from kemi import calls, context, counters, identity, relay
from kemi.context import Request
from kemi.ksrconst import CONTINUE, POOL_ALG_WEIGHT, POOL_MATCH_IP, POOL_SET
from kemi.replies import send

# transaction AVP: this INVITE was sent to the pool (its failures fail over)
SENT_TO_POOL = "$avp(edge_pool)"
# failure route: the Reason header of the winning reply (tm $T_rpl, RFC 3326)
REPLY_REASON = "$T_rpl($hdr(Reason))"


# the first header line whose name starts with the edge's prefix, in any case
# ("" when none): one pass over the header text in C. remove_hf_re compiles its
# regular expression on every call (a KEMI parameter gets no fixup), the
# costliest thing an ACK or BYE did before this step returned: it now runs
# only when there is something to remove.
EDGE_HEADER_LINE = "$(msg(hdrs){s.tolower}{line.sw,%s})" % edge_pool.PREFIX.lower()


def classify_source(req: Request) -> int:
    if KSR.dispatcher.ds_is_from_list_mode(POOL_SET, POOL_MATCH_IP) > 0:
        req.from_pool = True
    elif not KSR.is_REGISTER() and KSR.pv.get(EDGE_HEADER_LINE):
        # a REGISTER is never relayed (the registrar answers it), so its
        # headers reach no member: spared the look, the busiest request
        KSR.textops.remove_hf_re("^" + edge_pool.PREFIX)
    return CONTINUE


def _timers() -> None:
    cfg = context.worker().cfg
    KSR.tm.t_set_fr(cfg.sip.ring_timeout * 1000, cfg.pool.branch_timeout * 1000)


def route(req: Request) -> int:
    plan, caller, tenant = req.plan, req.device, req.tenant
    if plan is None or req.from_pool or caller is None or tenant is None:
        return CONTINUE
    res = plan.resolution
    if not edge_pool.needs_pool(res, tenant):
        return CONTINUE
    cfg = context.worker().cfg
    if res.is_ring_group and res.target is not None and not res.target.members:
        return send(480, "Temporarily Unavailable - Empty Ring Group")
    if KSR.dispatcher.ds_select_dst(POOL_SET, POOL_ALG_WEIGHT) < 0:
        if res.is_ring_group or cfg.pool.recording_fallback == "refuse" or \
                edge_pool.recording_required(res, tenant):
            return send(503, "Service Unavailable - No Media Server", "Retry-After: 5")
        KSR.warn(f"pool: no member available; call {caller.extension}@{tenant.id} -> "
                 f"{req.dialled} connected directly, unrecorded\n")
        # visible, not only logged: the CDR's flag and a per-tenant counter
        # (edge_unrecorded_calls_total; edgectl status shows the last hour)
        calls.unrecorded()
        counters.inc("unrecorded_calls", tenant.id)
        return CONTINUE
    call = edge_pool.pool_call(res, caller, tenant, datetime.now(timezone.utc),
                               cfg.pool.record_dir, cfg.sip.ring_timeout,
                               context.pv_str("$ci"),
                               secrets.randbits(edge_pool.RECORD_TOKEN_BITS))
    for line in call.lines():
        KSR.hdr.append(line + "\r\n")
    calls.member(context.pv_str("$du"))
    if call.record != "no":
        calls.recording(call.record)
    KSR.pv.seti(SENT_TO_POOL, 1)
    _timers()
    identity.to_pool(req)
    KSR.hdr.remove("Route")
    KSR.rr.record_route()
    return relay.forward()


def failover() -> bool:
    """Failure route: retry a pool call on the next member when the member
    itself failed (silent, or its own 500/503) -- not when the callee's
    outcome (busy, no answer, a 5xx with the callee's Q.850 cause) came
    back. True when the call was re-sent."""
    if KSR.pv.is_null(SENT_TO_POOL) or KSR.tm.t_is_canceled() > 0:
        return False
    code = int(KSR.pv.get("$T_reply_code") or 0)
    silent = KSR.tm.t_branch_timeout() > 0 and KSR.tm.t_branch_replied() < 0
    reason = None if silent else context.pv_str(REPLY_REASON)
    if not edge_pool.member_failed(code, silent, reason):
        return False
    KSR.warn(f"pool: member {KSR.pv.get('$du') or KSR.pv.get('$ru')} failed "
             f"({'no reply' if silent else code}); trying the next member\n")
    KSR.dispatcher.ds_mark_dst_state("ip")     # inactive + probing: OPTIONS brings it back
    if KSR.dispatcher.ds_next_dst() < 0:
        return False
    calls.member(context.pv_str("$du"))
    _timers()
    KSR.tm.t_on_failure(relay.FAILURE_ROUTE)
    KSR.tm.t_on_branch(relay.BRANCH_ROUTE)
    KSR.tm.t_on_reply(relay.REPLY_ROUTE)
    return KSR.tm.t_relay() > 0
