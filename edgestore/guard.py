"""Runtime protection state in Redis: failed-authentication windows, bans,
the sources an identity is trusted from, and concurrent-call slots.

Unlike the read model this is not rebuilt from PostgreSQL: it is written by
the edge nodes themselves (through the atomic functions of ``edge.lua``) and
shared by all of them, so a ban decided on one node holds on every node and a
call limit counts calls on all nodes. Each node mirrors ``edge:bans`` into a
Kamailio htable (kemi/poller.py) so checking a ban costs no round trip.

The decisions (scanner recognition, exemptions, ban entries) are pure, in
:mod:`edgecore.guard`; the functions here talk to Redis and take the client.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from edgecore.guard import Ban, ban_field

BANS_KEY = "edge:bans"            # field "src:<ip>" | "id:<identity>" -> until (epoch)
BANS_WHY_KEY = "edge:bans:why"
BANS_VER_KEY = "edge:bans:ver"


def call_keys(auth_username: str, tenant: str) -> tuple[str, str]:
    return f"edge:calls:d:{auth_username.lower()}", f"edge:calls:t:{tenant}"


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
