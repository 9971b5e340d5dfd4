"""Applying legacy plans to PostgreSQL: import, re-import, undo.

The imported rows are always the merge of the *active* plans (per namespace,
its latest import not undone; :func:`edgectl.legacy.plan.merge`).
:func:`reconcile` brings the rows the importer created (``legacy_objects``)
to that merge: it creates what is missing, updates what changed, removes
what no active plan wants any more, and never touches a row it did not
create. A tenant whose derived ranges change has its imported numbers
re-created (a tenant's ranges may not overlap, so a run cannot grow while
the numbers in it exist).

Each command is one transaction (the caller's), serialised by an advisory
lock: a failed import leaves the database as it was, and the sync follower
sees the whole change at commit, never half of it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import psycopg

from edgectl.db import EdgeError
from edgectl.legacy.plan import Plan, merge

IMPORT_LOCK = 7240014
NO_HA1 = "0" * 32            # imported devices have no edge-wide identity (sync skips it)


def digest_of(plan: Plan) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def active_plans(conn: psycopg.Connection) -> dict[str, tuple[int, Plan]]:
    out: dict[str, tuple[int, Plan]] = {}
    for iid, ns, plan in conn.execute(
            "SELECT DISTINCT ON (namespace) id, namespace, plan FROM imports"
            " WHERE undone_at IS NULL ORDER BY namespace, id DESC"):
        out[ns] = (iid, plan)
    return out


def existing_tenants(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT id FROM tenants")}


def import_plan(conn: psycopg.Connection, plan: Plan, source: str) -> tuple[int, dict[str, int]]:
    """Make ``plan`` the active plan of its namespace. Returns the import id
    and the changes; an unchanged plan writes nothing and returns the id of
    the import it repeats."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
    active = active_plans(conn)
    ns = plan["namespace"]
    if ns in active and digest_of(active[ns][1]) == digest_of(plan):
        return active[ns][0], {}
    others = [p for n, (_, p) in active.items() if n != ns]
    merged, _ = merge([*others, plan])
    changes = reconcile(conn, merged)
    row = conn.execute(
        "INSERT INTO imports (namespace, source, digest, plan, summary)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (ns, source, digest_of(plan), json.dumps(plan), json.dumps(changes))).fetchone()
    assert row is not None
    return int(row[0]), changes


def undo(conn: psycopg.Connection, import_id: int) -> dict[str, int]:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (IMPORT_LOCK,))
    row = conn.execute("SELECT namespace, undone_at FROM imports WHERE id = %s",
                       (import_id,)).fetchone()
    if row is None:
        raise EdgeError(f"no import {import_id}")
    ns, undone = row
    if undone is not None:
        raise EdgeError(f"import {import_id} is already undone")
    active = active_plans(conn)
    if active.get(ns, (None,))[0] != import_id:
        raise EdgeError(f"import {import_id} is not the latest of server {ns} "
                        f"(undo {active[ns][0]} first)")
    conn.execute("UPDATE imports SET undone_at = now() WHERE id = %s", (import_id,))
    active = active_plans(conn)
    merged, _ = merge([p for _, p in active.values()])
    return reconcile(conn, merged)


def list_imports(conn: psycopg.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, namespace, source, summary, created_at, undone_at"
                        " FROM imports ORDER BY id").fetchall()
    return [{"id": r[0], "server": r[1], "source": r[2], "changes": r[3],
             "created_at": r[4].isoformat(), "undone_at": r[5].isoformat() if r[5] else None}
            for r in rows]


# -- reconciling -------------------------------------------------------------------

