"""``edgectl import verify NAME``: the legacy dialplan's decision against the
edge's, for every device of an imported server and every number its dialplan
reaches (its peers and ring groups).

Legacy decision (from the server's active plan): a ring group rings when its
``GotoIf`` admits the caller's reseller (or checks nothing); an extension
rings when the ``[record]`` context dials any extension (no REVENDA check),
else it is not reachable. Edge decision: exactly what ``edgectl explain``
computes -- the read model's ``edge_call`` answer through
:func:`edgecore.policy.plan_call` -- for the caller's legacy identity
``<ns>/<peer>``. Both depend on the caller's reseller only, so one device per
reseller is asked for every number (pipelined), and every device's identity is
checked to be in the read model with its HA1.

Numbers are tenant-local on the edge (a 4-digit number resolves in the
caller's own tenant, as for native devices), so a number of *another*
reseller is dialled ``<tenant>*<number>`` there: that is the edge decision
compared for it, and such pairs are counted apart (``qualified``).

A difference is *explained* when

* the legacy server rang another reseller's extension through ``[record]``
  and the edge blocks it (cross-tenant block, issue 14);
* a legacy ring group admitted reseller Y, which the import made the
  exception Y -> X (issue 14): the edge lets Y reach every number of X, also
  the ring groups whose GotoIf did not list Y.

Every other difference is listed as unexplained.
"""

from __future__ import annotations

from typing import Any

from edgecore import readmodel as rm
from edgestore import readmodel as rmstore
from edgestore import redisconn
from edgecore.config import Config
from edgecore.policy import plan_call
from edgectl import db
from edgectl.db import EdgeError
from edgectl.legacy import store

BATCH = 2000
EXPLAINED = {
    "record": "legacy [record] dialled any extension without a REVENDA check; the edge blocks "
              "calls between resellers without support access or an exception",
    "exception": "a ring group admitting another reseller became a tenant exception: on the "
                 "edge it covers every number of the tenant, not that ring group alone",
}


def legacy_decision(plan: dict[str, Any], caller_tenant: str, number: str) -> tuple[bool, str]:
    """(rings, target key 'tenant:number') on the legacy server."""
    for key, g in plan["ring_groups"].items():
        if key.split(":")[1] == number:
            admitted = g.get("admitted") or []
            return (not admitted or caller_tenant in admitted), key
    for peer, ident in plan["identities"].items():
        if peer == number:
            return bool(plan["open_dial"]), ident["device"]
    return False, ""


def verify(cfg: Config, ns: str) -> dict[str, Any]:
    conn = db.connect(cfg)
    try:
        active = store.active_plans(conn)
    finally:
        conn.close()
    if ns not in active:
        raise EdgeError(f"server {ns} has no active import")
    plan = active[ns][1]
    r = redisconn.client(cfg.redis, decode_responses=True, socket_connect_timeout=2,
                         socket_timeout=30)
    try:
        return _verify(r, ns, plan)
    finally:
        r.close()


def _verify(r: Any, ns: str, plan: dict[str, Any]) -> dict[str, Any]:
    # every identity present with its HA1
    peers = sorted(plan["identities"])
    missing: list[str] = []
    for i in range(0, len(peers), BATCH):
        pipe = r.pipeline(transaction=False)
        for p in peers[i:i + BATCH]:
            pipe.fcall("edge_device", 0, rm.legacy_identity(ns, p))
        for p, (dev, _) in zip(peers[i:i + BATCH], pipe.execute()):
            d = rm.Device.decode(dev)
            if d is None or d.ha1 != plan["identities"][p]["ha1"] \
                    or f"{d.tenant}:{d.extension}" != plan["identities"][p]["device"]:
                missing.append(p)
    # one caller per reseller, every reachable number
    callers: dict[str, str] = {}
    for p in peers:
        callers.setdefault(plan["identities"][p]["device"].split(":")[0], p)
    numbers = sorted({k.split(":")[1] for k in plan["ring_groups"]} | set(peers),
                     key=lambda n: (len(n), n))
    pairs = []
    for t, p in sorted(callers.items()):
        for n in numbers:
            rings, key = legacy_decision(plan, t, n)
            owner = key.split(":")[0] if key else t
            pairs.append((t, p, n, rings, key, n if owner == t else f"{owner}*{n}"))
    same = qualified = 0
    explained = {k: 0 for k in EXPLAINED}
    examples: list[str] = []
    unexplained: list[str] = []
    for i in range(0, len(pairs), BATCH):
        chunk = pairs[i:i + BATCH]
        pipe = r.pipeline(transaction=False)
        for _, p, _, _, _, dial in chunk:
            pipe.fcall("edge_call", 0, rm.legacy_identity(ns, p), dial)
        for (t, p, n, rings, key, dial), raw in zip(chunk, pipe.execute()):
            cp = plan_call(rmstore.decode_call(raw), dial)
            res = cp.resolution
            edge_key = (f"{res.tenant.id}:{res.target.number}"
                        if res.found and res.target is not None and res.tenant is not None else "")
            edge_rings = cp.decision.allowed
            if rings == edge_rings and (not rings or key == edge_key):
                same += 1
                qualified += dial != n
                continue
            what = (f"{ns}/{p} (reseller {t}) dials {dial}: legacy "
                    f"{'rings ' + key if rings else 'denies'}, edge "
                    f"{'rings ' + edge_key if edge_rings else cp.decision.rule}")
            why = ""
            if rings and not edge_rings and key in plan["devices"] \
                    and key.split(":")[0] != t and cp.decision.rule == "cross-tenant-block":
                why = "record"
            elif not rings and edge_rings and cp.decision.rule == "exception" \
                    and f"{t}>{key.split(':')[0]}" in plan["exceptions"]:
                why = "exception"
            if why:
                explained[why] += 1
                if len(examples) < 6:
                    examples.append(f"{what} [{why}]")
            else:
                unexplained.append(what)
    return {"server": ns, "devices": len(peers), "identities_missing": missing,
            "resellers": len(callers), "numbers": len(numbers), "pairs": len(pairs),
            "same": same, "qualified": qualified, "explained": explained, "explained_why": EXPLAINED,
            "explained_examples": examples,
            "unexplained": unexplained + [f"{ns}/{p}: identity missing or stale in the read "
                                          "model" for p in missing]}


def render(res: dict[str, Any], limit: int = 50) -> str:
    out = [f"server {res['server']}: {res['devices']} devices, {res['resellers']} resellers x "
           f"{res['numbers']} reachable numbers = {res['pairs']} decisions compared",
           f"  same decision: {res['same']} (of which {res['qualified']} dialled "
           "<tenant>*<number>: another reseller's number)",
           f"  explained differences: {sum(res['explained'].values())}"]
    out += [f"    {n} {k}: {res['explained_why'][k]}" for k, n in res["explained"].items() if n]
    out += [f"    e.g. {e}" for e in res["explained_examples"]]
    out.append(f"  unexplained differences: {len(res['unexplained'])}")
    out += [f"    {u}" for u in res["unexplained"][:limit]]
    if len(res["unexplained"]) > limit:
        out.append(f"    ... {len(res['unexplained']) - limit} more (--json)")
    return "\n".join(out)
