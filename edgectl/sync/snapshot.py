"""The unit of work of both write paths: a *tenant snapshot* (a tenant with
its devices, ranges, ring groups and exceptions), read from PostgreSQL in
one REPEATABLE READ transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Iterable

import psycopg

from edgecore import readmodel as rm

@dataclass
class TenantSnapshot:
    tenant: rm.Tenant
    devices: list[rm.Device] = field(default_factory=list)
    targets: list[rm.Target] = field(default_factory=list)       # devices + ring groups
    global_ranges: list[tuple[str, str]] = field(default_factory=list)
    exceptions: set[str] = field(default_factory=set)


def load_snapshots(conn: psycopg.Connection, tenants: Iterable[str] | None = None
                   ) -> dict[str, TenantSnapshot]:
    """Read tenants (all when None) consistently; missing ids are absent from the result."""
    only = sorted(set(tenants)) if tenants is not None else None
    where = "" if only is None else " WHERE {col} = ANY(%(ids)s)"
    p = {"ids": only}
    snaps: dict[str, TenantSnapshot] = {}
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for tid, name, glob, rec, dom, mc, req in conn.execute(
                "SELECT id, name, global_access, recording, domain, max_calls,"
                " recording_required FROM tenants" + where.format(col="id"), p):
            snaps[tid] = TenantSnapshot(rm.Tenant(tid, name, glob, rec, dom, mc, req))
        imported_targets: dict[tuple[str, str], rm.Target] = {}
        for tid, ext, au, ha1, mc, dn, imported in conn.execute(
                "SELECT tenant_id, extension, auth_username, ha1, max_calls, display_name,"
                " EXISTS (SELECT 1 FROM legacy_objects o WHERE o.kind = 'device'"
                " AND o.key = devices.tenant_id || ':' || devices.extension) FROM devices"
                + where.format(col="tenant_id"), p):
            s = snaps[tid]
            target = rm.Target("device", tid, ext, auth_username=au, max_calls=mc)
            if imported:                # an imported device has legacy identities only
                imported_targets[(tid, ext)] = target
                continue
            s.devices.append(rm.Device(au, tid, ext, ha1, mc, dn or ""))
            s.targets.append(target)
        # legacy identities (edgectl import), looked up as "<ns>/<peer>"; an imported
        # device's number names its first identity (edgectl explain TENANT:EXT uses it)
        for tid, ext, ns, au, ha1, mc, dn in conn.execute(
                "SELECT d.tenant_id, d.extension, i.namespace, i.auth_username, i.ha1,"
                " d.max_calls, d.display_name FROM legacy_identities i"
                " JOIN devices d ON d.id = i.device_id"
                + where.format(col="d.tenant_id") + " ORDER BY i.namespace, i.auth_username", p):
            key = rm.legacy_identity(ns, au)
            snaps[tid].devices.append(rm.Device(key, tid, ext, ha1, mc, dn or ""))
            if (tid, ext) in imported_targets:
                imported_targets.pop((tid, ext))
                snaps[tid].targets.append(rm.Target("device", tid, ext, auth_username=key,
                                                    max_calls=mc))
        for (tid, _), target in imported_targets.items():      # no identity left: callable
            snaps[tid].targets.append(target)
        members: dict[int, list[str]] = defaultdict(list)
        for rg_id, ext in conn.execute(
                "SELECT m.ring_group_id, d.extension FROM ring_group_members m"
                " JOIN devices d ON d.id = m.device_id"
                + where.format(col="d.tenant_id") + " ORDER BY m.position, d.extension", p):
            members[rg_id].append(ext)
        for rg_id, tid, num, name, strat, to in conn.execute(
                "SELECT id, tenant_id, number, name, strategy, ring_timeout FROM ring_groups"
                + where.format(col="tenant_id"), p):
            snaps[tid].targets.append(rm.Target("ring_group", tid, num, name=name, strategy=strat,
                                                ring_timeout=to,
                                                members=tuple(members.get(rg_id, ()))))
        for tid, first, last in conn.execute(
                "SELECT tenant_id, first_number, last_number FROM number_ranges"
                + (" WHERE scope = 'global'" if only is None else
                   " WHERE scope = 'global' AND tenant_id = ANY(%(ids)s)"), p):
            snaps[tid].global_ranges.append((first, last))
        for s in snaps.values():        # a device on a global number is shown by it
            if s.global_ranges:
                s.devices = [replace(d, global_number=in_ranges(d.extension, s.global_ranges))
                             for d in s.devices]
        for a, b in conn.execute("SELECT from_tenant, to_tenant FROM tenant_exceptions"
                                 + where.format(col="from_tenant"), p):
            snaps[a].exceptions.add(b)
    return snaps


def in_ranges(number: str, ranges: list[tuple[str, str]]) -> bool:
    return any(len(number) == len(first) and int(first) <= int(number) <= int(last)
               for first, last in ranges)
