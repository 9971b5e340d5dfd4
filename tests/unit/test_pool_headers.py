"""edgecore.pool: which calls go to the media pool, what members are told,
how long they may ring, and which failures are a member's own."""

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
    call = pool.pool_call(rg(REC), CALLER, REC, NOW, "/monitor", 120)
    h = dict(call.headers)
    assert call.kind == "rg"
    assert h[pool.H_TARGETS] == "00003*7002,00003*7003"
    assert h[pool.H_STRATEGY] == "sequential" and h[pool.H_TIMEOUT] == "20"
    assert h[pool.H_RING_TOTAL] == "40"              # two turns of 20 s
    assert h[pool.H_TENANT] == "00003" and h[pool.H_CALLER] == "7001"
    assert h[pool.H_DEST] == "7050"
    assert h[pool.H_RECORD].startswith("/monitor/2026/03/09/rg-7001-7050-")
    assert [k for k, _ in call.headers] == list(pool.ALL_HEADERS)
    assert call.lines()[0] == "X-Edge-Tenant: 00003"


def test_internal_call_to_unrecorded_tenant_from_recorded_one():
    call = pool.pool_call(dev(NOREC, "7009"), CALLER, REC, NOW, "/monitor", 120)
    h = dict(call.headers)
    assert h[pool.H_KIND] == "internal" and h[pool.H_TARGETS] == "00004*7009"
    assert h[pool.H_TENANT] == "00004" and h[pool.H_CALLER_TENANT] == "00003"
    assert h[pool.H_RECORD].startswith("/monitor/2026/03/09/internal-7001-7009-")


def test_no_recording_says_no():
    t = Tenant("00005", "C", recording=False)
    c = Device("000057001", "00005", "7001", "a" * 32)
    h = dict(pool.pool_call(rg(t), c, t, NOW, "/monitor", 120).headers)
    assert h[pool.H_RECORD] == "no"


@pytest.mark.parametrize("strategy,targets,each,ring_timeout,total", [
    ("ringall", 5, 30, 120, 30),           # one round, whatever the targets
    ("sequential", 3, 20, 120, 60),        # one turn each
    ("sequential", 7, 20, 120, 118),       # 140 s of turns: cut short of the edge's timer
    ("ringall", 2, 30, 20, 18),            # the edge's timer is shorter than a round
    ("sequential", 2, 15, 3, 1),           # never 0 (Dial would ring forever)
    ("sequential", 0, 15, 120, 15),
])
def test_ring_total_ends_before_the_edges_invite_timer(strategy, targets, each, ring_timeout,
                                                       total):
    got = pool.ring_total(strategy, targets, each, ring_timeout)
    assert got == total
    assert got <= max(1, ring_timeout - pool.RING_MARGIN)


def test_long_sequential_group_is_bounded_in_its_headers():
    many = rg(REC, members=tuple(str(7002 + i) for i in range(10)), timeout=30)
    h = dict(pool.pool_call(many, CALLER, REC, NOW, "/monitor", 120).headers)
    assert h[pool.H_TIMEOUT] == "30" and h[pool.H_RING_TOTAL] == "118"
    h = dict(pool.pool_call(dev(REC, "7002"), CALLER, REC, NOW, "/monitor", 120).headers)
    assert h[pool.H_RING_TOTAL] == str(pool.DEFAULT_RING_TIMEOUT)


@pytest.mark.parametrize("reason,cause", [
    ("Q.850;cause=17", 17),
    ('Q.850;cause=34;text="Circuit/channel congestion"', 34),
    ('q.850 ; text="x" ; cause = 19', 19),
    ('SIP;cause=200;text="Call completed elsewhere", Q.850;cause=16', 16),
    ("SIP;cause=503", None),
    ("Q.850;text=nocause", None),
    ("", None),
    (None, None),
])
def test_q850_cause_of_a_reason_header(reason, cause):
    assert pool.q850_cause(reason) == cause


@pytest.mark.parametrize("code,silent,reason,failed", [
    (0, True, None, True),                     # sent nothing: dead or partitioned
    (503, False, None, True),                  # refused before its dialplan: overloaded,
    (500, False, "", True),                    # shutting down, broken
    (503, False, "SIP;cause=503", True),       # not a callee's Q.850 cause
    (503, False, "Q.850;cause=34", False),     # its dialplan relays the callee's congestion
    (500, False, "Q.850;cause=38", False),
    (486, False, "Q.850;cause=17", False),     # the callee is busy
    (480, False, None, False),
    (408, False, None, False),                 # rang, nobody answered
    (403, False, None, False),
])
def test_member_failed_only_on_its_own_failure(code, silent, reason, failed):
    assert pool.member_failed(code, silent, reason) is failed
