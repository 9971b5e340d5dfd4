"""Tenants, number ranges, devices, ring groups and exceptions, as the
service layer offers them (see ``edgectl.service``): permission and tenant
scope first, then the validation of ``edgectl.provision`` inside one audited
transaction. Lists are paged and filtered here, in SQL, so a tenant of
10,000 devices is read one page at a time.
"""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg.rows import dict_row

from edgectl import provision
from edgectl.db import EdgeError
from edgectl.service import Base, Forbidden, NotFound, Page, paged


def rows(conn: psycopg.Connection, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def page_of(conn: psycopg.Connection, select: str, where: list[str], params: list[Any],
            order: str, page: Page) -> dict[str, Any]:
    """One page of ``select`` with the total count of what matches."""
    w = " WHERE " + " AND ".join(where) if where else ""
    if page.limit is None:
        return page.cut(rows(conn, f"{select}{w} ORDER BY {order}", params))
    total = conn.execute(f"SELECT count(*) FROM ({select}{w}) q", params).fetchone()
    items = rows(conn, f"{select}{w} ORDER BY {order} LIMIT %s OFFSET %s",
                 [*params, page.limit, page.offset])
    return paged(items, int(total[0]) if total else 0, page)


def _check_quota(value: int | None, what: str) -> None:
    if value is not None and value < -1:
        raise EdgeError(f"{what} must be >= 0 (or -1 to clear it)")


def generate_password() -> str:
    """A device password for a rotation: 20 URL-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


_TENANT_SELECT = """
    SELECT t.id, t.name, t.global_access, t.recording, t.recording_required, t.domain,
           t.max_calls,
           t.max_devices, t.max_ring_groups,
           (SELECT count(*) FROM devices d WHERE d.tenant_id = t.id) AS devices,
           (SELECT count(*) FROM number_ranges r WHERE r.tenant_id = t.id) AS ranges,
           (SELECT count(*) FROM ring_groups g WHERE g.tenant_id = t.id) AS ring_groups
      FROM tenants t"""

_DEVICE_SELECT = """
    SELECT tenant_id AS tenant, extension, auth_username, display_name, max_calls
      FROM devices"""

_RG_SELECT = """
    SELECT g.tenant_id AS tenant, g.number, g.name, g.strategy, g.ring_timeout,
           coalesce((SELECT array_agg(d.extension ORDER BY m.position, d.extension)
                       FROM ring_group_members m JOIN devices d ON d.id = m.device_id
                      WHERE m.ring_group_id = g.id), '{}') AS members
      FROM ring_groups g"""


class Provisioning(Base):
    """The provisioning model, with who-may-do-what."""

    def listing(self, select: str, order: str, page: Page, tenant: str | None,
                tenant_where: str, q: str | None = None, q_where: str = "",
                extra: tuple[str, Any] | None = None) -> dict[str, Any]:
        """A page of a tenant-scoped list: ``tenant_where`` / ``q_where`` are
        conditions on the (scoped) tenant and on the search text, whose %s
        all take that one value (``q`` matched as a prefix or a substring)."""
        tenant = self.scope(tenant)
        where: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            where.append(tenant_where)
            params += [tenant] * tenant_where.count("%s")
        if q:
            q = q.replace("%", "").replace("_", "")
            where.append(q_where)
            params += [q + "%", "%" + q + "%"]
        if extra is not None and extra[1] is not None:
            where.append(extra[0])
            params.append(extra[1])
        with self.read() as c:
            if tenant is not None:
                provision._require_tenant(c, tenant)
            return page_of(c, select, where, params, order, page)

    # -- tenants -------------------------------------------------------------------------
    def tenants(self, page: Page = Page(), q: str | None = None) -> dict[str, Any]:
        where: list[str] = []
        params: list[Any] = []
        if self.actor.tenant is not None:
            where.append("t.id = %s")
            params.append(self.actor.tenant)
        if q:
            where.append("(t.id LIKE %s OR t.name ILIKE %s)")
            params += [q + "%", "%" + q + "%"]
        with self.read() as c:
            return page_of(c, _TENANT_SELECT, where, params, "t.id", page)

    def tenant(self, tenant: str) -> dict[str, Any]:
        self.see(tenant)
        with self.read() as c:
            found = rows(c, _TENANT_SELECT + " WHERE t.id = %s", (tenant,))
        if not found:
            raise NotFound(f"unknown tenant {tenant}")
        return found[0]

    def tenant_add(self, tenant: str, name: str, global_access: bool = False,
                   recording: bool = True, domain: str | None = None,
                   max_calls: int | None = None, max_devices: int | None = None,
                   max_ring_groups: int | None = None,
                   recording_required: bool = False) -> dict[str, Any]:
        self.provider_only("add tenants")
        for v, what in ((max_devices, "max devices"), (max_ring_groups, "max ring groups")):
            if v is not None and v < 0:
                raise EdgeError(f"{what} must be >= 0")
        with self.change("tenant.add") as c:
            provision.tenant_add(c, tenant, name, global_access, recording, domain, max_calls,
                                 recording_required)
            if max_devices is not None or max_ring_groups is not None:
                c.execute("UPDATE tenants SET max_devices = %s, max_ring_groups = %s"
                          " WHERE id = %s", (max_devices, max_ring_groups, tenant))
        return self.tenant(tenant)

    def tenant_set(self, tenant: str, *, name: str | None = None,
                   global_access: bool | None = None, recording: bool | None = None,
                   domain: str | None = None, max_calls: int | None = None,
                   max_devices: int | None = None, max_ring_groups: int | None = None,
                   recording_required: bool | None = None) -> dict[str, Any]:
        """Change a tenant; ``domain=''`` and ``-1`` for a limit clear it."""
        self.see(tenant)
        self.provider_only("change a tenant's settings and quotas")
        _check_quota(max_devices, "max devices")
        _check_quota(max_ring_groups, "max ring groups")
        quotas = {k: (None if v == -1 else v) for k, v in
                  (("max_devices", max_devices), ("max_ring_groups", max_ring_groups))
                  if v is not None}
        with self.change("tenant.set") as c:
            if any(v is not None for v in (name, global_access, recording, domain, max_calls,
                                           recording_required)):
                provision.tenant_set(c, tenant, name=name, global_access=global_access,
                                     recording=recording, recording_required=recording_required,
                                     domain=domain, max_calls=max_calls)
            elif not quotas:
                raise EdgeError("nothing to change")
            else:
                provision._require_tenant(c, tenant)
            if quotas:
                cols = ", ".join(f"{k} = %s" for k in quotas)
                c.execute(f"UPDATE tenants SET {cols} WHERE id = %s", (*quotas.values(), tenant))
        return self.tenant(tenant)

    def tenant_remove(self, tenant: str, cascade: bool = False) -> None:
        self.see(tenant)
        self.provider_only("remove tenants")
        with self.change("tenant.remove") as c:
            provision.tenant_remove(c, tenant, cascade)

    # -- number ranges ----------------------------------------------------------------------
    def ranges(self, tenant: str | None = None, page: Page = Page(),
               scope: str | None = None) -> dict[str, Any]:
        return self.listing("SELECT tenant_id AS tenant, first_number AS first, last_number"
                            " AS last, scope FROM number_ranges",
                            "tenant_id, ndigits, first_number", page, tenant, "tenant_id = %s",
                            extra=("scope = %s", scope))

    def range_add(self, tenant: str, first: str, last: str, scope: str | None = None) -> str:
        self.see(tenant)
        self.provider_only("change number ranges")
        with self.change("range.add") as c:
            return provision.range_add(c, tenant, first, last, scope)

    def range_remove(self, tenant: str, first: str, last: str) -> None:
        self.see(tenant)
        self.provider_only("change number ranges")
        with self.change("range.remove") as c:
            provision.range_remove(c, tenant, first, last)

    # -- devices --------------------------------------------------------------------------
    def devices(self, tenant: str | None = None, page: Page = Page(),
                q: str | None = None) -> dict[str, Any]:
        """A page of devices; ``q``: an extension prefix or part of a name."""
        return self.listing(_DEVICE_SELECT, "tenant_id, extension", page, tenant,
                            "tenant_id = %s", q, "(extension LIKE %s OR display_name ILIKE %s)")

    def device(self, tenant: str, extension: str) -> dict[str, Any]:
        self.see(tenant)
        with self.read() as c:
            provision._require_tenant(c, tenant)
            found = rows(c, _DEVICE_SELECT + " WHERE tenant_id = %s AND extension = %s",
                         (tenant, extension))
        if not found:
            raise NotFound(f"tenant {tenant} has no device {extension}")
        return found[0]

    def device_add(self, tenant: str, extension: str, password: str | None = None,
                   ha1: str | None = None, auth_username: str | None = None,
                   display_name: str | None = None,
                   max_calls: int | None = None) -> provision.DeviceCreated:
        self.see(tenant)
        if (self.actor.tenant is not None and auth_username is not None
                and auth_username != provision.default_auth_username(tenant, extension)):
            # auth usernames are unique edge-wide: a chosen one could tell
            # that another tenant uses it
            raise Forbidden("only a provider admin may choose an auth username")
        with self.change("device.add") as c:
            return provision.device_add(c, self.cfg.auth.realm, tenant, extension,
                                        password=password, ha1=ha1, auth_username=auth_username,
                                        display_name=display_name, max_calls=max_calls)

    def device_set(self, tenant: str, extension: str, *, display_name: str | None = None,
                   max_calls: int | None = None) -> dict[str, Any]:
        """Change a device's name (``''`` clears it) or call limit (``-1`` clears it)."""
        self.see(tenant)
        sets: dict[str, Any] = {}
        if display_name is not None:
            # the rules of `edgectl device set --name` (what a SIP display name can carry)
            from edgectl import device_name
            sets["display_name"] = device_name.check_name(display_name)
        if max_calls is not None:
            if max_calls < -1:
                raise EdgeError("max calls must be >= 0 (or -1 to clear it)")
            sets["max_calls"] = None if max_calls == -1 else max_calls
        if not sets:
            raise EdgeError("nothing to change")
        with self.change("device.set") as c:
            provision._require_tenant(c, tenant)
            cols = ", ".join(f"{k} = %s" for k in sets)
            cur = c.execute(f"UPDATE devices SET {cols} WHERE tenant_id = %s AND extension = %s",
                            (*sets.values(), tenant, extension))
            if cur.rowcount == 0:
                raise NotFound(f"tenant {tenant} has no device {extension}")
        return self.device(tenant, extension)

    def device_passwd(self, tenant: str, extension: str, password: str | None = None) -> str:
        """Set the device's password, or (``None``) rotate it to a generated
        one, returned once: only its HA1 is stored."""
        self.see(tenant)
        password = password if password is not None else generate_password()
        with self.change("device.passwd") as c:
            provision.device_passwd(c, self.cfg.auth.realm, tenant, extension, password)
        return password

    def device_remove(self, tenant: str, extension: str) -> None:
        self.see(tenant)
        with self.change("device.remove") as c:
            provision.device_remove(c, tenant, extension)

    # -- ring groups ----------------------------------------------------------------------
    def ringgroups(self, tenant: str | None = None, page: Page = Page(),
                   q: str | None = None) -> dict[str, Any]:
        return self.listing(_RG_SELECT, "g.tenant_id, g.number", page, tenant,
                            "g.tenant_id = %s", q, "(g.number LIKE %s OR g.name ILIKE %s)")

    def ringgroup(self, tenant: str, number: str) -> dict[str, Any]:
        self.see(tenant)
        with self.read() as c:
            provision._require_tenant(c, tenant)
            found = rows(c, _RG_SELECT + " WHERE g.tenant_id = %s AND g.number = %s",
                         (tenant, number))
        if not found:
            raise NotFound(f"tenant {tenant} has no ring group {number}")
        return found[0]

    def ringgroup_add(self, tenant: str, number: str, name: str, strategy: str = "ringall",
                      ring_timeout: int = 30, members: list[str] | None = None) -> None:
        self.see(tenant)
        if not name.strip():
            raise EdgeError("ring group name must not be empty")
        with self.change("ringgroup.add") as c:
            provision.ringgroup_add(c, tenant, number, name, strategy, ring_timeout, members)

    def ringgroup_set(self, tenant: str, number: str, *, name: str | None = None,
                      strategy: str | None = None, ring_timeout: int | None = None,
                      members: list[str] | None = None) -> dict[str, Any]:
        """Change a ring group; ``members`` replaces the member list (in ring order)."""
        self.see(tenant)
        sets: dict[str, Any] = {}
        if name is not None:
            if not name.strip():
                raise EdgeError("ring group name must not be empty")
            sets["name"] = name.strip()
        if strategy is not None:
            if strategy not in provision.RG_STRATEGIES:
                raise EdgeError(f"strategy must be one of {', '.join(provision.RG_STRATEGIES)}")
            sets["strategy"] = strategy
        if ring_timeout is not None:
            if not 5 <= ring_timeout <= 600:
                raise EdgeError("ring timeout must be between 5 and 600 seconds")
            sets["ring_timeout"] = ring_timeout
        if not sets and members is None:
            raise EdgeError("nothing to change")
        with self.change("ringgroup.set") as c:
            rg = provision._ring_group_id(c, tenant, number)
            if sets:
                cols = ", ".join(f"{k} = %s" for k in sets)
                c.execute(f"UPDATE ring_groups SET {cols} WHERE id = %s", (*sets.values(), rg))
            if members is not None:
                c.execute("DELETE FROM ring_group_members WHERE ring_group_id = %s", (rg,))
                for pos, ext in enumerate(members):
                    provision._add_member(c, rg, tenant, ext, pos)
        return self.ringgroup(tenant, number)

    def ringgroup_members_add(self, tenant: str, number: str, extensions: list[str]) -> None:
        self.see(tenant)
        with self.change("ringgroup.member_add") as c:
            provision.ringgroup_member_add(c, tenant, number, extensions)

    def ringgroup_members_remove(self, tenant: str, number: str, extensions: list[str]) -> None:
        self.see(tenant)
        with self.change("ringgroup.member_remove") as c:
            provision.ringgroup_member_remove(c, tenant, number, extensions)

    def ringgroup_remove(self, tenant: str, number: str) -> None:
        self.see(tenant)
        with self.change("ringgroup.remove") as c:
            provision.ringgroup_remove(c, tenant, number)

    # -- cross-tenant exceptions ----------------------------------------------------------------
    def exceptions(self, tenant: str | None = None, page: Page = Page()) -> dict[str, Any]:
        """Exceptions name two tenants: the provider's to see (and change)."""
        if tenant is not None:
            self.see(tenant)
        if self.actor.tenant is not None:
            raise Forbidden("exceptions are the provider's")
        return self.listing("SELECT from_tenant, to_tenant FROM tenant_exceptions",
                            "from_tenant, to_tenant", page, tenant,
                            "(from_tenant = %s OR to_tenant = %s)")

    def exception_add(self, from_tenant: str, to_tenant: str, both_ways: bool = False) -> None:
        self.see(from_tenant)
        self.see(to_tenant)
        self.provider_only("change exceptions")
        with self.change("exception.add") as c:
            provision.exception_add(c, from_tenant, to_tenant, both_ways)

    def exception_remove(self, from_tenant: str, to_tenant: str, both_ways: bool = False) -> None:
        self.see(from_tenant)
        self.see(to_tenant)
        self.provider_only("change exceptions")
        with self.change("exception.remove") as c:
            provision.exception_remove(c, from_tenant, to_tenant, both_ways)


__all__ = ["Provisioning", "Forbidden", "NotFound", "generate_password"]
