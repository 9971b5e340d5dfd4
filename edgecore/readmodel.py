"""The Redis read model: key layout, record encoding, and the one-round-trip reads.

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
    e<g>:d:<ns>/<peer lowercased> a legacy identity of a device (namespace <ns>,
                                  edgectl import): same record, u = "<ns>/<peer>"
    edge:ns                       HASH address|host -> "<ns> <realm>": the legacy
                                  namespaces, read once per version by each worker

Reads go through the Redis function library in ``edge.lua`` (FUNCTION LOAD):
the generation indirection and every lookup a request needs cost one round
trip (FCALL) per request, and none when the worker cache is valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

GEN_KEY = "edge:gen"
VER_KEY = "edge:ver"
EPOCH_KEY = "edge:epoch"              # random id of the last full rebuild (edgectl/sync.py)
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


NS_KEY = "edge:ns"


def legacy_identity(namespace: str, authuser: str) -> str:
    """The edge-wide identity of a legacy peer name in a namespace. '/' is in
    no auth username, so it collides with no native identity."""
    return f"{namespace}/{authuser}"


@dataclass(frozen=True)
class Namespace:
    name: str
    realm: str


def fetch_namespaces(client: Any) -> dict[str, Namespace]:
    """address|host -> namespace (one round trip; the worker caches it per version)."""
    out = {}
    for addr, v in (client.hgetall(NS_KEY) or {}).items():
        name, _, realm = (_text(v) or "").partition(" ")
        out[_text(addr) or ""] = Namespace(name, realm)
    return out


def range_member(first: str, last: str, tenant: str) -> str:
    return f"{last}:{first}:{tenant}"


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


# -- records ---------------------------------------------------------------

@dataclass(frozen=True)
class Tenant:
    id: str
    name: str = ""
    global_access: bool = False
    recording: bool = True
    domain: str | None = None
    max_calls: int | None = None
    recording_required: bool = False    # no pool member up: refuse, never unrecorded

    def encode(self) -> str:
        d = {"id": self.id, "n": self.name, "g": self.global_access,
             "r": self.recording, "dom": self.domain, "m": self.max_calls}
        if self.recording_required:
            d["rq"] = True
        return dumps(d)

    @classmethod
    def decode(cls, raw: str | bytes | None) -> "Tenant | None":
        if not raw:
            return None
        d = json.loads(raw)
        return cls(id=d["id"], name=d.get("n", ""), global_access=bool(d.get("g")),
                   recording=bool(d.get("r", True)), domain=d.get("dom"),
                   max_calls=d.get("m"), recording_required=bool(d.get("rq")))


@dataclass(frozen=True)
class Device:
    auth_username: str
    tenant: str
    extension: str
    ha1: str
    max_calls: int | None = None
    name: str = ""                # display name (edgecore/identity.py), "" when none
    global_number: bool = False   # its extension lies in a global range of its tenant

    @property
    def aor(self) -> str:
        """The usrloc address-of-record: tenant-scoped, independent of the
        domain the phone put in its request."""
        return f"sip:{self.extension}@{self.tenant}"

    def encode(self) -> str:
        d = {"u": self.auth_username, "t": self.tenant, "x": self.extension,
             "h": self.ha1, "m": self.max_calls}
        if self.name:
            d["n"] = self.name
        if self.global_number:
            d["g"] = True
        return dumps(d)

    @classmethod
    def decode(cls, raw: str | bytes | None) -> "Device | None":
        if not raw:
            return None
        d = json.loads(raw)
        return cls(auth_username=d["u"], tenant=d["t"], extension=d["x"], ha1=d["h"],
                   max_calls=d.get("m"), name=d.get("n", ""),
                   global_number=bool(d.get("g")))

    # the node-wide cache keeps one entry per device in Kamailio's shared
    # memory: a compact form (fields split by the unit separator, which no
    # auth username, tenant id, extension or HA1 can contain)
    def pack(self) -> str:
        m = "" if self.max_calls is None else str(self.max_calls)
        return "\x1f".join((self.auth_username, self.tenant, self.extension, self.ha1, m,
                            self.name.replace("\x1f", ""), "g" if self.global_number else ""))

    @classmethod
    def unpack(cls, raw: str | None) -> "Device | None":
        if not raw:
            return None
        parts = raw.split("\x1f")
        if not 5 <= len(parts) <= 7:
            return None
        parts += [""] * (7 - len(parts))   # packed before display names / the flag
        u, t, x, h, m, n, g = parts
        return cls(auth_username=u, tenant=t, extension=x, ha1=h,
                   max_calls=int(m) if m else None, name=n, global_number=g == "g")


@dataclass(frozen=True)
class Target:
    """What a tenant's number is: a device, or a ring group."""
    kind: str                  # "device" | "ring_group"
    tenant: str
    number: str
    auth_username: str | None = None        # device
    max_calls: int | None = None            # device
    name: str | None = None                 # ring group
    strategy: str | None = None             # ring group: ringall | sequential
    ring_timeout: int | None = None         # ring group
    members: tuple[str, ...] = field(default_factory=tuple)  # ring group member extensions

    @property
    def aor(self) -> str:
        return f"sip:{self.number}@{self.tenant}"

    def encode(self) -> str:
        if self.kind == "device":
            return dumps({"k": "d", "t": self.tenant, "x": self.number,
                          "u": self.auth_username, "m": self.max_calls})
        return dumps({"k": "g", "t": self.tenant, "x": self.number, "name": self.name,
                      "s": self.strategy, "to": self.ring_timeout,
                      "mem": list(self.members)})

    @classmethod
    def decode(cls, raw: str | bytes | None) -> "Target | None":
        if not raw:
            return None
        d = json.loads(raw)
        if d["k"] == "d":
            return cls(kind="device", tenant=d["t"], number=d["x"],
                       auth_username=d.get("u"), max_calls=d.get("m"))
        return cls(kind="ring_group", tenant=d["t"], number=d["x"], name=d.get("name"),
                   strategy=d.get("s"), ring_timeout=d.get("to"),
                   members=tuple(d.get("mem") or ()))


