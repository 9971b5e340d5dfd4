"""Runtime protection decisions: scanner recognition, exemptions, ban
entries and the arithmetic of when a ban ends.

Pure: they take plain values. The state itself (failed-authentication
windows, bans, trusted sources, call slots) lives in Redis, shared by all
nodes, behind :mod:`edgestore.guard`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Iterable

def ban_field(kind: str, value: str) -> str:
    if kind not in ("src", "id"):
        raise ValueError(kind)
    return f"{kind}:{value.lower() if kind == 'id' else value}"


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def malformed_identity(identity: str) -> bool:
    """A digest username no device can have: it carries a control byte
    (C0, DEL) -- NUL among them, which no Kamailio function takes. Such a
    request is answered like a wrong credential without being looked up.
    (One regex search: every authenticated request asks.)"""
    return _CONTROL.search(identity) is not None


class Scanners:
    """Known scanner User-Agents (configured tokens, matched case-insensitively
    anywhere in the header). Tokens are lowered once, not per request."""

    def __init__(self, tokens: Iterable[str]):
        self.tokens = tuple(t.lower() for t in tokens if t)
        # one search per request, not a Python loop over the tokens
        self._re = (re.compile("|".join(map(re.escape, self.tokens)), re.IGNORECASE)
                    if self.tokens else None)

    def __contains__(self, user_agent: str) -> bool:
        return self._re is not None and self._re.search(user_agent) is not None


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


# A node's `edgegood` entry (kemi/security.py) holds when the node last wrote
# the pair's trust to Redis, as seconds since TRUST_EPOCH: htable integers
# passed through KEMI are 32 bits, which unix time outgrows in 2038.
TRUST_EPOCH = 1_700_000_000


def trust_stamp(now: float) -> int:
    return int(now) - TRUST_EPOCH


def trust_due(stamp: int | None, now: float, refresh: int) -> bool:
    """The pair's trust must be written to Redis again: never written from
    this node (``stamp`` None), or written ``refresh`` seconds ago or more."""
    return stamp is None or trust_stamp(now) - int(stamp) >= refresh
