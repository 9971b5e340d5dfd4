"""``edgectl explain CALLER DIALLED``: the edge's decision for a call, as a
dry run. It fetches from the Redis read model exactly what the KEMI code
fetches for the INVITE (``edge_call``), runs the same pure decision
(``edgecore.policy.plan_call``), and -- when the node answers RPC -- asks its
location table whether the callee is registered, so the predicted reply is
the one a real call gets. No call is placed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgecore import pool as edge_pool
from edgecore import readmodel as rm
from edgestore import readmodel as rmstore
from edgecore.config import Config
from edgecore.numbering import normalise
from edgecore.policy import CallPlan, plan_call
from edgectl.db import EdgeError


@dataclass
class Explanation:
    caller: str
    caller_tenant: str | None
    caller_extension: str | None
    dialled: str
    found: bool
    target_kind: str | None
    target_tenant: str | None
    target_number: str | None
    via: str
    detail: str
    allowed: bool
    rule: str
    reason: str
    registered_contacts: int | None     # None: node not asked / not a device
    media_pool: bool                    # the call goes through an Asterisk member
    predicted: str                      # the reply a real call gets, in words
    predicted_code: int | None          # None: the callee's own reply decides

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_caller(r: Any, caller: str) -> str:
    """CALLER is an auth username, or TENANT:EXTENSION."""
    if ":" in caller:
        tenant, ext = caller.split(":", 1)
        target = rm.Target.decode(_get_number(r, tenant, ext))
        if target is None or target.kind != "device" or not target.auth_username:
            raise EdgeError(f"tenant {tenant} has no device {ext} in the read model")
        return target.auth_username
    return caller


def _get_number(r: Any, tenant: str, number: str) -> str | None:
    gen = r.get(rmstore.GEN_KEY)
    if gen is None:
        raise EdgeError("the read model is not loaded (run edgectl sync)")
    v = r.get(rmstore.k_number(int(gen), tenant, number))
    return str(v) if v is not None else None


def explain(cfg: Config, caller: str, dialled: str, registered: Any = None,
            pool_up: Any = None) -> Explanation:
    """``registered(aor) -> int | None`` counts the callee's contacts and
    ``pool_up() -> bool | None`` tells whether a pool member is up (node RPC)."""
    import redis

    from edgestore import redisconn

    r = redisconn.client(cfg.redis, decode_responses=True, socket_connect_timeout=2,
                         socket_timeout=2)
    try:
        authuser = resolve_caller(r, caller)
        d = normalise(dialled)
        data = rmstore.fetch_call(r, authuser, d)
    except (redis.RedisError, OSError) as exc:
        raise EdgeError(f"cannot read the read model at {cfg.redis.url}: {exc}") from None
    except rmstore.ModelNotLoaded:
        raise EdgeError("the read model is not loaded (run edgectl sync)") from None
    finally:
        r.close()
    if data.caller is None:
        raise EdgeError(f"unknown caller {caller}")
    plan = plan_call(data, d)
    return _explanation(cfg, authuser, data, d, plan, registered, pool_up)


def _explanation(cfg: Config, authuser: str, data: rm.CallData, dialled: str, plan: CallPlan,
                 registered: Any, pool_up: Any) -> Explanation:
    res, dec = plan.resolution, plan.decision
    target = res.target
    contacts = None
    to_pool = False
    up = pool_up() if pool_up else None
    if not dec.allowed:
        predicted, code = f"{dec.code} {dec.reason}", dec.code
    elif (data.caller_tenant is not None
          and edge_pool.needs_pool(res, data.caller_tenant)
          and (res.is_ring_group or up is not False
               or cfg.pool.recording_fallback == "refuse"
               or edge_pool.recording_required(res, data.caller_tenant))):
        assert target is not None
        why = "ring group" if res.is_ring_group else "recorded call"
        if res.is_ring_group and not target.members:
            predicted, code = "480 Temporarily Unavailable - Empty Ring Group", 480
        elif up is False:
            predicted, code = "503 Service Unavailable - No Media Server", 503
        else:
            to_pool = True
            how = (f"{target.strategy}, members {', '.join(target.members)}"
                   if res.is_ring_group else "recorded, then rung back through the edge")
            predicted, code = f"to the media pool ({why}: {how})", None
    else:
        assert target is not None
        contacts = registered(target.aor) if registered else None
        if contacts == 0:
            predicted, code = "480 Temporarily Unavailable (callee not registered)", 480
        elif contacts is None:
            predicted, code = "relayed to the callee's registered contacts, if any", None
        else:
            predicted, code = f"relayed to {contacts} registered contact(s)", None
    return Explanation(
        caller=authuser,
        caller_tenant=data.caller_tenant.id if data.caller_tenant else None,
        caller_extension=data.caller.extension if data.caller else None,
        dialled=dialled, found=res.found,
        target_kind=target.kind if target else None,
        target_tenant=res.tenant.id if res.tenant else None,
        target_number=target.number if target else None,
        via=res.via, detail=res.detail, allowed=dec.allowed, rule=dec.rule,
        reason=dec.reason, registered_contacts=contacts, media_pool=to_pool,
        predicted=predicted,
        predicted_code=code)


def render(e: Explanation) -> str:
    lines = [f"caller:   {e.caller} (tenant {e.caller_tenant}, extension {e.caller_extension})",
             f"dialled:  {e.dialled}"]
    if e.found:
        what = "ring group" if e.target_kind == "ring_group" else "device"
        via = e.via + (f" {e.detail}" if e.detail else "")
        lines.append(f"resolves: tenant {e.target_tenant}, {what} {e.target_number} (via {via})")
    else:
        lines.append("resolves: nothing" + (f" (global range {e.detail})" if e.detail else ""))
    verdict = "ALLOWED" if e.allowed else "REFUSED"
    lines.append(f"decision: {verdict} by rule {e.rule}" + (f": {e.reason}" if e.reason else ""))
    lines.append(f"reply:    {e.predicted}")
    return "\n".join(lines)
