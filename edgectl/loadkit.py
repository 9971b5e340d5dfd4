"""Load-test data: bulk provisioning of synthetic tenants/devices and the SIPp
injection files that go with them.

The edge stores HA1, never passwords, so a CSV of credentials cannot be read
back from the database for ordinary devices. Load-test devices are therefore
provisioned with a password *pattern* (``lt-{tenant}-{ext}``, say); the CSV
writer takes the same pattern and the device list from PostgreSQL.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from edgecore import digest
from edgecore.config import Config
from edgectl import db
from edgectl.provision import default_auth_username

DEFAULT_PATTERN = "lt-{tenant}-{ext}-pw"
LOADTEST_TENANT_BASE = 90000          # synthetic tenants live in 90000..99999


@dataclass(frozen=True)
class Shape:
    tenants: int
    devices_per_tenant: int
    first_tenant: int = LOADTEST_TENANT_BASE

    def tenant_ids(self) -> list[str]:
        if self.first_tenant + self.tenants - 1 > 99999:
            raise db.EdgeError("too many load-test tenants for the 5-digit id space")
        return [f"{self.first_tenant + i:05d}" for i in range(self.tenants)]


def _extensions(n: int) -> list[str]:
    """n 5-digit local extensions (the range 10000-99999 holds 90,000)."""
    if n > 90000:
        raise db.EdgeError("at most 90000 devices per load-test tenant")
    return [str(10000 + i) for i in range(n)]


def provision(cfg: Config, shape: Shape, pattern: str = DEFAULT_PATTERN) -> int:
    """Create the synthetic tenants, ranges and devices in one transaction
    (COPY, so 100,000 devices take seconds). Returns the devices created."""
    exts = _extensions(shape.devices_per_tenant)
    realm = cfg.auth.realm
    with db.transaction(cfg) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY tenants (id, name) FROM STDIN") as cp:
                for t in shape.tenant_ids():
                    cp.write_row((t, f"loadtest {t}"))
            with cur.copy("COPY number_ranges (tenant_id, first_number, last_number, scope)"
                          " FROM STDIN") as cp:
                for t in shape.tenant_ids():
                    cp.write_row((t, "10000", "99999", "local"))
            with cur.copy("COPY devices (tenant_id, extension, auth_username, ha1) FROM STDIN"
                          ) as cp:
                for t in shape.tenant_ids():
                    for x in exts:
                        au = default_auth_username(t, x)
                        cp.write_row((t, x, au, digest.ha1(au, realm,
                                                           pattern.format(tenant=t, ext=x))))
    return shape.tenants * len(exts)


def remove(cfg: Config, shape: Shape) -> None:
    ids = shape.tenant_ids()
    with db.transaction(cfg) as conn:
        conn.execute("DELETE FROM devices WHERE tenant_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM number_ranges WHERE tenant_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM tenants WHERE id = ANY(%s)", (ids,))


def device_rows(cfg: Config, tenants: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
    """(tenant, extension, auth username) of the devices of the given tenants."""
    with db.transaction(cfg) as conn:
        if tenants is None:
            q = conn.execute("SELECT tenant_id, extension, auth_username FROM devices"
                             " ORDER BY tenant_id, extension")
        else:
            q = conn.execute("SELECT tenant_id, extension, auth_username FROM devices"
                             " WHERE tenant_id = ANY(%s) ORDER BY tenant_id, extension",
                             (list(tenants),))
        return [(str(a), str(b), str(c)) for a, b, c in q.fetchall()]


SELF_CONTACT = "[local_ip]:[local_port]"     # SIPp keywords: the SIPp process itself


def _auth(tenant: str, ext: str, au: str, pattern: str) -> str:
    return f"[authentication username={au} password={pattern.format(tenant=tenant, ext=ext)}]"


def register_csv(rows: Iterable[tuple[str, str, str]], pattern: str = DEFAULT_PATTERN,
                 expires: int = 600, contact: str = SELF_CONTACT,
                 order: str = "SEQUENTIAL") -> str:
    """SIPp injection file for loadtest/sipp/register.xml."""
    out = io.StringIO()
    out.write(order + "\n")
    for tenant, ext, au in rows:
        out.write(f"{au};{_auth(tenant, ext, au, pattern)};{expires};{contact};\n")
    return out.getvalue()


def calls_csv(pairs: Iterable[tuple[tuple[str, str, str], str]],
              pattern: str = DEFAULT_PATTERN, order: str = "SEQUENTIAL") -> str:
    """SIPp injection file for loadtest/sipp/uac_call.xml / uac_setup.xml:
    (caller (tenant, ext, auth user), dialled number) pairs."""
    out = io.StringIO()
    out.write(order + "\n")
    for (tenant, ext, au), dialled in pairs:
        out.write(f"{au};{_auth(tenant, ext, au, pattern)};{dialled};\n")
    return out.getvalue()


def split(text: str, parts: int, path: Path) -> list[Path]:
    """Split an injection file into ``parts`` files (one per SIPp process)."""
    lines = text.splitlines()
    files = []
    for i in range(parts):
        p = path if parts == 1 else path.with_name(f"{path.stem}.{i}{path.suffix}")
        p.write_text("\n".join([lines[0]] + lines[1:][i::parts]) + "\n")
        files.append(p)
    return files
