"""edgecore.pool: which calls go to the media pool, and what members are told."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from edgecore import pool
from edgecore.numbering import Resolution
from edgecore.readmodel import Device, Target, Tenant

REC = Tenant("00003", "A", recording=True)
NOREC = Tenant("00004", "B", recording=False)
CALLER = Device("000037001", "00003", "7001", "a" * 32)
NOW = datetime(2026, 3, 9, 23, 59, 58, tzinfo=timezone.utc)


def dev(t: Tenant, n: str) -> Resolution:
    return Resolution(True, Target("device", t.id, n, auth_username=t.id + n), t)


def rg(t: Tenant, members=("7002", "7003"), strategy="sequential", timeout=20) -> Resolution:
    return Resolution(True, Target("ring_group", t.id, "7050", name="x", strategy=strategy,
                                   ring_timeout=timeout, members=tuple(members)), t)


@pytest.mark.parametrize("res,caller_tenant,expected", [
    (rg(NOREC), NOREC, True),              # ring groups always
    (dev(REC, "7002"), REC, True),         # recording caller tenant
    (dev(REC, "7002"), NOREC, True),       # recording callee tenant
    (dev(NOREC, "7002"), NOREC, False),    # nobody records: direct
    (Resolution(False), REC, False),
])
def test_needs_pool(res, caller_tenant, expected):
    assert pool.needs_pool(res, caller_tenant) is expected


def test_record_prefix_is_the_legacy_layout():
    p = pool.record_prefix("/monitor/", "rg", "7001", "7050", NOW)
    assert p == f"/monitor/2026/03/09/rg-7001-7050-{int(NOW.timestamp())}"
    # the date is the UTC date of the timestamp, whatever the local zone
    from datetime import timedelta
    local = NOW.astimezone(timezone(timedelta(hours=3)))
    assert pool.record_prefix("/monitor", "internal", "1", "2", local).startswith(
        "/monitor/2026/03/09/internal-1-2-")


def test_ring_group_headers():
    call = pool.pool_call(rg(REC), CALLER, REC, NOW, "/monitor")
    h = dict(call.headers)
    assert call.kind == "rg"
    assert h[pool.H_TARGETS] == "00003*7002,00003*7003"
    assert h[pool.H_STRATEGY] == "sequential" and h[pool.H_TIMEOUT] == "20"
    assert h[pool.H_TENANT] == "00003" and h[pool.H_CALLER] == "7001"
    assert h[pool.H_DEST] == "7050"
    assert h[pool.H_RECORD].startswith("/monitor/2026/03/09/rg-7001-7050-")
    assert [k for k, _ in call.headers] == list(pool.ALL_HEADERS)
    assert call.lines()[0] == "X-Edge-Tenant: 00003"


def test_internal_call_to_unrecorded_tenant_from_recorded_one():
    call = pool.pool_call(dev(NOREC, "7009"), CALLER, REC, NOW, "/monitor")
    h = dict(call.headers)
    assert h[pool.H_KIND] == "internal" and h[pool.H_TARGETS] == "00004*7009"
    assert h[pool.H_TENANT] == "00004" and h[pool.H_CALLER_TENANT] == "00003"
    assert h[pool.H_RECORD].startswith("/monitor/2026/03/09/internal-7001-7009-")


def test_no_recording_says_no():
    t = Tenant("00005", "C", recording=False)
    c = Device("000057001", "00005", "7001", "a" * 32)
    h = dict(pool.pool_call(rg(t), c, t, NOW, "/monitor").headers)
    assert h[pool.H_RECORD] == "no"
