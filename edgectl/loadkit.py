"""Load-test data: bulk provisioning of synthetic tenants/devices and the
injection files that go with them (SIPp scenarios in loadtest/sipp/, the
locust users in loadtest/locust/).

The edge stores HA1, never passwords, so a CSV of credentials cannot be read
back from the database for ordinary devices. Load-test devices are therefore
provisioned with a password *pattern* (``lt-{tenant}-{ext}-pw`` by default);
the CSV writers take the same pattern and the device list from PostgreSQL.
Load-test tenants are named ``loadtest <id>``; :func:`remove` refuses any
other tenant, so it cannot delete a customer.
"""

from __future__ import annotations

import io
import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from edgecore import digest
from edgecore.config import Config
from edgectl.errors import EdgeError
from edgectl.provision import default_auth_username

DEFAULT_PATTERN = "lt-{tenant}-{ext}-pw"
LOADTEST_TENANT_BASE = 90000          # synthetic tenants live in 90000..99999
NAME_PREFIX = "loadtest "
FIRST_EXTENSION = 10000               # 5-digit local extensions 10000..99999

Row = tuple[str, str, str]            # (tenant, extension, auth username)


@dataclass(frozen=True)
class Shape:
    tenants: int
    devices_per_tenant: int
    first_tenant: int = LOADTEST_TENANT_BASE

    def tenant_ids(self) -> list[str]:
        if self.tenants < 1 or self.first_tenant < 0:
            raise EdgeError("give at least one load-test tenant")
        if self.first_tenant + self.tenants - 1 > 99999:
            raise EdgeError("too many load-test tenants for the 5-digit id space")
        return [f"{self.first_tenant + i:05d}" for i in range(self.tenants)]

    @property
    def devices(self) -> int:
        return self.tenants * self.devices_per_tenant


def _extensions(n: int) -> list[str]:
    """n 5-digit local extensions (the range 10000-99999 holds 90,000)."""
    if n < 1:
        raise EdgeError("give at least one device per tenant")
    if n > 90000:
        raise EdgeError("at most 90000 devices per load-test tenant")
    return [str(FIRST_EXTENSION + i) for i in range(n)]


def password(pattern: str, tenant: str, ext: str) -> str:
    try:
        return pattern.format(tenant=tenant, ext=ext)
    except (KeyError, IndexError, ValueError):
        raise EdgeError(f"bad password pattern {pattern!r}: use {{tenant}} and {{ext}}"
                           ) from None


def provision(cfg: Config, shape: Shape, pattern: str = DEFAULT_PATTERN,
              recording: bool = False) -> int:
    """Create the synthetic tenants, ranges and devices in one transaction
    (COPY, so 100,000 devices take seconds). Returns the devices created.
    Tenants do not record unless asked: their calls go straight to the
    callee (device to device), not to the media pool."""
    from edgectl import db

    exts = _extensions(shape.devices_per_tenant)
    tenants = shape.tenant_ids()
    password(pattern, tenants[0], exts[0])
    realm = cfg.auth.realm
    with db.transaction(cfg) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY tenants (id, name, recording) FROM STDIN") as cp:
                for t in tenants:
                    cp.write_row((t, NAME_PREFIX + t, recording))
            with cur.copy("COPY number_ranges (tenant_id, first_number, last_number, scope)"
                          " FROM STDIN") as cp:
                for t in tenants:
                    cp.write_row((t, str(FIRST_EXTENSION), "99999", "local"))
            with cur.copy("COPY devices (tenant_id, extension, auth_username, ha1) FROM STDIN"
                          ) as cp:
                for t in tenants:
                    for x in exts:
                        au = default_auth_username(t, x)
                        cp.write_row((t, x, au, digest.ha1(au, realm, password(pattern, t, x))))
    return shape.tenants * len(exts)


def remove(cfg: Config, tenants: Sequence[str]) -> int:
    """Delete load-test tenants with their devices and ranges, in one
    transaction. Refuses tenants that are not load-test tenants. Returns the
    devices deleted."""
    from edgectl import db

    ids = list(tenants)
    with db.transaction(cfg) as conn:
        found = dict(conn.execute("SELECT id, name FROM tenants WHERE id = ANY(%s)",
                                  (ids,)).fetchall())
        for t in ids:
            if t not in found:
                raise EdgeError(f"unknown tenant {t}")
            if not str(found[t]).startswith(NAME_PREFIX):
                raise EdgeError(f"tenant {t} is not a load-test tenant ({found[t]!r})")
        n = conn.execute("DELETE FROM devices WHERE tenant_id = ANY(%s)", (ids,)).rowcount
        conn.execute("DELETE FROM number_ranges WHERE tenant_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM tenants WHERE id = ANY(%s)", (ids,))
    return int(n)


