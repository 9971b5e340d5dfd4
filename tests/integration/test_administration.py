"""Quotas and the audit trail through edgectl (the service layer the API
shares), against the real PostgreSQL: a tenant at its quota is refused with
one clear line and nothing written; every change is in the audit trail with
who (edgectl + OS user), what, before and after; `edgectl audit list` shows it."""

from __future__ import annotations

import getpass
import json

from testkit.edge import Edge


def audit_rows(edge: Edge, tenant: str) -> list[tuple]:
    with edge.db() as c:
        return list(c.execute("SELECT actor, action, op, object, before, after FROM audit_log"
                              " WHERE tenant_id = %s ORDER BY id", (tenant,)).fetchall())


def count(edge: Edge, sql: str, *params: object) -> int:
    with edge.db() as c:
        return int(c.execute(sql, params).fetchone()[0])


def test_device_and_ring_group_quotas(edge: Edge):
    t = edge.new_tenant("Quota")
    edge.ctl_ok("tenant", "set", t, "--max-devices", "2", "--max-ring-groups", "1")
    edge.new_device(t, "7001")
    edge.new_device(t, "7002")
    out = edge.ctl("device", "add", t, "7003", "--password", "long-enough-pw")
    assert out.returncode == 1
    assert out.stderr == f"edgectl: error: quota exceeded: tenant {t} may have at most 2 devices\n"
    assert count(edge, "SELECT count(*) FROM devices WHERE tenant_id = %s", t) == 2
    edge.ctl_ok("ringgroup", "add", t, "7050", "--name", "Desk", "--member", "7001")
    out = edge.ctl("ringgroup", "add", t, "7051", "--name", "Other", "--member", "7001")
    assert out.returncode == 1 and "at most 1 ring groups" in out.stderr, out.stderr
    assert count(edge, "SELECT count(*) FROM ring_groups WHERE tenant_id = %s", t) == 1
    # a removed device frees its place; -1 lifts the quota
    edge.ctl_ok("device", "remove", t, "7002")
    edge.new_device(t, "7003")
    edge.ctl_ok("tenant", "set", t, "--max-devices", "-1")
    edge.new_device(t, "7004")
    listed = {r["id"]: r for r in json.loads(edge.ctl_ok("tenant", "list", "--json"))}
    assert listed[t]["devices"] == 3


def test_every_change_is_audited_with_who_and_before_after(edge: Edge):
    t = edge.new_tenant("Audited")
    edge.new_device(t, "7001")
    edge.ctl_ok("device", "passwd", t, "7001", "--password", "another-secret")
    edge.ctl_ok("device", "remove", t, "7001")
    who = f"edgectl:{getpass.getuser()}"
    rows = audit_rows(edge, t)
    actions = [(r[1], r[2], r[3]) for r in rows]
    assert actions == [("tenant.add", "INSERT", "tenants"),
                       ("range.add", "INSERT", "number_ranges"),
                       ("device.add", "INSERT", "devices"),
                       ("device.passwd", "UPDATE", "devices"),
                       ("device.remove", "DELETE", "devices")], actions
    assert {r[0] for r in rows} == {who}
    add, passwd, remove = rows[2], rows[3], rows[4]
    assert add[4] is None and add[5]["extension"] == "7001"
    # the HA1 is never copied into the trail, only the fact that it changed
    assert add[5]["ha1"] == "(hidden)"
    assert passwd[4]["ha1"] == "(hidden)" and passwd[5]["ha1"] == "(changed)"
    assert remove[4]["extension"] == "7001" and remove[5] is None
    listed = json.loads(edge.ctl_ok("audit", "list", "--tenant", t, "--json"))
    assert [r["action"] for r in listed][:3] == ["device.remove", "device.passwd", "device.add"]
    text = edge.ctl_ok("audit", "list", "--tenant", t, "--action", "device.remove")
    assert who in text and "device.remove" in text and "7001" in text


def test_a_refused_change_leaves_no_audit_row(edge: Edge):
    t = edge.new_tenant("Refused")
    before = count(edge, "SELECT count(*) FROM audit_log")
    out = edge.ctl("device", "add", t, "9999", "--password", "long-enough-pw")
    assert out.returncode == 1 and "outside the ranges" in out.stderr
    assert count(edge, "SELECT count(*) FROM audit_log") == before


def test_user_accounts_from_edgectl(edge: Edge):
    t = edge.new_tenant("Accounts")
    edge.ctl_ok("user", "add", f"admin-{t}", "--role", "tenant_admin", "--tenant", t,
                "--password", "-", input="a-long-password\n")
    out = edge.ctl("user", "add", f"bad-{t}", "--role", "tenant_admin",
                   "--password", "a-long-password")
    assert out.returncode == 1 and out.stderr == "edgectl: error: a tenant admin needs a tenant\n"
    out = edge.ctl("user", "add", f"short-{t}", "--role", "read_only", "--password", "short")
    assert out.returncode == 1 and "password too short" in out.stderr
    users = json.loads(edge.ctl_ok("user", "list", "--tenant", t, "--json"))
    assert [(u["username"], u["role"]) for u in users] == [(f"admin-{t}", "tenant_admin")]
    with edge.db() as c:
        h = c.execute("SELECT password_hash FROM admin_users WHERE username = %s",
                      (f"admin-{t}",)).fetchone()[0]
    assert h.startswith("$argon2id$")
    rows = audit_rows(edge, t)
    assert rows[-1][1] == "user.add" and rows[-1][5]["password_hash"] == "(hidden)"


def test_bans_and_pool_changes_are_audited(edge: Edge):
    """Changes outside the tenants' tables: a ban (Redis) and a pool member."""
    edge.ctl_ok("ban", "add", "10.99.0.7", "--for", "60", "--reason", "audit test")
    edge.ctl_ok("ban", "remove", "10.99.0.7")
    out = edge.ctl("ban", "remove", "10.99.0.7")
    assert out.returncode == 1 and "is not banned" in out.stderr
    edge.ctl_ok("pool", "add", "127.0.0.97", "--weight", "3")
    edge.ctl_ok("pool", "remove", "127.0.0.97", "--force")
    with edge.db() as c:
        rows = list(c.execute("SELECT action, op, object, before, after FROM audit_log"
                              " WHERE object IN ('bans', 'pool_members') ORDER BY id"
                              ).fetchall())
    bans = [r for r in rows if r[2] == "bans" and "10.99.0.7" in str(r[3] or r[4])]
    assert [(r[0], r[3] is None, r[4] is None) for r in bans] == [("ban.add", True, False),
                                                                  ("ban.remove", False, True)]
    assert bans[0][4]["reason"] == "audit test"               # the refused remove left none
    pool = [r for r in rows if r[2] == "pool_members" and "127.0.0.97" in str(r[3] or r[4])]
    assert [(r[0], r[1]) for r in pool] == [("pool.add", "INSERT"), ("pool.remove", "DELETE")]
    assert pool[0][4]["weight"] == 3
