"""edgectl against the real PostgreSQL: the schema's rules hold, bad input is
one line on stderr with a non-zero exit, and a refused command writes nothing."""

from __future__ import annotations

import pytest

from edgecore import digest
from testkit.edge import Edge


def rows(edge: Edge, sql: str, *params: object) -> list[tuple]:
    with edge.db() as c:
        return list(c.execute(sql, params).fetchall())


def snapshot(edge: Edge) -> list[list[tuple]]:
    """Every provisioning table's content: what a refused command must not change."""
    return [rows(edge, f"SELECT * FROM {t} ORDER BY 1") for t in
            ("tenants", "number_ranges", "devices", "ring_groups", "ring_group_members",
             "tenant_exceptions")]


def refused(edge: Edge, *args: str, match: str) -> str:
    before = snapshot(edge)
    out = edge.ctl(*args)
    assert out.returncode != 0, out.stdout
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("edgectl: error: "), out.stderr
    assert match in out.stderr, out.stderr
    assert snapshot(edge) == before, "a refused command changed the database"
    return out.stderr


def test_tenant_lifecycle(edge: Edge):
    t = edge.new_tenant("Lifecycle", "--global-access")
    listed = {r["id"]: r for r in __import__("json").loads(edge.ctl_ok("tenant", "list", "--json"))}
    assert listed[t]["global_access"] is True and listed[t]["recording"] is True
    assert listed[t]["ranges"] == 1
    refused(edge, "tenant", "add", t, "--name", "again", match=f"tenant {t} already exists")
    edge.new_device(t, "7001")
    refused(edge, "tenant", "remove", t, match="still has 1 devices")
    edge.ctl_ok("tenant", "remove", t, "--cascade")
    assert rows(edge, "SELECT count(*) FROM devices WHERE tenant_id = %s", t) == [(0,)]
    assert rows(edge, "SELECT count(*) FROM tenants WHERE id = %s", t) == [(0,)]


@pytest.mark.parametrize("bad", ["123", "000001", "abcde", "0000a"])
def test_malformed_tenant_id(edge: Edge, bad: str):
    refused(edge, "tenant", "add", bad, "--name", "x", match="malformed tenant id")


def test_unknown_tenant(edge: Edge):
    refused(edge, "range", "add", "99999", "7000", "7099", match="unknown tenant 99999")
    refused(edge, "device", "add", "99999", "7001", "--password", "long-enough-pw",
            match="unknown tenant 99999")


def test_ranges_overlap_rules(edge: Edge):
    a = edge.new_tenant("A", ranges=())
    b = edge.new_tenant("B", ranges=())
    # the same local (4-digit) range in two tenants: the legacy numbering
    edge.ctl_ok("range", "add", a, "7000", "7099")
    edge.ctl_ok("range", "add", b, "7000", "7099")
    refused(edge, "range", "add", a, "7050", "7150", match="overlaps another range of the same")
    # global ranges: never overlapping anyone
    edge.ctl_ok("range", "add", a, "88000000", "88000999")
    refused(edge, "range", "add", b, "88000500", "88001500",
            match=f"overlaps global range 88000000-88000999 of tenant {a}")
    c = edge.new_tenant("C", ranges=())
    refused(edge, "range", "add", c, "7090", "7095", "--scope", "global",
            match="overlaps local range 7000-7099 of tenant")
    refused(edge, "range", "add", b, "88000999", "88000999", "--scope", "local",
            match=f"overlaps global range 88000000-88000999 of tenant {a}")
    # adjacent is fine
    edge.ctl_ok("range", "add", b, "88001000", "88001999")


@pytest.mark.parametrize("first,last,match", [
    ("70a0", "7099", "malformed first number"),
    ("7000", "70999", "same number of digits"),
    ("7099", "7000", "must not be greater"),
    ("1234567890123456", "1234567890123457", "malformed first number"),
])
def test_malformed_ranges(edge: Edge, first, last, match):
    t = edge.new_tenant("R", ranges=())
    refused(edge, "range", "add", t, first, last, match=match)


def test_device_rules(edge: Edge):
    t = edge.new_tenant("D")
    au, pw = edge.new_device(t, "7001", "a-good-password")
    refused(edge, "device", "add", t, "7001", "--password", "another-password",
            match=f"tenant {t} already has a device 7001")
    refused(edge, "device", "add", t, "7150", "--password", "another-password",
            match=f"number 7150 is outside the ranges of tenant {t}")
    refused(edge, "device", "add", t, "70x1", "--password", "another-password",
            match="malformed extension")
    refused(edge, "device", "add", t, "7002", "--password", "short", match="too short")
    other = edge.new_tenant("D2")
    refused(edge, "device", "add", other, "7001", "--password", "another-password",
            "--auth-user", au.upper(), match="already used by another device")
    # the same extension in another tenant is fine
    edge.new_device(other, "7001")


def test_password_is_never_stored(edge: Edge):
    t = edge.new_tenant("P")
    secret = "Sup3r-Secret-Pw-" + t
    au, _ = edge.new_device(t, "7001", secret)
    (ha1,) = rows(edge, "SELECT ha1 FROM devices WHERE auth_username = %s", au)[0]
    assert ha1 == digest.ha1(au, edge.cfg.auth.realm, secret)
    # nowhere in the database
    dump = rows(edge, "SELECT string_agg(d::text, ' ') FROM devices d")[0][0]
    assert secret not in dump
    # and not in Redis either
    r = edge.redis()
    try:
        for key in r.scan_iter(count=1000):
            assert secret not in str(r.dump(key) or b"")
    finally:
        r.close()