def _objects(conn: psycopg.Connection, kind: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT key FROM legacy_objects WHERE kind = %s", (kind,))}


# how a legacy_objects key names its row (claims of rows removed by hand since are dropped)
_ROW_KEYS = {
    "tenant": "SELECT id FROM tenants",
    "range": "SELECT tenant_id || ':' || first_number || '-' || last_number FROM number_ranges",
    "device": "SELECT tenant_id || ':' || extension FROM devices",
    "ring_group": "SELECT tenant_id || ':' || number FROM ring_groups",
    "exception": "SELECT from_tenant || '>' || to_tenant FROM tenant_exceptions",
}


def reconcile(conn: psycopg.Connection, want: dict[str, Any]) -> dict[str, int]:
    ch = {"created": 0, "updated": 0, "deleted": 0}
    ex = conn.execute
    for kind, rows in _ROW_KEYS.items():
        ex(f"DELETE FROM legacy_objects WHERE kind = %s AND key NOT IN ({rows})",  # noqa: S608
           (kind,))
    own = {k: _objects(conn, k) for k in ("tenant", "range", "device", "ring_group", "exception")}

    def claim(kind: str, keys: list[str]) -> None:
        if keys:
            # ON CONFLICT: a row created by an import and removed by hand since
            conn.cursor().executemany("INSERT INTO legacy_objects (kind, key) VALUES (%s, %s)"
                                      " ON CONFLICT DO NOTHING", [(kind, k) for k in keys])
            own[kind].update(keys)

    def unclaim(kind: str, keys: list[str]) -> None:
        if keys:
            ex("DELETE FROM legacy_objects WHERE kind = %s AND key = ANY(%s)", (kind, keys))
            own[kind].difference_update(keys)

    # -- what the database holds
    native_ranges: dict[str, list[tuple[int, int, int]]] = {}
    for t, first, last, key in ex("SELECT tenant_id, first_number, last_number,"
                                  " tenant_id || ':' || first_number || '-' || last_number"
                                  " FROM number_ranges"):
        if key not in own["range"]:
            native_ranges.setdefault(t, []).append((len(first), int(first), int(last)))
    want_ranges: set[str] = set()
    for t, runs in want["ranges"].items():
        for first, last in runs:
            covered = any(nd == len(first) and a <= int(first) and int(last) <= b
                          for nd, a, b in native_ranges.get(t, []))
            if not covered:
                want_ranges.add(f"{t}:{first}-{last}")
    tenants_of = lambda keys: {k.split(":")[0] for k in keys}  # noqa: E731
    regrown = tenants_of(own["range"] ^ want_ranges)

    # -- deletions, dependants first
    ids_wanted = set(want["identities"])
    have_ids = {(ns, u) for ns, u in ex("SELECT namespace, auth_username FROM legacy_identities")}
    gone = sorted(have_ids - ids_wanted)
    if gone:
        conn.cursor().executemany("DELETE FROM legacy_identities WHERE namespace = %s"
                                  " AND auth_username = %s", gone)
        ch["deleted"] += len(gone)
    for kind, table, cols in (("ring_group", "ring_groups", "number"),
                              ("device", "devices", "extension")):
        drop = sorted(k for k in own[kind] if k not in want[kind + "s"]
                      or k.split(":")[0] in regrown)
        if drop:
            conn.cursor().executemany(f"DELETE FROM {table} WHERE tenant_id = %s AND {cols} = %s",
                                      [tuple(k.split(":")) for k in drop])
            unclaim(kind, drop)
            ch["deleted"] += len(drop)
    drop = sorted(own["exception"] - set(want["exceptions"]))
    if drop:
        conn.cursor().executemany("DELETE FROM tenant_exceptions WHERE from_tenant = %s"
                                  " AND to_tenant = %s", [tuple(k.split(">")) for k in drop])
        unclaim("exception", drop)
        ch["deleted"] += len(drop)
    drop = sorted(own["range"] - want_ranges)
    if drop:
        conn.cursor().executemany(
            "DELETE FROM number_ranges WHERE tenant_id = %s AND first_number = %s"
            " AND last_number = %s",
            [(k.split(":")[0], *k.split(":")[1].split("-")) for k in drop])
        unclaim("range", drop)
        ch["deleted"] += len(drop)
    drop = sorted(own["tenant"] - set(want["tenants"]))
    for t in drop:
        try:
            with conn.transaction():
                ex("DELETE FROM tenants WHERE id = %s", (t,))
        except psycopg.errors.ForeignKeyViolation:
            raise EdgeError(f"tenant {t} was created by an import but now holds rows added "
                            "by hand: remove them first") from None
    unclaim("tenant", drop)
    ch["deleted"] += len(drop)
    have_ns = {r[0] for r in ex("SELECT name FROM legacy_namespaces")}
    for ns in sorted(have_ns - set(want["namespaces"])):
        ex("DELETE FROM legacy_namespaces WHERE name = %s", (ns,))
        ch["deleted"] += 1

    # -- creations and updates
    for ns, v in sorted(want["namespaces"].items()):
        row = ex("SELECT realm FROM legacy_namespaces WHERE name = %s", (ns,)).fetchone()
        if row is None:
            ex("INSERT INTO legacy_namespaces (name, realm) VALUES (%s, %s)", (ns, v["realm"]))
            ch["created"] += 1
        elif row[0] != v["realm"]:
            ex("UPDATE legacy_namespaces SET realm = %s WHERE name = %s", (v["realm"], ns))
            ch["updated"] += 1
        have = {r[0] for r in ex("SELECT address FROM legacy_namespace_addresses"
                                 " WHERE namespace = %s", (ns,))}
        for a in sorted(have - set(v["addresses"])):
            ex("DELETE FROM legacy_namespace_addresses WHERE address = %s", (a,))
            ch["deleted"] += 1
        for a in sorted(set(v["addresses"]) - have):
            other = ex("SELECT namespace FROM legacy_namespace_addresses WHERE address = %s",
                       (a,)).fetchone()
            if other:
                raise EdgeError(f"address {a} already belongs to server {other[0]}")
            ex("INSERT INTO legacy_namespace_addresses (address, namespace) VALUES (%s, %s)",
               (a, ns))
            ch["created"] += 1

    have_t = {r[0]: (r[1], r[2]) for r in ex("SELECT id, name, global_access FROM tenants")}
    new_t = []
    for t, v in sorted(want["tenants"].items()):
        if t not in have_t:
            ex("INSERT INTO tenants (id, name, global_access) VALUES (%s, %s, %s)",
               (t, v["name"], v["global"]))
            new_t.append(t)
        elif t in own["tenant"] and have_t[t] != (v["name"], v["global"]):
            ex("UPDATE tenants SET name = %s, global_access = %s WHERE id = %s",
               (v["name"], v["global"], t))
            ch["updated"] += 1
    claim("tenant", new_t)
    ch["created"] += len(new_t)

    add = sorted(want_ranges - own["range"])
    if add:
        conn.cursor().executemany(
            "INSERT INTO number_ranges (tenant_id, first_number, last_number, scope)"
            " VALUES (%s, %s, %s, 'local')",
            [(k.split(":")[0], *k.split(":")[1].split("-")) for k in add])
        claim("range", add)
        ch["created"] += len(add)

    native_dev = {f"{t}:{x}" for t, x in ex("SELECT tenant_id, extension FROM devices")} \
        - own["device"]
    clash = sorted(set(want["devices"]) & native_dev)
    if clash:
        raise EdgeError(f"tenant {clash[0].split(':')[0]} already has a device "
                        f"{clash[0].split(':')[1]} provisioned on the edge "
                        f"({len(clash)} such numbers): remove it or the legacy peer")
    have_dev = {f"{t}:{x}": dn for t, x, dn in ex(
        "SELECT d.tenant_id, d.extension, d.display_name FROM devices d JOIN legacy_objects o"
        " ON o.kind = 'device' AND o.key = d.tenant_id || ':' || d.extension")}
    add = sorted(k for k in want["devices"] if k not in have_dev)
    if add:
        conn.cursor().executemany(
            "INSERT INTO devices (tenant_id, extension, auth_username, ha1, display_name)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(k.split(":")[0], k.split(":")[1], "legacy." + k.replace(":", "."), NO_HA1,
              want["devices"][k]["display_name"]) for k in add])
        claim("device", add)
        ch["created"] += len(add)
    upd = [(want["devices"][k]["display_name"], *k.split(":")) for k, dn in have_dev.items()
           if k in want["devices"] and want["devices"][k]["display_name"] != dn]
    if upd:
        conn.cursor().executemany("UPDATE devices SET display_name = %s WHERE tenant_id = %s"
                                  " AND extension = %s", upd)
        ch["updated"] += len(upd)
    dev_id = {f"{t}:{x}": i for i, t, x in ex(
        "SELECT d.id, d.tenant_id, d.extension FROM devices d JOIN legacy_objects o"
        " ON o.kind = 'device' AND o.key = d.tenant_id || ':' || d.extension")}

    have_id = {(ns, u): (di, h, list(c)) for ns, u, di, h, c in ex(
        "SELECT namespace, auth_username, device_id, ha1, codecs FROM legacy_identities")}
    put = []
    for (ns, u), v in sorted(want["identities"].items()):
        row = (dev_id[v["device"]], v["ha1"], v["codecs"])
        if have_id.get((ns, u)) != row:
            put.append((ns, u, *row))
    if put:
        conn.cursor().executemany(
            "INSERT INTO legacy_identities (namespace, auth_username, device_id, ha1, codecs)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (namespace, auth_username) DO UPDATE"
            " SET device_id = EXCLUDED.device_id, ha1 = EXCLUDED.ha1, codecs = EXCLUDED.codecs",
            put)
        updated = sum(1 for k in put if k[:2] in have_id)
        ch["updated"] += updated
        ch["created"] += len(put) - updated

    native_rg = {f"{t}:{n}" for t, n in ex("SELECT tenant_id, number FROM ring_groups")} \
        - own["ring_group"]
    clash = sorted(set(want["ring_groups"]) & native_rg)
    if clash:
        raise EdgeError(f"tenant {clash[0].split(':')[0]} already has a ring group "
                        f"{clash[0].split(':')[1]} provisioned on the edge")
    have_rg = {f"{t}:{n}": (i, name, s, to) for i, t, n, name, s, to in ex(
        "SELECT g.id, g.tenant_id, g.number, g.name, g.strategy, g.ring_timeout"
        " FROM ring_groups g JOIN legacy_objects o"
        " ON o.kind = 'ring_group' AND o.key = g.tenant_id || ':' || g.number")}
    members: dict[int, list[str]] = {}
    for gid, x in ex("SELECT m.ring_group_id, d.extension FROM ring_group_members m"
                     " JOIN devices d ON d.id = m.device_id ORDER BY m.ring_group_id, m.position"):
        members.setdefault(gid, []).append(x)
    new_rg = []
    for key, g in sorted(want["ring_groups"].items()):
        t, n = key.split(":")
        if key not in have_rg:
            row = ex("INSERT INTO ring_groups (tenant_id, number, name, strategy, ring_timeout)"
                     " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                     (t, n, g["name"], g["strategy"], g["timeout"])).fetchone()
            assert row is not None
            gid = row[0]
            new_rg.append(key)
            cur: list[str] = []
        else:
            gid, name, s, to = have_rg[key]
            if (name, s, to) != (g["name"], g["strategy"], g["timeout"]):
                ex("UPDATE ring_groups SET name = %s, strategy = %s, ring_timeout = %s"
                   " WHERE id = %s", (g["name"], g["strategy"], g["timeout"], gid))
                ch["updated"] += 1
            cur = members.get(gid, [])
        if cur != g["members"]:
            ex("DELETE FROM ring_group_members WHERE ring_group_id = %s", (gid,))
            conn.cursor().executemany(
                "INSERT INTO ring_group_members (ring_group_id, device_id, position)"
                " VALUES (%s, %s, %s)",
                [(gid, dev_id[f"{t}:{m}"], i) for i, m in enumerate(g["members"])])
            if key in have_rg:
                ch["updated"] += 1
    claim("ring_group", new_rg)
    ch["created"] += len(new_rg)

    have_x = {f"{a}>{b}" for a, b in ex("SELECT from_tenant, to_tenant FROM tenant_exceptions")}
    add = sorted(set(want["exceptions"]) - have_x)
    if add:
        conn.cursor().executemany("INSERT INTO tenant_exceptions (from_tenant, to_tenant)"
                                  " VALUES (%s, %s)", [tuple(k.split(">")) for k in add])
        claim("exception", add)
        ch["created"] += len(add)
    return ch
