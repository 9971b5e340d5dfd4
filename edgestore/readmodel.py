"""The Redis read model: key layout and the one-round-trip reads (the records
they fetch and their encoding: :mod:`edgecore.readmodel`).

Owned here so the writer (``edgectl sync``) and the readers (the KEMI code in
every Kamailio worker, ``edgectl explain``) cannot disagree about a key.

Layout. Everything lives under a *generation* prefix ``e<gen>:``; ``edge:gen``
names the current generation. A full rebuild writes generation N+1 beside N,
then flips ``edge:gen`` in one command, so a reader sees either the whole old
model or the whole new one, never a half-built one. Incremental changes (one
tenant at a time) are applied inside the current generation in a MULTI block.
``edge:ver`` is bumped by every change; workers compare it to decide whether
their in-process caches are still valid.

    e<g>:d:<authuser lowercased>  device  JSON {u,t,x,h,m[,n][,g]}
    e<g>:n:<tenant>:<number>      target  JSON device {k:"d",u,t,x,m} |
                                              ring group {k:"g",t,x,name,s,to,mem}
    e<g>:t:<tenant>               tenant  JSON {id,n,g,r,dom,m[,rq]}
    e<g>:x:<tenant>               SET of tenants <tenant> may call (exceptions)
    e<g>:r:<ndigits>              ZSET of global ranges, score = last number,
                                  member "<last>:<first>:<tenant>" (O(log N) lookup)
    e<g>:dom:<domain>             tenant id of a tenant SIP domain
    e<g>:own:<tenant>             SET of the keys written for <tenant>
                                  (what an incremental update must delete)
    e<g>:tv                       ZSET tenant -> the version at which it last
                                  changed, and "*" -> the version of the last
                                  change of any kind (edge_changed in edge.lua):
                                  what a node's device cache re-fetches
    e<g>:d:<ns>/<peer lowercased> a legacy identity of a device (namespace <ns>,
                                  edgectl import): same record, u = "<ns>/<peer>"
    edge:ns                       HASH address|host -> "<ns> <realm>": the legacy
                                  namespaces, read once per version by each worker

Reads go through the Redis function library in ``edge.lua`` (FUNCTION LOAD):
the generation indirection and every lookup a request needs cost one round
trip (FCALL) per request, and none when the worker cache is valid.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from edgecore.cache import ANY_CHANGE
from edgecore.readmodel import CallData, Device, Namespace, Target, Tenant

GEN_KEY = "edge:gen"
VER_KEY = "edge:ver"
EPOCH_KEY = "edge:epoch"              # random id of the last full rebuild (edgectl/sync/)
SYNCED_AT_KEY = "edge:synced_at"      # unix time of the last applied change
LOCK_KEY = "edge:sync:lock"           # one writer at a time
LIBRARY = "edge"                      # FUNCTION library name (edge.lua)


def prefix(gen: int) -> str:
    return f"e{gen}:"


def k_device(gen: int, authuser: str) -> str:
    return f"e{gen}:d:{authuser.lower()}"


def k_number(gen: int, tenant: str, number: str) -> str:
    return f"e{gen}:n:{tenant}:{number}"


def k_tenant(gen: int, tenant: str) -> str:
    return f"e{gen}:t:{tenant}"


def k_exceptions(gen: int, tenant: str) -> str:
    return f"e{gen}:x:{tenant}"


def k_ranges(gen: int, ndigits: int) -> str:
    return f"e{gen}:r:{ndigits}"


def k_domain(gen: int, domain: str) -> str:
    return f"e{gen}:dom:{domain.lower()}"


def k_owned(gen: int, tenant: str) -> str:
    return f"e{gen}:own:{tenant}"


def k_changes(gen: int) -> str:
    return f"e{gen}:tv"




NS_KEY = "edge:ns"


def fetch_namespaces(client: Any) -> dict[str, Namespace]:
    """address|host -> namespace (one round trip; the worker caches it per version)."""
    out = {}
    for addr, v in (client.hgetall(NS_KEY) or {}).items():
        name, _, realm = (_text(v) or "").partition(" ")
        out[_text(addr) or ""] = Namespace(name, realm)
    return out


def range_member(first: str, last: str, tenant: str) -> str:
    return f"{last}:{first}:{tenant}"


def lua_source() -> str:
    return resources.files("edgestore").joinpath("edge.lua").read_text()


class ModelNotLoaded(RuntimeError):
    """Redis answers but holds no read model (never synced, or flushed)."""


def _text(v: Any) -> str | None:
    if v is None or v is False:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def _call(client: Any, fn: str, *args: str) -> list[Any]:
    from redis.exceptions import ResponseError  # local: importable without redis

    try:
        return client.fcall(fn, 0, *args)
    except ResponseError as exc:
        if "NOMODEL" in str(exc):
            raise ModelNotLoaded(str(exc)) from None
        raise


def fetch_device(client: Any, authuser: str) -> tuple[Device | None, Tenant | None]:
    """One round trip: the device of a digest identity, and its tenant."""
    dev, ten = _call(client, "edge_device", authuser)
    return Device.decode(_text(dev)), Tenant.decode(_text(ten))


def fetch_call(client: Any, authuser: str, dialled: str) -> CallData:
    return decode_call(_call(client, "edge_call", authuser, dialled))


def decode_call(r: list[Any]) -> CallData:
    """An ``edge_call`` answer (also one of a pipeline's, edgectl import verify)."""
    rng = None
    if _text(r[4]):
        last, first, tenant = _text(r[4]).split(":")  # type: ignore[union-attr]
        rng = (first, last, tenant)
    return CallData(
        caller=Device.decode(_text(r[0])),
        caller_tenant=Tenant.decode(_text(r[1])),
        exceptions=frozenset(_text(x) or "" for x in (r[2] or [])),
        local=Target.decode(_text(r[3])),
        global_range=rng,
        global_target=Target.decode(_text(r[5])),
        global_tenant=Tenant.decode(_text(r[6])),
        qualified_target=Target.decode(_text(r[7])),
        qualified_tenant=Tenant.decode(_text(r[8])),
    )


def fetch_tenant_devices(client: Any, tenants: list[str]
                         ) -> list[tuple[str | None, list[str]]]:
    """One round trip: each tenant's record and its devices' records, as
    stored (a deleted tenant: (None, []))."""
    return [(_text(ten), [_text(d) or "" for d in devs])
            for ten, devs in _call(client, "edge_tenant_devices", *tenants)]


def changes_since(client: Any, gen: int, since: int) -> dict[str, int]:
    """The tenants (and ANY_CHANGE) recorded as changed after version ``since``,
    with the version of their last change."""
    return {(_text(m) or ""): int(s) for m, s in
            client.zrangebyscore(k_changes(gen), f"({since}", "+inf", withscores=True)}


def all_tenants(client: Any, gen: int) -> list[str]:
    """Every tenant the generation recorded (deleted ones included)."""
    return [t for t in (_text(m) or "" for m in client.zrange(k_changes(gen), 0, -1))
            if t != ANY_CHANGE]


def fetch_tenant(client: Any, tenant: str) -> Tenant | None:
    (raw,) = _call(client, "edge_tenant", tenant)
    return Tenant.decode(_text(raw))


def load_library(client: Any) -> None:
    """Install (or replace) the function library; idempotent."""
    client.function_load(lua_source(), replace=True)
