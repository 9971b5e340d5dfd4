"""The Asterisk media pool on the live edge, with SIPp UASs standing in for
Asterisk members on their own loopback addresses (127.0.0.2x): what reaches a
member, the CDRs of pool calls, weights, health (probing) and failover -- a
member's own refusal failed over, a callee's outcome relayed by a member
passed back --, drain, removal only once the calls have ended, live growth,
trusted legs back (from draining members too), and a pool changed under
steady load without a failed call."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from edgecore import pool as edge_pool
from harness import sipp
from testkit.edge import Edge, wait_for
from harness.calls import SCEN, final_invite_reply, register_contact, unregister_all
from harness.pool_members import (TOLERATE_REORDER, Member, call_any, call_in_progress, calls,
                                  header, json_list, seen, start)


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
        # the whole file name: legacy layout, the id drawn by the edge (no '-')
        assert re.fullmatch(rf"/monitor/\d{{4}}/\d{{2}}/\d{{2}}/rg-7001-{number}-(\d{{10}})-"
                            rf"(\d{{10}})\.\d+\.wav", rec)
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


def test_pool_calls_cdrs_name_the_member_and_the_recording(pool_edge, tenant, members):
    e = pool_edge
    m = start(members, 2)
    e.ctl_ok("pool", "add", m.uri)
    for dialled, kind in (("7002", "internal"), ("7050", "rg")):
        res = calls(e, tenant, dialled, 1, hold_ms=200)
        assert res.rc == 0, res.describe()
        inv = m.invites()[-1]
        assert header(inv, edge_pool.H_KIND) == [kind]
        (rec,) = header(inv, edge_pool.H_RECORD)
        (row,) = e.cdrs(call_id=res.call_ids[0], expect=1)
        assert row["pool_member"] == m.uri, row
        assert row["recording"] == rec and rec.startswith("/monitor/") and \
            f"/{kind}-7001-{dialled}-" in rec, row
        assert row["final_code"] == 200 and row["callee"] == dialled
        assert row["tenant"] == tenant["tenant"] and row["caller"] == "7001"


def test_callers_cannot_inject_edge_headers(pool_edge, tenant, members):
    e, t = pool_edge, tenant["tenant"]
    m = start(members, 1)
    e.ctl_ok("pool", "add", m.uri)
    scen = (SCEN / "call_any.xml").read_text().replace(
        "Max-Forwards: 70\n      Content-Type", "Max-Forwards: 70\n      x-edge-record: no\n"
        "      X-EDGE-Targets: 99999*1\n      Content-Type")     # header names: any case
    forged = Path(m.dir.name) / "forged.xml"
    forged.write_text(scen)
    res = call_any(e, tenant, "7050", forged)
    assert final_invite_reply(res)[0] == 200, res.describe()
    inv = m.invites()[-1]
    assert header(inv, edge_pool.H_TARGETS) == [f"{t}*7002,{t}*7003"]
    assert header(inv, edge_pool.H_RECORD)[0] != "no"


@pytest.mark.serial  # SIPp load: run alone
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


def test_member_refusing_every_call_is_failed_over_without_a_failed_call(pool_edge, tenant,
                                                                         members):
    e = pool_edge
    good = start(members, 1)
    refusing = start(members, 2, SCEN / "member_refuses.xml")     # 503, no Reason
    e.ctl_ok("pool", "add", good.uri)
    e.ctl_ok("pool", "add", refusing.uri)
    n = 60
    res = calls(e, tenant, "7050", n, rate=20)
    assert res.rc == 0, "a call failed on a refusing member: " + res.describe()
    # it was tried (probes keep bringing it back) and every call it refused
    # was answered by the other member before the caller heard anything
    assert refusing.invites(), "the refusing member was never tried"
    assert len(good.invites()) == n


def test_callee_outcome_relayed_by_a_member_is_passed_back_not_failed_over(
        pool_edge, tenant, members, tmp_path):
    """A 503 carrying the callee's Q.850 cause (what Asterisk's dialplan
    relays when ringing the targets failed) is the callee's answer: the
    caller gets it, the member stays up, no other member rings again."""
    e = pool_edge
    scen = tmp_path / "member_relays_503.xml"
    scen.write_text((SCEN / "member_refuses.xml").read_text().replace(
        "[last_CSeq:]\n      Content-Length: 0",
        "[last_CSeq:]\n      Reason: Q.850;cause=34\n      Content-Length: 0", 1))
    relaying, other = start(members, 1, scen), start(members, 2)
    e.ctl_ok("pool", "add", relaying.uri)
    e.ctl_ok("pool", "add", other.uri)
    relayed = 0
    for _ in range(40):
        before = len(relaying.invites()), len(other.invites())
        res = call_any(e, tenant, "7050")
        if len(relaying.invites()) == before[0]:
            assert final_invite_reply(res)[0] == 200, res.describe()   # the other member's
            continue
        # the member's 503, relayed as 500: a proxy never forwards a 503
        # (RFC 3261 16.7 step 6; tm converts it)
        assert final_invite_reply(res)[0] == 500, res.describe()
        # and the CDR says what the caller heard, not what the member sent
        (row,) = e.cdrs(call_id=res.call_ids[0], expect=1)
        assert (row["final_code"], row["final_reason"]) == (500, "Server Internal Error"), row
        assert len(other.invites()) == before[1], "rung again on another member"
        assert seen(e, relaying.uri).startswith("up")
        relayed += 1
        if relayed == 3:
            break
    assert relayed == 3, "the relaying member was not chosen in 40 calls"


def test_idle_member_is_taken_out_and_back_by_probing_alone(pool_edge, members):
    e = pool_edge
    m = start(members, 3)
    e.ctl_ok("pool", "add", m.uri)
    wait_for(lambda: seen(e, m.uri).startswith("up"), timeout=5, what="member up")
    assert not m.invites()
    m.stop()                        # no call: only the OPTIONS probes can notice
    # a probe unanswered for tm's fr_timer (5 s), probing_threshold 1
    t0 = time.monotonic()
    wait_for(lambda: seen(e, m.uri).startswith("down"), timeout=10, what="member seen down")
    print(f"idle member seen down after {time.monotonic() - t0:.1f} s")
    back = start(members, 3)
    wait_for(lambda: seen(e, m.uri).startswith("up"), timeout=5, what="member back up")
    assert not back.invites()


def test_drain_keeps_calls_in_progress_and_takes_no_new_ones(pool_edge, tenant, members):
    e = pool_edge
    a = start(members, 1)
    e.ctl_ok("pool", "add", a.uri)
    with call_in_progress(e, tenant, a, hold_ms=4000):
        b = start(members, 2)
        e.ctl_ok("pool", "add", b.uri)
        assert "draining" in e.ctl_ok("pool", "drain", a.uri)
        res = calls(e, tenant, "7050", 20, rate=20)
        assert res.rc == 0, res.describe()
        assert len(a.invites()) == 1 and len(b.invites()) == 20
    wait_for(lambda: a.received_requests("BYE"), what="BYE of the drained member's call")
    assert json_list(e)[0]["edge_sees"] == "disabled"


def test_remove_is_refused_while_the_member_has_calls_in_progress(pool_edge, tenant,
                                                                  members):
    e = pool_edge
    a = start(members, 1)
    e.ctl_ok("pool", "add", a.uri)
    with call_in_progress(e, tenant, a, hold_ms=3000):
        e.ctl_ok("pool", "drain", a.uri)
        refused = e.ctl("pool", "remove", a.uri)
        assert refused.returncode != 0, refused.stdout
        (line,) = refused.stderr.strip().splitlines()
        assert "1 call(s) in progress" in line and a.uri in line
        assert seen(e, a.uri) == "disabled"                 # still there, drained
    wait_for(lambda: a.received_requests("BYE"), what="BYE of the call")
    wait_for(lambda: e.rpc("dlg.profile_get_size", "pool", a.uri) == 0,
             what="the call's dialog ended")
    assert "removed" in e.ctl_ok("pool", "remove", a.uri)
    assert seen(e, a.uri) == "not listed"


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
            # a draining member still rings its calls' targets: still trusted
            e.ctl_ok("pool", "drain", m.uri)
            res = sipp.run(e.target, SCEN / "member_leg.xml", [[f"{t}*7003"]],
                           local_ip=m.ip, extra=TOLERATE_REORDER)
            assert res.rc == 0 and final_invite_reply(res)[0] == 200, res.describe()
            assert len(device.received_requests("INVITE")) == 2
            # the same request from an address that is not a pool member
            res = sipp.run(e.target, SCEN / "member_leg.xml", [[f"{t}*7003"]],
                           local_ip="127.0.0.99")
            assert final_invite_reply(res)[0] == 407, res.describe()
            assert len(device.received_requests("INVITE")) == 2
        finally:
            unregister_all(e, au, pw)


@pytest.mark.serial  # SIPp load: run alone
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


def test_a_members_ring_group_leg_shows_the_device_the_callers_identity(
        pool_edge, tenant, members, tmp_path):
    """What asterisk-pool's dialplan sends on a leg (CALLERID from
    X-Edge-Caller-Id/-Name in From and P-Asserted-Identity, the call's
    X-Edge-Call): the device sees that From, no PAI and no edge header; the
    leg's CDR keeps the caller as shown and links to its call."""
    e, t = pool_edge, tenant["tenant"]
    m = start(members, 4)
    e.ctl_ok("pool", "add", m.uri)
    scen = tmp_path / "member_leg_identity.xml"
    scen.write_text((SCEN / "member_leg.xml").read_text().replace(
        "From: <sip:asterisk@[local_ip]>;tag=",
        f'From: "Portaria A" <sip:{t}*7001@[local_ip]>;tag=').replace(
        "Max-Forwards: 70\n      Content-Type",
        f'Max-Forwards: 70\n      P-Asserted-Identity: "Portaria A" <sip:{t}*7001@[local_ip]>\n'
        f"      Remote-Party-ID: <sip:{t}*7001@[local_ip]>;party=calling\n"
        "      X-Edge-Call: parent-call-1@edge\n      Content-Type", 1))
    au, pw = f"{t}7003", f"pw-{t}-7003"
    with sipp.SippServer(SCEN / "uas_answer.xml") as device:
        register_contact(e, au, pw, device.port)
        try:
            res = sipp.run(e.target, scen, [[f"{t}*7003"]], local_ip=m.ip,
                           extra=TOLERATE_REORDER)
            assert res.rc == 0 and final_invite_reply(res)[0] == 200, res.describe()
            (inv,) = device.received_requests("INVITE")
        finally:
            unregister_all(e, au, pw)
    # the edge's domain, never the member's address (redialled: the member, 403)
    frm = re.search(rf'(?mi)^From: "Portaria A" <sip:{re.escape(t)}\*7001@([^>;]+)>', inv)
    assert frm and frm.group(1) != m.ip and m.ip not in frm.group(1), inv
    assert not re.search(r"(?mi)^(P-Asserted-Identity|Remote-Party-ID|X-Edge-[\w-]+):",
                         inv), inv
    (row,) = e.cdrs(call_id=res.call_ids[0], expect=1)
    assert (row["kind"], row["parent_call_id"]) == ("pool_leg", "parent-call-1@edge"), row
    assert (row["caller_id"], row["caller_name"]) == (f"{t}*7001", "Portaria A"), row
