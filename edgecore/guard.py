"""Runtime protection state in Redis: failed-authentication windows, bans,
the sources an identity is trusted from, and concurrent-call slots.

Unlike the read model this is not rebuilt from PostgreSQL: it is written by
the edge nodes themselves (through the atomic functions of ``edge.lua``) and
shared by all of them, so a ban decided on one node holds on every node and a
call limit counts calls on all nodes. Each node mirrors ``edge:bans`` into a
Kamailio htable (kemi/poller.py) so checking a ban costs no round trip.

The pure parts (scanner recognition, exemptions, ban entries) take plain
values; the functions that talk to Redis take the client.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Iterable

BANS_KEY = "edge:bans"            # field "src:<ip>" | "id:<identity>" -> until (epoch)
BANS_WHY_KEY = "edge:bans:why"
BANS_VER_KEY = "edge:bans:ver"


def ban_field(kind: str, value: str) -> str:
    if kind not in ("src", "id"):
        raise ValueError(kind)
    return f"{kind}:{value.lower() if kind == 'id' else value}"


def malformed_identity(identity: str) -> bool:
    """A digest username no device can have: it carries a control byte
    (C0, DEL) -- NUL among them, which no Kamailio function takes. Such a
    request is answered like a wrong credential without being looked up."""
    return any(ord(c) < 0x20 or ord(c) == 0x7f for c in identity)


def call_keys(auth_username: str, tenant: str) -> tuple[str, str]:
    return f"edge:calls:d:{auth_username.lower()}", f"edge:calls:t:{tenant}"


class Scanners:
    """Known scanner User-Agents (configured tokens, matched case-insensitively
    anywhere in the header). Tokens are lowered once, not per request."""

    def __init__(self, tokens: Iterable[str]):
        self.tokens = tuple(t.lower() for t in tokens if t)

    def __contains__(self, user_agent: str) -> bool:
        ua = user_agent.lower()
        return any(t in ua for t in self.tokens)


class Exemptions:
    """Sources never banned nor flood-limited (configured CIDRs).

    Checked on every request: an address's answer is remembered (parsing an
    address costs more than the rest of the screening), in a table bounded by
    ``memo_max`` so a spoofed-address flood cannot grow it without limit."""

    def __init__(self, cidrs: Iterable[str], memo_max: int = 65536):
        self.nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._memo: dict[str, bool] = {}
        self._memo_max = memo_max

    def __contains__(self, addr: str) -> bool:
        try:
            return self._memo[addr]
        except KeyError:
            pass
        try:
            ip = ipaddress.ip_address(addr)
            found = any(ip in n for n in self.nets)
        except ValueError:
            found = False
        if len(self._memo) >= self._memo_max:
            self._memo.clear()
        self._memo[addr] = found
        return found


@dataclass(frozen=True)
class Ban:
    kind: str          # src | id
    value: str
    until: float
    reason: str

    def active(self, now: float) -> bool:
        return self.until > now


def _fcall(client: Any, fn: str, *args: object) -> Any:
    return client.fcall(fn, 0, *[str(a) for a in args])


def auth_failed(client: Any, source: str, identity: str, now: float, window: int,
                source_max: int, identity_max: int, ban_time: int,
                long_windows: Iterable[tuple[int, int, int]] = ()) -> tuple[int, int]:
    """Count one failed authentication in the short window and in each long
    one (window seconds, source limit, identity limit: a limit reached bans
    for the window's length); returns when the source's and the identity's
    bans decided now end (0: not banned now)."""
    extra: list[object] = []
    for w, smax, imax in long_windows:
        extra += [w, smax, imax, w]
    s, i = _fcall(client, "edge_auth_fail", source, identity, now, window, source_max,
                  identity_max, ban_time, *extra)
    return int(s), int(i)


def auth_succeeded(client: Any, identity: str, source: str, now: float, trusted_for: int
                   ) -> None:
    _fcall(client, "edge_auth_ok", identity, source, now, trusted_for)


def trusted(client: Any, identity: str, source: str, now: float, trusted_for: int) -> bool:
    return bool(int(_fcall(client, "edge_trusted", identity, source, now, trusted_for)))


def ban_until(now: float, seconds: int) -> int:
    """When a ban of ``seconds`` decided at ``now`` ends: on a whole second,
    the second a node's htable entry set at ``now`` for ``seconds`` expires
    (htable keeps time in whole seconds), so no node lifts a ban before
    ``edge:bans`` says it ended. edge.lua's edge_auth_fail computes the same."""
    return int(now) + int(seconds)


def ban_seconds_left(until: float, now: float) -> int:
    """Seconds a node's htable entry set at ``now`` needs to end at ``until``
    (rounded up: never before it), at least one."""
    return max(1, math.ceil(until - int(now)))


def ban(client: Any, kind: str, value: str, until: float, reason: str) -> None:
    _fcall(client, "edge_ban", ban_field(kind, value), until, reason)


def unban(client: Any, kind: str, value: str) -> bool:
    return bool(int(_fcall(client, "edge_unban", ban_field(kind, value))))


def bans(client: Any, now: float, bad: list[str] | None = None) -> list[Ban]:
    """The bans in force. An entry that does not parse (a kind other than
    src/id, an expiry that is not a number) is skipped, and its field added
    to ``bad`` when given: one bad entry never hides the others."""
    entries = client.hgetall(BANS_KEY) or {}
    why = client.hgetall(BANS_WHY_KEY) or {}
    out = []
    for field, until in entries.items():
        f = field.decode() if isinstance(field, bytes) else str(field)
        kind, _, value = f.partition(":")
        try:
            ban_field(kind, value)
            b = Ban(kind, value, float(until), str(why.get(field, "") or ""))
            if not math.isfinite(b.until):
                raise ValueError(until)
        except (ValueError, TypeError):
            if bad is not None:
                bad.append(f)
            continue
        if b.active(now):
            out.append(b)
    return sorted(out, key=lambda b: (b.kind, b.value))


def admit_call(client: Any, call_id: str, auth_username: str, tenant: str,
               device_max: int, tenant_max: int, now: float, ttl: int) -> str | None:
    """Take a call slot; None when admitted, else which limit ("device"/"tenant")."""
    dkey, tkey = call_keys(auth_username, tenant)
    ok, which = _fcall(client, "edge_call_admit", call_id, dkey, device_max, tkey,
                       tenant_max, now, ttl)
    if int(ok):
        return None
    return which.decode() if isinstance(which, bytes) else str(which)


def release_call(client: Any, call_id: str, auth_username: str, tenant: str) -> None:
    dkey, tkey = call_keys(auth_username, tenant)
    _fcall(client, "edge_call_release", call_id, dkey, tkey)


def calls_in_progress(client: Any, auth_username: str | None = None,
                      tenant: str | None = None, now: float = 0.0) -> int:
    dkey, tkey = call_keys(auth_username or "", tenant or "")
    key = dkey if auth_username else tkey
    return int(client.zcount(key, now, "+inf"))