def loadtest_tenants(cfg: Config) -> list[tuple[str, int]]:
    """(tenant id, devices) of every load-test tenant."""
    from edgectl import db

    with db.transaction(cfg) as conn:
        q = conn.execute("SELECT t.id, count(d.id) FROM tenants t"
                         " LEFT JOIN devices d ON d.tenant_id = t.id"
                         " WHERE t.name LIKE %s GROUP BY t.id ORDER BY t.id",
                         (NAME_PREFIX + "%",))
        return [(str(t), int(n)) for t, n in q.fetchall()]


def device_rows(cfg: Config, tenants: Iterable[str] | None = None,
                per_tenant: int | None = None) -> list[Row]:
    """(tenant, extension, auth username) of the devices of the given tenants
    (all when None), at most ``per_tenant`` of each, in a stable order."""
    from edgectl import db

    with db.transaction(cfg) as conn:
        if tenants is None:
            q = conn.execute("SELECT tenant_id, extension, auth_username FROM devices"
                             " ORDER BY tenant_id, extension")
        else:
            q = conn.execute("SELECT tenant_id, extension, auth_username FROM devices"
                             " WHERE tenant_id = ANY(%s) ORDER BY tenant_id, extension",
                             (list(tenants),))
        rows = [(str(a), str(b), str(c)) for a, b, c in q.fetchall()]
    if per_tenant is not None:
        seen: dict[str, int] = {}
        kept = []
        for r in rows:
            seen[r[0]] = seen.get(r[0], 0) + 1
            if seen[r[0]] <= per_tenant:
                kept.append(r)
        rows = kept
    return rows


def call_pairs(rows: Iterable[Row]) -> list[tuple[Row, Row]]:
    """(caller, callee) pairs inside each tenant: the first half of a
    tenant's devices call the second half, one to one."""
    by_tenant: dict[str, list[Row]] = {}
    for r in rows:
        by_tenant.setdefault(r[0], []).append(r)
    pairs = []
    for devs in by_tenant.values():
        half = len(devs) // 2
        pairs += list(zip(devs[:half], devs[half:2 * half]))
    return pairs


SELF_CONTACT = ""      # register.xml: an empty contact is the SIPp process itself
ORDERS = ("SEQUENTIAL", "RANDOM", "USER")


def _auth(tenant: str, ext: str, au: str, pattern: str) -> str:
    return f"[authentication username={au} password={password(pattern, tenant, ext)}]"


def register_csv(rows: Iterable[Row], pattern: str = DEFAULT_PATTERN,
                 expires: int = 600, contacts: Sequence[str] = (SELF_CONTACT,),
                 order: str = "SEQUENTIAL") -> str:
    """SIPp injection file for loadtest/sipp/register.xml; the contacts
    (host:port, or empty for the SIPp process itself) are spread over the
    devices, each device always given the same one whatever the order of
    the rows -- so registering again (another order, another file) refreshes
    its binding instead of adding a second contact, which would fork every
    call to it."""
    out = io.StringIO()
    out.write(order + "\n")
    for tenant, ext, au in rows:
        contact = contacts[zlib.crc32(au.encode()) % len(contacts)]
        out.write(f"{au};{_auth(tenant, ext, au, pattern)};{expires};{contact};\n")
    return out.getvalue()


def calls_csv(pairs: Iterable[tuple[Row, str]], pattern: str = DEFAULT_PATTERN,
              order: str = "SEQUENTIAL", private_address: str = "") -> str:
    """SIPp injection file for loadtest/sipp/uac_call.xml / uac_setup.xml:
    (caller (tenant, ext, auth user), dialled number) pairs. A private
    address makes every caller look NATed (Contact and SDP in it)."""
    out = io.StringIO()
    out.write(order + "\n")
    for (tenant, ext, au), dialled in pairs:
        out.write(f"{au};{_auth(tenant, ext, au, pattern)};{dialled};{private_address};\n")
    return out.getvalue()


DEVICES_HEADER = "tenant;extension;auth_username;password"


def devices_csv(rows: Iterable[Row], pattern: str = DEFAULT_PATTERN) -> str:
    """Plain credentials, one device per line, for the locust users."""
    out = io.StringIO()
    out.write(DEVICES_HEADER + "\n")
    for tenant, ext, au in rows:
        out.write(f"{tenant};{ext};{au};{password(pattern, tenant, ext)}\n")
    return out.getvalue()


def shuffled(rows: Sequence[Row], seed: int = 1) -> list[Row]:
    """The rows in a reproducible random order (SIPp reads a file in order)."""
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out


def split(text: str, parts: int, path: Path) -> list[Path]:
    """Split an injection file into ``parts`` files (one per SIPp process)."""
    lines = text.splitlines()
    files = []
    for i in range(parts):
        p = path if parts == 1 else path.with_name(f"{path.stem}.{i}{path.suffix}")
        p.write_text("\n".join([lines[0]] + lines[1:][i::parts]) + "\n")
        files.append(p)
    return files
