"""Provisioning operations on the source of truth (PostgreSQL).

Each function takes an open connection inside the caller's transaction and
plain values; it validates what can be validated before touching the
database (so the error names the argument), and leaves the rules that span
rows -- overlapping ranges, numbers outside ranges, duplicate identities -- to
the schema's constraints and triggers, which hold for any writer, not just
this CLI. Propagation to Redis happens through the schema's NOTIFY triggers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgecore import digest
from edgecore.numbering import MAX_DIGITS
from edgectl.errors import EdgeError

if TYPE_CHECKING:  # the CLI's parsers read this module's vocabulary without the driver
    import psycopg

TENANT_ID = re.compile(r"^[0-9]{5}$")
NUMBER = re.compile(r"^[0-9]{1,%d}$" % MAX_DIGITS)
AUTH_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
# Ranges of at most this many digits default to tenant-local extensions
# (the legacy 4-digit numbering); longer ones to the global number space.
LOCAL_MAX_DIGITS = 4
SCOPES = ("local", "global")


def check_tenant_id(value: str) -> str:
    if not TENANT_ID.match(value):
        raise EdgeError(f"malformed tenant id {value!r}: expected 5 digits, e.g. 00001")
    return value


def check_number(value: str, what: str = "number") -> str:
    if not NUMBER.match(value):
        raise EdgeError(f"malformed {what} {value!r}: expected 1 to {MAX_DIGITS} digits")
    return value


def _require_tenant(conn: psycopg.Connection, tenant: str) -> None:
    check_tenant_id(tenant)
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone() is None:
        raise EdgeError(f"unknown tenant {tenant}")


def _rows(conn: psycopg.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row  # loaded with the connection already

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)  # type: ignore[arg-type]
        return list(cur.fetchall())


# -- tenants -------------------------------------------------------------------

# --recording: on (record when a pool member is up, else connect unrecorded and
# count it), off, required (no pool member up: refuse 503, never unrecorded)
RECORDING_MODES = {"on": (True, False), "off": (False, False), "required": (True, True)}


def recording_mode(value: str) -> tuple[bool, bool]:
    """(recording, recording_required) of a --recording value."""
    try:
        return RECORDING_MODES[value]
    except KeyError:
        raise EdgeError(f"--recording must be one of {', '.join(RECORDING_MODES)}, "
                        f"not {value!r}") from None


def tenant_add(conn: psycopg.Connection, tenant: str, name: str, global_access: bool = False,
               recording: bool = True, domain: str | None = None,
               max_calls: int | None = None, recording_required: bool = False) -> None:
    check_tenant_id(tenant)
    if recording_required and not recording:
        raise EdgeError("recording cannot be both off and required")
    if not name.strip():
        raise EdgeError("tenant name must not be empty")
    if domain is not None:
        domain = domain.lower()
        if not DOMAIN.match(domain):
            raise EdgeError(f"malformed domain {domain!r}")
    if max_calls is not None and max_calls < 0:
        raise EdgeError("--max-calls must be >= 0")
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone():
        raise EdgeError(f"tenant {tenant} already exists")
    conn.execute(
        "INSERT INTO tenants (id, name, global_access, recording, domain, max_calls,"
        " recording_required) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (tenant, name.strip(), global_access, recording, domain, max_calls, recording_required))


def tenant_set(conn: psycopg.Connection, tenant: str, **changes: Any) -> None:
    _require_tenant(conn, tenant)
    allowed = {"name", "global_access", "recording", "domain", "max_calls",
               "recording_required"}
    sets = {k: v for k, v in changes.items() if k in allowed and v is not None}
    if "domain" in changes and changes["domain"] == "":
        sets["domain"] = None
    if "max_calls" in changes and changes["max_calls"] == -1:
        sets["max_calls"] = None
    elif (sets.get("max_calls") or 0) < 0:
        raise EdgeError("--max-calls must be >= 0 (-1 clears it)")
    if not sets:
        raise EdgeError("nothing to change")
    if sets.get("recording") is False:
        sets["recording_required"] = False      # off is off
    if sets.get("domain"):
        sets["domain"] = sets["domain"].lower()
        if not DOMAIN.match(sets["domain"]):
            raise EdgeError(f"malformed domain {sets['domain']!r}")
    cols = ", ".join(f"{k} = %s" for k in sets)
    conn.execute(f"UPDATE tenants SET {cols} WHERE id = %s", (*sets.values(), tenant))


def tenant_list(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return _rows(conn, """
        SELECT t.id, t.name, t.global_access, t.recording, t.recording_required,
               t.domain, t.max_calls,
               (SELECT count(*) FROM devices d WHERE d.tenant_id = t.id) AS devices,
               (SELECT count(*) FROM number_ranges r WHERE r.tenant_id = t.id) AS ranges,
               (SELECT count(*) FROM ring_groups g WHERE g.tenant_id = t.id) AS ring_groups
          FROM tenants t ORDER BY t.id""")


def tenant_remove(conn: psycopg.Connection, tenant: str, cascade: bool = False) -> None:
    _require_tenant(conn, tenant)
    counts = conn.execute("""
        SELECT (SELECT count(*) FROM devices WHERE tenant_id = %(t)s),
               (SELECT count(*) FROM ring_groups WHERE tenant_id = %(t)s),
               (SELECT count(*) FROM number_ranges WHERE tenant_id = %(t)s)""",
                          {"t": tenant}).fetchone()
    assert counts is not None
    if any(counts) and not cascade:
        raise EdgeError(f"tenant {tenant} still has {counts[0]} devices, {counts[1]} ring groups "
                        f"and {counts[2]} ranges; remove them first or use --cascade")
    conn.execute("DELETE FROM ring_groups WHERE tenant_id = %s", (tenant,))
    conn.execute("DELETE FROM devices WHERE tenant_id = %s", (tenant,))
    conn.execute("DELETE FROM number_ranges WHERE tenant_id = %s", (tenant,))
    conn.execute("DELETE FROM tenants WHERE id = %s", (tenant,))


# -- number ranges -------------------------------------------------------------

def default_scope(first: str) -> str:
    return "local" if len(first) <= LOCAL_MAX_DIGITS else "global"


def range_add(conn: psycopg.Connection, tenant: str, first: str, last: str,
              scope: str | None = None) -> str:
    check_number(first, "first number")
    check_number(last, "last number")
    if len(first) != len(last):
        raise EdgeError("first and last number must have the same number of digits")
    if int(first) > int(last):
        raise EdgeError("first number must not be greater than last number")
    scope = scope or default_scope(first)
    if scope not in SCOPES:
        raise EdgeError(f"scope must be one of {', '.join(SCOPES)}")
    _require_tenant(conn, tenant)
    conn.execute("INSERT INTO number_ranges (tenant_id, first_number, last_number, scope)"
                 " VALUES (%s, %s, %s, %s)", (tenant, first, last, scope))
    return scope


def range_list(conn: psycopg.Connection, tenant: str | None = None) -> list[dict[str, Any]]:
    if tenant is not None:
        _require_tenant(conn, tenant)
        return _rows(conn, "SELECT tenant_id AS tenant, first_number AS first, last_number AS last,"
                           " scope FROM number_ranges WHERE tenant_id = %s"
                           " ORDER BY ndigits, first_number", (tenant,))
    return _rows(conn, "SELECT tenant_id AS tenant, first_number AS first, last_number AS last,"
                       " scope FROM number_ranges ORDER BY tenant_id, ndigits, first_number")


def range_remove(conn: psycopg.Connection, tenant: str, first: str, last: str) -> None:
    _require_tenant(conn, tenant)
    cur = conn.execute("DELETE FROM number_ranges WHERE tenant_id = %s AND first_number = %s"
                       " AND last_number = %s", (tenant, first, last))
    if cur.rowcount == 0:
        raise EdgeError(f"tenant {tenant} has no range {first}-{last}")


# -- devices -------------------------------------------------------------------

def default_auth_username(tenant: str, extension: str) -> str:
    """Edge-wide unique digest identity: tenant id followed by the extension
    (the tenant id is fixed-width, so the pair is unambiguous)."""
    return f"{tenant}{extension}"


@dataclass
class DeviceCreated:
    tenant: str
    extension: str
    auth_username: str


def device_add(conn: psycopg.Connection, realm: str, tenant: str, extension: str,
               password: str | None = None, ha1: str | None = None,
               auth_username: str | None = None, display_name: str | None = None,
               max_calls: int | None = None) -> DeviceCreated:
    # the tenant first: "unknown tenant" is the error that matters, not the
    # password's length for a device that could not be added anyway
    check_tenant_id(tenant)
    _require_tenant(conn, tenant)
    check_number(extension, "extension")
    auth_username = auth_username or default_auth_username(tenant, extension)
    if not AUTH_USER.match(auth_username):
        raise EdgeError(f"malformed auth username {auth_username!r}")
    if (password is None) == (ha1 is None):
        raise EdgeError("give exactly one of --password or --ha1")
    if password is not None:
        if len(password) < 8:
            raise EdgeError("password too short: at least 8 characters")
        ha1 = digest.ha1(auth_username, realm, password)
    assert ha1 is not None
    ha1 = ha1.lower()
    if not digest.is_ha1(ha1):
        raise EdgeError("--ha1 must be 32 hex digits")
    if max_calls is not None and max_calls < 0:
        raise EdgeError("--max-calls must be >= 0")
    if conn.execute("SELECT 1 FROM devices WHERE tenant_id = %s AND extension = %s",
                    (tenant, extension)).fetchone():
        raise EdgeError(f"tenant {tenant} already has a device {extension}")
    if conn.execute("SELECT 1 FROM devices WHERE lower(auth_username) = lower(%s)",
                    (auth_username,)).fetchone():
        raise EdgeError(f"auth username {auth_username} is already used by another device")
    conn.execute("INSERT INTO devices (tenant_id, extension, auth_username, ha1, display_name,"
                 " max_calls) VALUES (%s, %s, %s, %s, %s, %s)",
                 (tenant, extension, auth_username, ha1, display_name, max_calls))
    return DeviceCreated(tenant, extension, auth_username)


def device_passwd(conn: psycopg.Connection, realm: str, tenant: str, extension: str,
                  password: str) -> None:
    _require_tenant(conn, tenant)
    row = conn.execute("SELECT auth_username FROM devices WHERE tenant_id = %s AND extension = %s",
                       (tenant, extension)).fetchone()
    if row is None:
        raise EdgeError(f"tenant {tenant} has no device {extension}")
    if len(password) < 8:
        raise EdgeError("password too short: at least 8 characters")
    conn.execute("UPDATE devices SET ha1 = %s WHERE tenant_id = %s AND extension = %s",
                 (digest.ha1(row[0], realm, password), tenant, extension))


def device_list(conn: psycopg.Connection, tenant: str | None = None) -> list[dict[str, Any]]:
    sql = ("SELECT tenant_id AS tenant, extension, auth_username, display_name, max_calls"
           " FROM devices")
    if tenant is not None:
        _require_tenant(conn, tenant)
        return _rows(conn, sql + " WHERE tenant_id = %s ORDER BY extension", (tenant,))
    return _rows(conn, sql + " ORDER BY tenant_id, extension")


def device_remove(conn: psycopg.Connection, tenant: str, extension: str) -> None:
    _require_tenant(conn, tenant)
    cur = conn.execute("DELETE FROM devices WHERE tenant_id = %s AND extension = %s",
                       (tenant, extension))
    if cur.rowcount == 0:
        raise EdgeError(f"tenant {tenant} has no device {extension}")


# -- cross-tenant exceptions ---------------------------------------------------

def exception_add(conn: psycopg.Connection, from_tenant: str, to_tenant: str,
                  both_ways: bool = False) -> None:
    _require_tenant(conn, from_tenant)
    _require_tenant(conn, to_tenant)
    if from_tenant == to_tenant:
        raise EdgeError("an exception needs two different tenants")
    pairs = [(from_tenant, to_tenant)] + ([(to_tenant, from_tenant)] if both_ways else [])
    added = 0
    for a, b in pairs:
        added += conn.execute("INSERT INTO tenant_exceptions (from_tenant, to_tenant)"
                              " VALUES (%s, %s) ON CONFLICT DO NOTHING", (a, b)).rowcount
    if not added:
        raise EdgeError(f"exception {from_tenant} -> {to_tenant}"
                        f"{' (both ways)' if both_ways else ''} already exists")


def exception_remove(conn: psycopg.Connection, from_tenant: str, to_tenant: str,
                     both_ways: bool = False) -> None:
    _require_tenant(conn, from_tenant)
    _require_tenant(conn, to_tenant)
    pairs = [(from_tenant, to_tenant)] + ([(to_tenant, from_tenant)] if both_ways else [])
    removed = 0
    for a, b in pairs:
        removed += conn.execute("DELETE FROM tenant_exceptions WHERE from_tenant = %s"
                                " AND to_tenant = %s", (a, b)).rowcount
    if removed == 0:
        raise EdgeError(f"no exception from {from_tenant} to {to_tenant}")


def exception_list(conn: psycopg.Connection, tenant: str | None = None) -> list[dict[str, Any]]:
    if tenant is not None:
        _require_tenant(conn, tenant)
        return _rows(conn, "SELECT from_tenant, to_tenant FROM tenant_exceptions"
                           " WHERE from_tenant = %s OR to_tenant = %s"
                           " ORDER BY 1, 2", (tenant, tenant))
    return _rows(conn, "SELECT from_tenant, to_tenant FROM tenant_exceptions ORDER BY 1, 2")


# -- ring groups ---------------------------------------------------------------

RG_STRATEGIES = ("ringall", "sequential")


def ringgroup_add(conn: psycopg.Connection, tenant: str, number: str, name: str,
                  strategy: str = "ringall", ring_timeout: int = 30,
                  members: list[str] | None = None) -> None:
    check_number(number)
    if not members:
        raise EdgeError("a ring group needs at least one --member (it would ring nobody)")
    if strategy not in RG_STRATEGIES:
        raise EdgeError(f"strategy must be one of {', '.join(RG_STRATEGIES)}")
    if not 5 <= ring_timeout <= 600:
        raise EdgeError("ring timeout must be between 5 and 600 seconds")
    _require_tenant(conn, tenant)
    if conn.execute("SELECT 1 FROM ring_groups WHERE tenant_id = %s AND number = %s",
                    (tenant, number)).fetchone():
        raise EdgeError(f"tenant {tenant} already has a ring group {number}")
    row = conn.execute("INSERT INTO ring_groups (tenant_id, number, name, strategy, ring_timeout)"
                       " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                       (tenant, number, name, strategy, ring_timeout)).fetchone()
    assert row is not None
    for pos, ext in enumerate(members or []):
        _add_member(conn, row[0], tenant, ext, pos)


def _add_member(conn: psycopg.Connection, rg_id: int, tenant: str, ext: str, pos: int) -> None:
    check_number(ext, "member extension")
    dev = conn.execute("SELECT id FROM devices WHERE tenant_id = %s AND extension = %s",
                       (tenant, ext)).fetchone()
    if dev is None:
        raise EdgeError(f"tenant {tenant} has no device {ext}")
    conn.execute("INSERT INTO ring_group_members (ring_group_id, device_id, position)"
                 " VALUES (%s, %s, %s)", (rg_id, dev[0], pos))


def _ring_group_id(conn: psycopg.Connection, tenant: str, number: str) -> int:
    _require_tenant(conn, tenant)
    row = conn.execute("SELECT id FROM ring_groups WHERE tenant_id = %s AND number = %s",
                       (tenant, number)).fetchone()
    if row is None:
        raise EdgeError(f"tenant {tenant} has no ring group {number}")
    return int(row[0])


def ringgroup_member_add(conn: psycopg.Connection, tenant: str, number: str,
                         extensions: list[str]) -> None:
    rg = _ring_group_id(conn, tenant, number)
    row = conn.execute("SELECT coalesce(max(position) + 1, 0) FROM ring_group_members"
                       " WHERE ring_group_id = %s", (rg,)).fetchone()
    start = int(row[0]) if row else 0
    for i, ext in enumerate(extensions):
        _add_member(conn, rg, tenant, ext, start + i)


def ringgroup_member_remove(conn: psycopg.Connection, tenant: str, number: str,
                            extensions: list[str]) -> None:
    rg = _ring_group_id(conn, tenant, number)
    for ext in extensions:
        cur = conn.execute("DELETE FROM ring_group_members m USING devices d"
                           " WHERE m.ring_group_id = %s AND m.device_id = d.id"
                           " AND d.extension = %s", (rg, ext))
        if cur.rowcount == 0:
            raise EdgeError(f"device {ext} is not a member of ring group {number}")


def ringgroup_remove(conn: psycopg.Connection, tenant: str, number: str) -> None:
    rg = _ring_group_id(conn, tenant, number)
    conn.execute("DELETE FROM ring_groups WHERE id = %s", (rg,))


def ringgroup_list(conn: psycopg.Connection, tenant: str | None = None) -> list[dict[str, Any]]:
    sql = """SELECT g.tenant_id AS tenant, g.number, g.name, g.strategy, g.ring_timeout,
                    coalesce(array_agg(d.extension ORDER BY m.position, d.extension)
                             FILTER (WHERE d.id IS NOT NULL), '{{}}') AS members
               FROM ring_groups g
               LEFT JOIN ring_group_members m ON m.ring_group_id = g.id
               LEFT JOIN devices d ON d.id = m.device_id
              {where}
              GROUP BY g.id ORDER BY g.tenant_id, g.number"""
    if tenant is not None:
        _require_tenant(conn, tenant)
        return _rows(conn, sql.format(where="WHERE g.tenant_id = %s"), (tenant,))
    return _rows(conn, sql.format(where=""))
