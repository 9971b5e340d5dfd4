"""``edgectl device set TENANT EXT --name NAME``: the display name a callee
sees for the device's calls (edgecore/identity.py; devices.display_name).

One transaction; a bad value is one clear error and nothing is written. The
name must fit a SIP display name as the edge sends it (edgecore.identity
drops what cannot be sent), so it is refused here rather than silently
changed: no quotes, backslashes, commas, '|' or control characters.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, Callable

from edgecore import identity
from edgectl.errors import EdgeError
from edgectl.provision import check_number, check_tenant_id

if TYPE_CHECKING:  # registered by the CLI's parser, which does not load the driver
    import psycopg


def check_name(name: str) -> str | None:
    """The name to store ('' clears it: None)."""
    name = name.strip()
    if not name:
        return None
    if identity.display_name(name) != name:
        raise EdgeError(f"--name {name!r}: no quotes, backslashes, commas, '|' or control "
                        f"characters, at most {identity.NAME_MAX} characters")
    return name


def device_set(conn: psycopg.Connection, tenant: str, extension: str, name: str) -> None:
    check_tenant_id(tenant)
    check_number(extension, "extension")
    value = check_name(name)
    cur = conn.execute("UPDATE devices SET display_name = %s WHERE tenant_id = %s"
                       " AND extension = %s", (value, tenant, extension))
    if cur.rowcount == 0:
        if not conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone():
            raise EdgeError(f"unknown tenant {tenant}")
        raise EdgeError(f"tenant {tenant} has no device {extension}")


def register(devices: Any, run: Callable[[Any, Callable[[psycopg.Connection], None]], None]
             ) -> None:
    """Adds ``set`` to the ``device`` command group; ``run`` runs a function
    in one provisioning transaction."""
    sp = devices.add_parser("set", help="change a device's display name (what callees see)")
    sp.add_argument("tenant")
    sp.add_argument("extension")
    sp.add_argument("--name", required=True, help="display name ('' clears it)")

    def cmd(cfg: Any, a: argparse.Namespace) -> None:
        run(cfg, lambda c: device_set(c, a.tenant, a.extension, a.name))
        print(f"device {a.extension} of tenant {a.tenant}: display name "
              f"{check_name(a.name) or '(none)'}")
    sp.set_defaults(fn=cmd)
