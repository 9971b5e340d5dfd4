"""The read model's records and their encoding: what a tenant, a device, a
number's target and one call's lookup are, as every reader and the writer
exchange them.

Pure: the key layout, the Redis function library (``edge.lua``) and the
reads that fetch these records are the store's (:mod:`edgestore.readmodel`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any


def legacy_identity(namespace: str, authuser: str) -> str:
    """The edge-wide identity of a legacy peer name in a namespace. '/' is in
    no auth username, so it collides with no native identity."""
    return f"{namespace}/{authuser}"


@dataclass(frozen=True)
class Namespace:
    name: str
    realm: str


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
    # auth username, tenant id, extension or HA1 can contain), in bytes per
    # registered device: the auth username left out when it is the
    # provisioning default (tenant id + extension, edgectl.provision), an
    # MD5 HA1 in base64 (22 characters, not 32), trailing empty fields left out
    def pack(self) -> str:
        m = "" if self.max_calls is None else str(self.max_calls)
        au = "" if self.auth_username == self.tenant + self.extension else self.auth_username
        fields = [au, self.tenant, self.extension, _pack_ha1(self.ha1), m,
                  self.name.replace("\x1f", ""), "g" if self.global_number else ""]
        while fields[-1] == "":
            fields.pop()
        return "\x1f".join(fields)

    @classmethod
    def unpack(cls, raw: str | None) -> "Device | None":
        if not raw:
            return None
        parts = raw.split("\x1f")
        if not 4 <= len(parts) <= 7:
            return None
        parts += [""] * (7 - len(parts))   # trailing empty fields, or packed before them
        u, t, x, h, m, n, g = parts
        return cls(auth_username=u or t + x, tenant=t, extension=x, ha1=_unpack_ha1(h),
                   max_calls=int(m) if m else None, name=n, global_number=g == "g")


def _pack_ha1(ha1: str) -> str:
    """An MD5 HA1 (32 lowercase hex digits) as 22 base64 characters; any
    other form as it is (a hex digest never has 22 characters)."""
    if len(ha1) != 32 or ha1 != ha1.lower():
        return ha1
    try:
        raw = bytes.fromhex(ha1)
    except ValueError:
        return ha1
    return base64.b64encode(raw).decode()[:22] if len(raw) == 16 else ha1


def _unpack_ha1(packed: str) -> str:
    if len(packed) == 22:
        return base64.b64decode(packed + "==").hex()
    return packed


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


def tagged(version: int | str, encoded: str) -> str:
    """A read-model record as the node-wide cache keeps it: the tag (cache
    version) it was fetched under, then its encoding."""
    return f"{version}|{encoded}"


def untag(version: int | str, raw: Any) -> str | None:
    """The encoding kept under tag ``version`` (None: absent, or of another
    tag -- stale)."""
    if raw is None:
        return None
    text = str(raw)
    ver, sep, encoded = text.partition("|")
    return encoded if sep and ver == str(version) else None


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


