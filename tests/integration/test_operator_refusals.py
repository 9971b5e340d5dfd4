"""The operator's refusals of issue 16 on the live edge: one stderr line,
non-zero exit, nothing written."""

from __future__ import annotations

import json

import pytest

from testkit.edge import Edge


def refused(edge: Edge, *args: str, match: str, tables: tuple[str, ...] = (
        "tenants", "devices", "ring_groups", "ring_group_members", "tenant_exceptions",
        "pool_members")) -> None:
    def snap() -> list:
        with edge.db() as c:
            return [c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables]
    before = snap()
    out = edge.ctl(*args)
    assert out.returncode != 0, out.stdout
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("edgectl: error: "), out.stderr
    assert match in out.stderr, out.stderr
    assert "_check" not in out.stderr and "constraint" not in out.stderr, out.stderr
    assert snap() == before, "a refused command changed the database"


# -- refusals (issue 16, item 14) --------------------------------------------------

def test_a_ring_group_with_no_members_is_refused(edge: Edge):
    t = edge.new_tenant("RG none")
    refused(edge, "ringgroup", "add", t, "7050", "--name", "Island", match="at least one --member")


@pytest.mark.parametrize("target", ["999.1.1.1", "10.0.0.256", "1.2.3", "fe80::zz"])
def test_a_ban_of_a_malformed_address_is_refused_not_taken_as_an_identity(edge: Edge, target):
    out = edge.ctl("ban", "add", target)
    assert out.returncode != 0 and out.stderr.count("\n") == 1, out.stderr
    assert "not" in out.stderr and target in out.stderr, out.stderr
    assert target not in edge.ctl_ok("ban", "list")


def test_a_pool_member_that_is_not_an_address_is_refused(edge: Edge):
    refused(edge, "pool", "add", "not-an-ip", match="is not an IP address")


def test_a_duplicate_exception_is_refused(edge: Edge):
    a, b = edge.new_tenant("Exc A"), edge.new_tenant("Exc B")
    edge.ctl_ok("exception", "add", a, b)
    refused(edge, "exception", "add", a, b, match="already exists")
    # half new: the missing direction is added, not refused
    assert "added" in edge.ctl_ok("exception", "add", a, b, "--both-ways")
    refused(edge, "exception", "add", b, a, "--both-ways", match="already exists")


def test_a_negative_call_limit_is_refused_without_constraint_names(edge: Edge):
    t = edge.new_tenant("Neg")
    refused(edge, "tenant", "set", t, "--max-calls", "-5", match="--max-calls must be >= 0")
    refused(edge, "tenant", "add", "09876", "--name", "n", "--max-calls", "-1",
            match="--max-calls must be >= 0")
    refused(edge, "device", "add", t, "7001", "--password", "long-enough", "--max-calls", "-2",
            match="--max-calls must be >= 0")


def test_an_unknown_tenant_is_named_before_the_password_is_judged(edge: Edge):
    refused(edge, "device", "add", "99998", "7001", "--password", "short",
            match="unknown tenant 99998")


def test_recording_modes_are_checked(edge: Edge):
    refused(edge, "tenant", "add", "09877", "--name", "n", "--recording", "sometimes",
            match="--recording must be one of on, off, required")
    t = edge.new_tenant("Req", "--recording", "required")
    rows = {r["id"]: r for r in json.loads(edge.ctl_ok("tenant", "list", "--json"))}
    assert rows[t]["recording"] is True and rows[t]["recording_required"] is True
    edge.ctl_ok("tenant", "set", t, "--no-recording")
    rows = {r["id"]: r for r in json.loads(edge.ctl_ok("tenant", "list", "--json"))}
    assert rows[t]["recording"] is False and rows[t]["recording_required"] is False
