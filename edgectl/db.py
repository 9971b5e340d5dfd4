"""PostgreSQL access for the control plane: connections, migrations, errors.

Every provisioning command runs in exactly one transaction (:func:`transaction`):
it commits as a whole or rolls back as a whole, so a refused command leaves
nothing half-written. Database errors are turned into :class:`EdgeError` with
one line a person can act on.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg import errors as pgerr

from edgecore.config import REPO_ROOT, Config
from edgectl.errors import EdgeError

MIGRATIONS_DIR = REPO_ROOT / "sql" / "migrations"
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_MIGRATE_LOCK = 7240002


# constraint name -> message (the trigger exceptions carry their own text)
_CONSTRAINTS = {
    "range_no_overlap_in_tenant": "the range overlaps another range of the same tenant",
    "range_no_overlap_global": "the range overlaps another global range",
    "range_same_length": "first and last number must have the same number of digits",
    "range_ordered": "first number must not be greater than last number",
    "device_extension_uq": "the tenant already has a device with that extension",
    "devices_auth_username_uq": "that auth username is already used by another device",
    "ring_group_number_uq": "the tenant already has a ring group with that number",
    "tenants_pkey": "a tenant with that id already exists",
    "tenants_domain_uq": "another tenant already uses that domain",
    "pool_members_uri_key": "that pool member already exists",
    "tenant_exceptions_pkey": "that exception already exists",
    "ring_group_members_pkey": "the device is already a member of that ring group",
}


def explain_error(exc: psycopg.Error) -> str:
    diag = exc.diag
    name = diag.constraint_name or ""
    if name in _CONSTRAINTS:
        return _CONSTRAINTS[name]
    if isinstance(exc, pgerr.ForeignKeyViolation):
        if "tenants" in (diag.message_detail or "") or name.endswith("tenant_id_fkey"):
            return "unknown tenant"
        return (diag.message_primary or str(exc)).strip()
    if isinstance(exc, pgerr.CheckViolation) and name:
        return f"invalid value ({name})"
    msg = diag.message_primary or str(exc)
    return msg.strip().splitlines()[0]


def connect(cfg: Config, autocommit: bool = False) -> psycopg.Connection:
    try:
        return psycopg.connect(cfg.postgres.dsn, autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise EdgeError(f"cannot reach PostgreSQL at {safe_url(cfg.postgres.dsn)}: {first}") from None


def safe_url(url: str) -> str:
    """A DSN or URL with its password masked, for messages."""
    return re.sub(r"://([^:@/]*):[^@/]*@", r"://\1:***@", url)


@contextlib.contextmanager
def transaction(cfg: Config) -> Iterator[psycopg.Connection]:
    """One command = one transaction; database errors become EdgeError."""
    conn = connect(cfg)
    try:
        with conn.transaction():
            yield conn
    except psycopg.Error as exc:
        raise EdgeError(explain_error(exc)) from None
    finally:
        conn.close()


def available_migrations() -> list[tuple[str, Path]]:
    out = []
    for p in sorted(MIGRATIONS_DIR.iterdir()):
        m = _MIGRATION.match(p.name)
        if m:
            out.append((m.group(1), p))
    return out


def migrate(cfg: Config) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns those applied."""
    applied: list[str] = []
    conn = connect(cfg, autocommit=True)
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATE_LOCK,))
        conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                            version text PRIMARY KEY,
                            name text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, path in available_migrations():
            if version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(path.read_text())  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (version, path.name))
            except psycopg.Error as exc:
                raise EdgeError(f"migration {path.name} failed: {explain_error(exc)}") from None
            applied.append(path.name)
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATE_LOCK,))
    finally:
        conn.close()
    return applied


def schema_version(cfg: Config) -> str | None:
    conn = connect(cfg, autocommit=True)
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return row[0] if row else None
    except pgerr.UndefinedTable:
        return None
    finally:
        conn.close()