def test_password_from_stdin_and_change(edge: Edge):
    t = edge.new_tenant("S")
    edge.ctl_ok("device", "add", t, "7001", "--password", "-", input="from-stdin-pw\n")
    au = f"{t}7001"
    assert rows(edge, "SELECT ha1 FROM devices WHERE auth_username = %s", au)[0][0] == \
        digest.ha1(au, edge.cfg.auth.realm, "from-stdin-pw")
    edge.ctl_ok("device", "passwd", t, "7001", "--password", "changed-password")
    assert rows(edge, "SELECT ha1 FROM devices WHERE auth_username = %s", au)[0][0] == \
        digest.ha1(au, edge.cfg.auth.realm, "changed-password")


def test_range_removal_cannot_strand_numbers(edge: Edge):
    t = edge.new_tenant("RR")
    edge.new_device(t, "7005")
    refused(edge, "range", "remove", t, "7000", "7099", match="still holds number 7005")
    edge.ctl_ok("device", "remove", t, "7005")
    edge.ctl_ok("range", "remove", t, "7000", "7099")


def test_ring_group_is_one_transaction(edge: Edge):
    t = edge.new_tenant("RG")
    edge.new_device(t, "7001")
    # the second member does not exist: the ring group must not be half-created
    refused(edge, "ringgroup", "add", t, "7050", "--name", "Island", "--member", "7001",
            "--member", "7002", match=f"tenant {t} has no device 7002")
    edge.new_device(t, "7002")
    edge.ctl_ok("ringgroup", "add", t, "7050", "--name", "Island", "--member", "7002",
                "--member", "7001", "--strategy", "sequential")
    (rg,) = __import__("json").loads(edge.ctl_ok("ringgroup", "list", t, "--json"))
    assert rg["members"] == ["7002", "7001"] and rg["strategy"] == "sequential"
    refused(edge, "device", "add", t, "7050", "--password", "another-password",
            match="is a ring group")


def test_exceptions(edge: Edge):
    a, b = edge.new_tenant("XA"), edge.new_tenant("XB")
    edge.ctl_ok("exception", "add", a, b)
    assert rows(edge, "SELECT from_tenant, to_tenant FROM tenant_exceptions WHERE from_tenant"
                      " IN (%s, %s) ORDER BY 1", a, b) == [(a, b)]
    edge.ctl_ok("exception", "add", b, a, "--both-ways")
    assert len(rows(edge, "SELECT 1 FROM tenant_exceptions WHERE from_tenant IN (%s, %s)",
                    a, b)) == 2
    refused(edge, "exception", "add", a, a, match="two different tenants")
    edge.ctl_ok("exception", "remove", a, b, "--both-ways")
    refused(edge, "exception", "remove", a, b, match="no exception")


def test_database_down_is_one_clear_line(tmp_path):
    from testkit.edge import test_config
    from edgecore import config as edgeconfig
    import subprocess
    import sys
    cfg = test_config(tmp_path)      # nothing listens on its ports
    p = tmp_path / "c.toml"
    p.write_text(edgeconfig.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "edgectl", "--config", str(p), "tenant",
                          "list"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert out.stderr.startswith("edgectl: error: cannot reach PostgreSQL at")
    assert out.stderr.count("\n") == 1


SCHEMA_CASES = [
    # the same auth identity as another device, differing only in case
    ("INSERT INTO devices (tenant_id, extension, auth_username, ha1) "
     "VALUES (%(t)s, '7002', upper(%(au)s), repeat('a', 32))", "devices_auth_username_uq"),
    ("INSERT INTO devices (tenant_id, extension, auth_username, ha1) "
     "VALUES (%(t)s, '7001', %(t)s || 'other', repeat('a', 32))", "device_extension_uq"),
    ("INSERT INTO devices (tenant_id, extension, auth_username, ha1) "
     "VALUES (%(t)s, '8001', %(t)s || 'out', repeat('a', 32))", "outside the ranges"),
    ("INSERT INTO devices (tenant_id, extension, auth_username, ha1) "
     "VALUES (%(t)s, '7003', %(t)s || 'plain', 'secret-password')", "devices_ha1_check"),
    ("INSERT INTO number_ranges (tenant_id, first_number, last_number, scope) "
     "VALUES (%(t)s, '7050', '7150', 'local')", "range_no_overlap_in_tenant"),
    ("INSERT INTO number_ranges (tenant_id, first_number, last_number, scope) "
     "VALUES (%(t)s, %(g)s, %(g)s, 'global')", "overlaps"),
]


def test_schema_refuses_what_must_never_exist(edge: Edge):
    """The database itself refuses it -- not only edgectl's own checks --
    whoever writes (psql, another tool): the SQL runs directly, and each
    refusal leaves every table as it was."""
    import psycopg

    t = edge.new_tenant("Schema")
    other = edge.new_tenant("Other", ranges=(("55119980000", "55119980099"),))
    au = f"{t}x7001"
    edge.ctl_ok("device", "add", t, "7001", "--password", "a-long-password", "--auth-user", au)
    before = snapshot(edge)
    for sql, expected in SCHEMA_CASES:
        with pytest.raises(psycopg.Error) as err:
            with edge.db() as c:
                c.execute(sql, {"t": t, "au": au, "g": "55119980042"})
        said = f"{err.value.diag.constraint_name} {err.value}"
        assert expected in said, (sql, said, other)
        assert snapshot(edge) == before
