"""The Asterisk media pool on the live edge, with SIPp UASs standing in for
Asterisk members on their own loopback addresses (127.0.0.2x): what reaches a
member, weights, health and failover, drain, live growth, trusted legs back,
and a pool changed under steady load without a failed call."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from edgecore import pool as edge_pool
from harness import sipp
from harness.edge import Edge, wait_for
from test_calls import SCEN, final_invite_reply, register_contact, unregister_all

UAC = Path(__file__).resolve().parents[2] / "loadtest" / "sipp" / "uac_setup.xml"
TOLERATE_REORDER = ["-default_behaviors", "all,-abortunexp"]


class Member(sipp.SippServer):
    """A pool member stand-in: answers every call, replies to OPTIONS probes."""

    def __init__(self, n: int):
        self.ip = f"127.0.0.{20 + n}"
        super().__init__(SCEN / "member.xml", local_ip=self.ip, port=5060)

    @property
    def uri(self) -> str:
        return f"sip:{self.ip}:5060"

    def invites(self) -> list[str]:
        return self.received_requests("INVITE")


def header(msg: str, name: str) -> list[str]:
    return re.findall(rf"(?im)^{re.escape(name)}:\s*(.*?)\s*$", msg)


@pytest.fixture(scope="module")
def pool_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    e = Edge(tmp_path_factory.mktemp("pool"),
             pool={"ping_interval": 1, "probing_threshold": 1, "inactive_threshold": 1,
                   "branch_timeout": 1})
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def tenant(pool_edge: Edge) -> dict[str, str]:
    """A recording tenant: devices 7001..7003, ring group 7050 of 7002 and 7003."""
    e = pool_edge
    t = e.new_tenant("Pool tenant")
    creds = {ext: e.new_device(t, ext) for ext in ("7001", "7002", "7003")}
    e.ctl_ok("ringgroup", "add", t, "7050", "--name", "Island", "--member", "7002",
             "--member", "7003")
    e.ctl_ok("ringgroup", "add", t, "7051", "--name", "Queue", "--member", "7003",
             "--member", "7002", "--strategy", "sequential", "--timeout", "15")
    e.wait_synced()
    au, pw = creds["7001"]
    return {"tenant": t, "au": au, "pw": pw}


@pytest.fixture
def members(pool_edge: Edge) -> Iterator[list[Member]]:
    """Up to four stand-ins; each test adds the ones it uses to the pool."""
    started: list[Member] = []
    yield started
    for m in started:
        m.stop()
        pool_edge.ctl("pool", "remove", m.uri, "--force")


def start(members: list[Member], n: int) -> Member:
    m = Member(n)
    members.append(m)
    return m


def calls(edge: Edge, t: dict[str, str], dialled: str, n: int, rate: float = 20,
          hold_ms: int = 0, timeout: float = 60) -> sipp.SippResult:
    row = [t["au"], f"[authentication username={t['au']} password={t['pw']}]", dialled]
    return sipp.run(edge.target, UAC, [row], calls=n, rate=rate, timeout=timeout,
                    extra=["-d", str(hold_ms), *TOLERATE_REORDER])


def test_ring_group_call_reaches_a_member_with_targets_and_strategy(pool_edge, tenant,
                                                                     members):
    m = start(members, 1)
    pool_edge.ctl_ok("pool", "add", m.uri)
    t = tenant["tenant"]
    for number, strategy, timeout, targets in (
            ("7050", "ringall", "30", f"{t}*7002,{t}*7003"),
            ("7051", "sequential", "15", f"{t}*7003,{t}*7002")):
        before = len(m.invites())
        res = calls(pool_edge, tenant, number, 1)
        assert res.rc == 0, res.describe()
        inv = m.invites()[before]
        assert header(inv, edge_pool.H_KIND) == ["rg"]
        assert header(inv, edge_pool.H_TENANT) == [t]
        assert header(inv, edge_pool.H_CALLER) == ["7001"]
        assert header(inv, edge_pool.H_DEST) == [number]
        assert header(inv, edge_pool.H_TARGETS) == [targets]
        assert header(inv, edge_pool.H_STRATEGY) == [strategy]
        assert header(inv, edge_pool.H_TIMEOUT) == [timeout]
        (rec,) = header(inv, edge_pool.H_RECORD)
        assert re.fullmatch(rf"/monitor/\d{{4}}/\d{{2}}/\d{{2}}/rg-7001-{number}-\d{{10}}", rec)
        # every header the dialplan reads is there
        for h in edge_pool.ALL_HEADERS:
            assert len(header(inv, h)) == 1, h


def test_recorded_internal_call_goes_to_the_pool_unrecorded_tenant_does_not(
        pool_edge, tenant, members):
    e, t = pool_edge, tenant["tenant"]
    m = start(members, 2)
    e.ctl_ok("pool", "add", m.uri)
    res = calls(e, tenant, "7002", 1)
    assert res.rc == 0, res.describe()
    inv = m.invites()[-1]
    assert header(inv, edge_pool.H_KIND) == ["internal"]
    assert header(inv, edge_pool.H_TARGETS) == [f"{t}*7002"]
    assert header(inv, edge_pool.H_RECORD)[0].startswith("/monitor/")
    # recording off: a device-to-device call goes straight to the device
    e.ctl_ok("tenant", "set", t, "--no-recording")
    e.wait_synced()
    _, _, = None, None
    au2, pw2 = f"{t}7002", f"pw-{t}-7002"
    with sipp.SippServer(SCEN / "uas_answer.xml") as device:
        register_contact(e, au2, pw2, device.port)
        try:
            n = len(m.invites())
            res = calls(e, tenant, "7002", 1)
            assert res.rc == 0, res.describe()
            assert len(m.invites()) == n and device.received_requests("INVITE")
        finally:
            unregister_all(e, au2, pw2)
    e.ctl_ok("tenant", "set", t, "--recording")
    e.wait_synced()


def test_callers_cannot_inject_edge_headers(pool_edge, tenant, members):
    e, t = pool_edge, tenant["tenant"]
    m = start(members, 1)
    e.ctl_ok("pool", "add", m.uri)
    au, pw = tenant["au"], tenant["pw"]
    row = [au, f"[authentication username={au} password={pw}]", "7050", au, "127.0.0.1",
           "127.0.0.1"]
    scen = (SCEN / "call_any.xml").read_text().replace(
        "Max-Forwards: 70\n      Content-Type", "Max-Forwards: 70\n      X-Edge-Record: no\n"
        "      X-Edge-Targets: 99999*1\n      Content-Type")
    forged = Path(m.dir.name) / "forged.xml"
    forged.write_text(scen)
    res = sipp.run(e.target, forged, [row], extra=TOLERATE_REORDER)
    assert final_invite_reply(res)[0] == 200, res.describe()
    inv = m.invites()[-1]
    assert header(inv, edge_pool.H_TARGETS) == [f"{t}*7002,{t}*7003"]
    assert header(inv, edge_pool.H_RECORD)[0] != "no"


def test_distribution_follows_weights(pool_edge, tenant, members):
    e = pool_edge
    light, heavy = start(members, 1), start(members, 2)
    e.ctl_ok("pool", "add", light.uri, "--weight", "1")
    e.ctl_ok("pool", "add", heavy.uri, "--weight", "3")
    n = 200
    res = calls(e, tenant, "7050", n, rate=40)
    assert res.rc == 0, res.describe()
    a, b = len(light.invites()), len(heavy.invites())
    assert a + b == n
    share = b / n
    print(f"weights 1:3 -> {a}:{b} calls ({share:.1%} to the heavier member)")
    assert abs(share - 0.75) <= 0.05          # stated tolerance: 5 points


def test_killed_member_fails_over_and_comes_back(pool_edge, tenant, members):
    e = pool_edge
    a, b = start(members, 1), start(members, 2)
    e.ctl_ok("pool", "add", a.uri)
    e.ctl_ok("pool", "add", b.uri)
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(calls(e, tenant, "7050", 120, rate=20)))
    th.start()
    wait_for(lambda: len(a.invites()) >= 5, timeout=10, what="calls on member a")
    a.stop()                                   # the member dies mid-run
    th.join()
    res = out[0]
    assert res.rc == 0, "a call failed while a member died: " + res.describe()
    assert len(b.invites()) > 0
    wait_for(lambda: "down" in e.ctl_ok("pool", "list"), timeout=5, what="member seen down")
    # it answers again (same address): the edge takes it back by itself
    back = start(members, 1)
    wait_for(lambda: all(r["edge_sees"].startswith("up") for r in json_list(e)),
             timeout=10, what="member back up")
    res = calls(e, tenant, "7050", 20, rate=20)
    assert res.rc == 0 and back.invites(), res.describe()


def json_list(e: Edge) -> list[dict]:
    import json
    return json.loads(e.ctl_ok("pool", "list", "--json"))


def test_drain_keeps_calls_in_progress_and_takes_no_new_ones(pool_edge, tenant, members):
    e = pool_edge
    a = start(members, 1)
    e.ctl_ok("pool", "add", a.uri)
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(
        calls(e, tenant, "7050", 1, hold_ms=4000)))
    th.start()
    wait_for(lambda: a.invites(), what="long call on member a")
    b = start(members, 2)
    e.ctl_ok("pool", "add", b.uri)
    assert "draining" in e.ctl_ok("pool", "drain", a.uri)
    res = calls(e, tenant, "7050", 20, rate=20)
    assert res.rc == 0, res.describe()
    assert len(a.invites()) == 1 and len(b.invites()) == 20
    th.join()
    assert out[0].rc == 0, out[0].describe()
    wait_for(lambda: a.received_requests("BYE"), what="BYE of the drained member's call")
    assert json_list(e)[0]["edge_sees"] == "disabled"


def test_member_added_live_takes_calls(pool_edge, tenant, members):
    e = pool_edge
    a = start(members, 1)
    e.ctl_ok("pool", "add", a.uri)
    pids = e.kamailio_pids()
    c = start(members, 3)
    out = e.ctl_ok("pool", "add", c.uri)
    assert "in effect on the local edge node" in out
    res = calls(e, tenant, "7050", 20, rate=20)
    assert res.rc == 0, res.describe()
    assert c.invites() and a.invites()
    assert e.kamailio_pids() == pids


def test_member_leg_reaches_device_without_credentials(pool_edge, tenant, members):
    e, t = pool_edge, tenant["tenant"]
    m = start(members, 4)
    e.ctl_ok("pool", "add", m.uri)
    au, pw = f"{t}7003", f"pw-{t}-7003"
    with sipp.SippServer(SCEN / "uas_answer.xml") as device:
        register_contact(e, au, pw, device.port)
        try:
            res = sipp.run(e.target, SCEN / "member_leg.xml", [[f"{t}*7003"]],
                           local_ip=m.ip, extra=TOLERATE_REORDER)
            assert res.rc == 0 and final_invite_reply(res)[0] == 200, res.describe()
            assert len(device.received_requests("INVITE")) == 1
            # the same request from an address that is not a pool member
            res = sipp.run(e.target, SCEN / "member_leg.xml", [[f"{t}*7003"]],
                           local_ip="127.0.0.99")
            assert final_invite_reply(res)[0] == 407, res.describe()
            assert len(device.received_requests("INVITE")) == 1
        finally:
            unregister_all(e, au, pw)


def test_grow_drain_shrink_under_steady_load_without_failed_calls(pool_edge, tenant, members):
    e = pool_edge
    a, b = start(members, 1), start(members, 2)
    e.ctl_ok("pool", "add", a.uri)
    out: list[sipp.SippResult] = []
    th = threading.Thread(target=lambda: out.append(
        calls(e, tenant, "7050", 150, rate=15, hold_ms=300)))
    th.start()
    time.sleep(2)
    e.ctl_ok("pool", "add", b.uri, "--weight", "2")     # grow
    time.sleep(2)
    e.ctl_ok("pool", "drain", a.uri)                    # drain
    time.sleep(2)
    e.ctl_ok("pool", "remove", a.uri)                   # shrink
    time.sleep(1)
    c = start(members, 3)
    e.ctl_ok("pool", "add", c.uri)                      # grow again
    th.join()
    res = out[0]
    assert res.rc == 0, "calls failed while the pool changed: " + res.describe()
    counts = [len(m.invites()) for m in (a, b, c)]
    assert sum(counts) == 150 and all(counts), counts
