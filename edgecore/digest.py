"""HTTP digest helpers (RFC 2617 3.2.2.2): the HA1 stored instead of a password."""

from __future__ import annotations

import hashlib
import re

_HA1 = re.compile(r"^[0-9a-f]{32}$")


def ha1(username: str, realm: str, password: str) -> str:
    """HA1 = MD5(username ":" realm ":" password), lowercase hex."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def is_ha1(value: str) -> bool:
    return bool(_HA1.match(value))