def lua_source() -> str:
    return resources.files("edgecore").joinpath("edge.lua").read_text()


class ModelNotLoaded(RuntimeError):
    """Redis answers but holds no read model (never synced, or flushed)."""


def _text(v: Any) -> str | None:
    if v is None or v is False:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def _call(client: Any, fn: str, *args: str) -> list[Any]:
    from redis.exceptions import ResponseError  # local: edgecore stays importable without redis

    try:
        return client.fcall(fn, 0, *args)
    except ResponseError as exc:
        if "NOMODEL" in str(exc):
            raise ModelNotLoaded(str(exc)) from None
        raise


def tagged(version: int, encoded: str) -> str:
    """A read-model answer as the node-wide cache keeps it: the version it
    was fetched under, then its encoding."""
    return f"{version}|{encoded}"


def untag(version: int, raw: Any) -> str | None:
    """The encoding kept under ``version`` (None: absent, or of another
    version -- stale)."""
    if raw is None:
        return None
    text = str(raw)
    ver, sep, encoded = text.partition("|")
    return encoded if sep and ver == str(version) else None


def fetch_device(client: Any, authuser: str) -> tuple[Device | None, Tenant | None]:
    """One round trip: the device of a digest identity, and its tenant."""
    dev, ten = _call(client, "edge_device", authuser)
    return Device.decode(_text(dev)), Tenant.decode(_text(ten))


@dataclass(frozen=True)
class CallData:
    """Everything the routing of one call needs from the read model, fetched
    in one round trip (``edge_call``); the decision itself is pure Python
    (:mod:`edgecore.numbering`, :mod:`edgecore.policy`)."""
    caller: Device | None
    caller_tenant: Tenant | None
    exceptions: frozenset[str]             # tenants the caller's tenant may call
    local: Target | None                   # dialled in the caller's own tenant
    global_range: tuple[str, str, str] | None  # (first, last, tenant) containing dialled
    global_target: Target | None           # dialled inside the global range's tenant
    global_tenant: Tenant | None
    qualified_target: Target | None        # "<tenant>*<number>" form
    qualified_tenant: Tenant | None


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


def fetch_tenant(client: Any, tenant: str) -> Tenant | None:
    (raw,) = _call(client, "edge_tenant", tenant)
    return Tenant.decode(_text(raw))


def load_library(client: Any) -> None:
    """Install (or replace) the function library; idempotent."""
    client.function_load(lua_source(), replace=True)
