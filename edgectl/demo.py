"""The small embedded dataset ``make up`` provisions into an empty database.

Shaped like the legacy servers: two support tenants with global access, two
resellers that both use the 7xxx extensions, an exception pair, and a tenant
on longer global numbers. Passwords are fixed and public: local use only.
"""

from __future__ import annotations

from edgecore.config import Config
from edgectl import db, provision

TENANTS = [
    # id, name, global access
    ("00001", "PredioTech (support)", True),
    ("00002", "Remiao101 (support)", True),
    ("00003", "Efetiva", False),
    ("00004", "Epavi", False),
    ("00010", "RealProtecao", False),
]
RANGES = [
    ("00001", "7000", "7099", None),
    ("00002", "7000", "7099", None),
    ("00003", "7000", "7099", None),
    ("00004", "7000", "7099", None),
    ("00010", "5511400000", "5511409999", None),   # global numbers
]
DEVICES = [
    ("00001", "7001"), ("00002", "7001"),
    ("00003", "7001"), ("00003", "7002"),
    ("00004", "7001"), ("00004", "7002"),
    ("00010", "5511400001"), ("00010", "5511400002"),
]
EXCEPTIONS = [("00003", "00004")]          # Efetiva <-> Epavi, both ways
RING_GROUPS = [("00003", "7000", "Efetiva attendants", ["7001", "7002"])]


def password(tenant: str, extension: str) -> str:
    return f"demo-{tenant}-{extension}"


def apply(cfg: Config) -> bool:
    """Provision the demo dataset if the database has no tenant yet."""
    with db.transaction(cfg) as conn:
        if conn.execute("SELECT 1 FROM tenants LIMIT 1").fetchone():
            return False
        for tid, name, glob in TENANTS:
            provision.tenant_add(conn, tid, name, global_access=glob)
        for tid, first, last, scope in RANGES:
            provision.range_add(conn, tid, first, last, scope)
        for tid, ext in DEVICES:
            provision.device_add(conn, cfg.auth.realm, tid, ext, password=password(tid, ext))
        for a, b in EXCEPTIONS:
            provision.exception_add(conn, a, b, both_ways=True)
        for tid, num, name, members in RING_GROUPS:
            provision.ringgroup_add(conn, tid, num, name, members=members)
    return True
