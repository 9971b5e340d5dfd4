"""Operations on the live edge: the counters ops scrape, the CDRs billing
reads, and `edgectl status` -- after real registrations and calls (answered,
busy, unanswered, refused by policy), with exact counts and fields.

Counters are per tenant, so each test's fresh tenants give exact numbers on
the shared edge."""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from typing import Iterator

import pytest

from edgecore.policy import RULE_BLOCK, RULE_UNKNOWN
from edgectl import cdr as edgecdr
from harness import sipp
from harness.calls import SCEN, call, final_code, register
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient



def test_calls_leave_exact_counters_and_cdrs(edge: Edge):
    a = edge.new_tenant("ops A")
    b = edge.new_tenant("ops B", ranges=())
    global_b = f"56{b}001"
    edge.ctl_ok("range", "add", b, f"56{b}000", f"56{b}999")
    caller = edge.new_device(a, "7001")
    answer, busy, ring = (edge.new_device(a, e) for e in ("7002", "7003", "7004"))
    edge.new_device(b, global_b)
    edge.wait_synced()
    with ExitStack() as st:
        for (au, pw), scen in ((answer, "uas_answer.xml"), (busy, "uas_busy.xml"),
                               (ring, "uas_ring.xml")):
            uas = st.enter_context(sipp.SippServer(SCEN / scen))
            register(edge, au, pw, uas.port)
        with SipClient(edge.sip) as c:                  # a wrong password
            _, r = c.register(caller[0], "not-the-password")
            assert r is not None and r.code == 401
        placed = {}
        for dialled, expected in (("7002", 200), ("7003", 486), ("7004", 408), ("7099", 404),
                                  (global_b, 403)):
            res = call(edge, *caller, dialled)
            assert final_code(res) == expected, res.describe()
            placed[res.call_ids[0]] = (dialled, expected)

    rows = edge.cdrs(tenant=a, expect=5)
    assert {r["call_id"]: (r["callee"], r["final_code"]) for r in rows} == placed
    by_code = {r["final_code"]: r for r in rows}
    ok = by_code[200]
    assert ok["answer_at"] and ok["duration_ms"] >= 150 and ok["callee_tenant"] == a
    assert ok["setup_at"] <= ok["answer_at"] <= ok["end_at"]
    for code in (486, 408, 404, 403):
        r = by_code[code]
        assert r["answer_at"] is None and r["duration_ms"] == 0 and r["setup_at"] <= r["end_at"]
    assert by_code[486]["final_reason"] == "Busy Here"
    assert by_code[403]["callee_tenant"] == b and "Cross-Tenant" in by_code[403]["final_reason"]
    assert by_code[404]["callee_tenant"] is None
    assert all(r["caller"] == "7001" and r["media"] == "direct" and r["pool_member"] is None
               and r["recording"] is None and r["kind"] == "call" for r in rows)

    m = edge.metrics()

    def v(name: str, **labels: str) -> float:
        return m.get((name, frozenset(labels.items())), 0.0)

    assert v("edge_call_attempts_total", tenant=a) == 5
    assert v("edge_call_outcomes_total", tenant=a, **{"class": "2xx"}) == 1
    assert v("edge_call_outcomes_total", tenant=a, **{"class": "4xx"}) == 4
    assert v("edge_policy_denials_total", tenant=a, rule=RULE_UNKNOWN) == 1
    assert v("edge_policy_denials_total", tenant=a, rule=RULE_BLOCK) == 1
    assert v("edge_registrations_total", tenant=a, result="ok") == 3
    assert v("edge_auth_failures_total", tenant=a, method="REGISTER") == 1
    assert v("edge_registered_devices", tenant=a) == 3
    assert v("edge_registered_contacts", tenant=a) == 3
    assert v("edge_call_attempts_total", tenant=b) == 0
    # Kamailio's own counters and the stack's gauges are there too
    node = edge.cfg.node.name
    assert v("kamailio_tmx_UAS_transactions", node=node) >= 5
    assert ("kamailio_sl_sent_replies", frozenset({("node", node)})) in m
    assert v("edge_node_up", node=node) == 1 and v("edge_sync_lag_seconds") == 0
    assert ("edge_rtpengine_sessions", frozenset()) in m
    # no device, number or address ever becomes a label
    for name, labels in m:
        assert {k for k, _ in labels} <= {"tenant", "class", "rule", "result", "method",
                                           "kind", "reason", "member", "state", "node"}, name


def test_counters_of_every_worker_add_up(edge: Edge):
    t = edge.new_tenant("ops workers")
    devices = [edge.new_device(t, f"70{i:02d}") for i in range(30)]
    edge.wait_synced()
    # concurrently, half over TCP: both UDP workers and both TCP workers of
    # the node get some (an idle UDP worker would otherwise take them all)
    from concurrent.futures import ThreadPoolExecutor

    def reg(i: int) -> None:
        au, pw = devices[i % 30]
        with SipClient(edge.sip, tcp=bool(i % 2)) as c:
            _, r = c.register(au, pw)
            assert r is not None and r.code == 200
    with ThreadPoolExecutor(max_workers=12) as ex:
        list(ex.map(reg, range(40)))
    assert edge.metric("edge_registrations_total", tenant=t, result="ok") == 40
    # the 40 were counted by several processes (UDP receivers and TCP
    # workers are different processes) into one item of the node's shared
    # table, which the exporter read over RPC
    from edgecore import metrics
    from edgectl import counters

    dump = edge.rpc("htable.dump", metrics.table("registrations"))
    items = dict(counters.table_items(dump))
    assert items[metrics.key("registrations", (t, "ok"))] == 40


def test_a_counter_with_more_label_sets_than_a_datagram_holds_is_scraped_whole(edge: Edge):
    """3,000 label sets in one counter's table: its dump does not fit the
    RPC datagram socket's reply (it times out there), and the exporter, which
    reads the node's FIFO, still shows every one of them."""
    from edgecore import metrics
    from edgectl import rpc

    table = metrics.table("policy_denials")
    n = 3000
    for i in range(n):
        edge.rpc("htable.seti", table, metrics.key("policy_denials", (f"zzfifo{i:05}", "r")),
                 i + 1)
    with pytest.raises(rpc.RpcError):
        rpc.call(edge.cfg.rpc_socket, "htable.dump", table, timeout=3)
    shown = {}
    for (name, lbl), v in edge.metrics().items():
        labels = dict(lbl)
        if name == "edge_policy_denials_total" and labels["tenant"].startswith("zzfifo"):
            shown[labels["tenant"]] = v
    assert len(shown) == n
    assert shown["zzfifo00000"] == 1 and shown[f"zzfifo{n - 1:05}"] == n


def test_status_shows_the_running_stack(edge: Edge):
    t = edge.new_tenant("ops status")
    devs = [edge.new_device(t, e) for e in ("7001", "7002", "7003", "7004")]
    edge.wait_synced()
    for au, pw in devs:
        register(edge, au, pw)
    register(edge, *devs[0])                         # a second contact of 7001
    busy = edge.new_device(t, "7005")
    edge.wait_synced()
    with sipp.SippServer(SCEN / "uas_busy.xml") as uas:
        register(edge, *busy, port=uas.port)
        assert final_code(call(edge, *devs[1], "7005")) == 486
    edge.cdrs(tenant=t, expect=1)
    # (a recorded tenant's calls would now go to this member: added after the call)
    member = "sip:127.0.0.199:5099"                  # nobody answers there
    edge.ctl_ok("pool", "add", member)
    edge.ctl_ok("pool", "drain", member)
    edge.ctl_ok("ban", "add", "10.77.0.9", "--for", "600", "--reason", "ops test")
    try:
        d = wait_for(lambda: _status_when(edge, t, member), timeout=15)
        mine = next(x for x in d["top_tenants"] if x["tenant"] == t)
        assert mine == {"tenant": t, "devices": 5, "contacts": 6}
        pool = {p["member"]: p for p in d["pool"]}
        listed = {p["uri"]: p for p in json.loads(edge.ctl_ok("pool", "list", "--json"))}
        assert pool[member]["state"] == listed[member]["edge_sees"]
        assert pool[member]["state"].startswith("disabled") and pool[member]["calls"] == 0
        assert any(b["value"] == "10.77.0.9" and b["reason"] == "ops test" for b in d["bans"])
        assert {"code": 486, "reason": "Busy Here", "tenant": t, "calls": 1} == \
            {k: v for k, v in next(f for f in d["recent_failures"] if f["tenant"] == t).items()
             if k != "last"}
        assert d["nodes"] == {edge.cfg.node.name: {"up": True, "model_behind": 0}}
        assert d["sync_lag_seconds"] == 0 and not d["errors"]
        text = edge.ctl_ok("status", "--top", "50")
        assert f"{t}" in text and member in text and "10.77.0.9" in text and "Busy Here" in text
        assert "read model: in sync" in text
        bad = edge.ctl("status", "--top", "0")
        assert bad.returncode != 0 and bad.stderr.count("\n") == 1
    finally:
        edge.ctl("ban", "remove", "10.77.0.9")
        edge.ctl("pool", "remove", member, "--force")


def _status_when(edge: Edge, tenant: str, member: str) -> dict | None:
    d = json.loads(edge.ctl_ok("status", "--json", "--top", "1000"))
    mine = [x for x in d["top_tenants"] if x["tenant"] == tenant]
    if mine and mine[0]["devices"] == 5 and any(p["member"] == member and
                                                p["state"].startswith("disabled")
                                                for p in d["pool"]):
        return d
    return None


def test_cdr_of_a_call_in_progress_survives_a_postgresql_restart(fresh_edge: Edge):
    edge = fresh_edge
    t = edge.new_tenant("ops outage")
    caller, callee = edge.new_device(t, "7001"), edge.new_device(t, "7002")
    edge.wait_synced()
    with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
        register(edge, *callee, port=uas.port)
        out: dict[str, sipp.SippResult] = {}
        th = threading.Thread(target=lambda: out.setdefault("r", call(edge, *caller, "7002",
                                                                      hold_ms=4000)))
        th.start()
        wait_for(lambda: _active_dialogs(edge) == 1, timeout=10)
        edge.stack.postgres.stop()                   # mid-call
        try:
            th.join(timeout=30)
            assert final_code(out["r"]) == 200
            # the call ended while PostgreSQL was down: its CDR waits in the spool
            wait_for(lambda: edgecdr.backlog(edge.cfg.cdr_spool) == 1, timeout=10)
            assert edge.metric("edge_cdr_backlog") == 1
            wait_for(lambda: edge.metric("edge_cdr_ship_failures_total") >= 1, timeout=10)
            assert edgecdr.backlog(edge.cfg.cdr_spool) == 1
            # routing never needed PostgreSQL: a call placed now still works
            assert final_code(call(edge, *caller, "7002")) == 200
        finally:
            edge.stack.postgres.start()
    rows = edge.cdrs(tenant=t, expect=2, timeout=20)
    assert len(rows) == 2
    held = next(r for r in rows if r["call_id"] == out["r"].call_ids[0])
    assert held["final_code"] == 200 and held["duration_ms"] >= 3900
    wait_for(lambda: edgecdr.backlog(edge.cfg.cdr_spool) == 0, timeout=10)


def _active_dialogs(edge: Edge) -> int:
    res = edge.rpc("stats.get_statistics", "all")
    for line in res:
        if line.startswith("dialog:active_dialogs"):
            return int(line.split("=")[1])
    return -1


@pytest.mark.parametrize("args", [("cdr", "list", "--limit", "x"), ("status", "--top", "-1")])
def test_bad_arguments_get_one_line(edge: Edge, args):
    out = edge.ctl(*args)
    assert out.returncode != 0 and out.stderr.strip().count("\n") <= 1 or "usage" in out.stderr


# -- gauges with real values: bans, pool calls, rtpengine, sync lag ---------------------

@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """A private edge whose gauges are read on every scrape (no cache), so a
    call in progress shows in them; it gets a pool member, which the shared
    edge's other tests must not."""
    e = Edge(tmp_path_factory.mktemp("live"), ops={"registrations_every": 0.0},
             pool={"ping_interval": 1})
    e.start()
    try:
        yield e
    finally:
        e.stop()


def test_a_ban_shows_in_the_ban_counter_and_the_bans_in_force(live: Edge):
    scanner = "127.0.0.66"
    total = ("edge_bans_total", frozenset({("kind", "source"), ("reason", "scanner_user_agent")}))
    active = ("edge_bans_active", frozenset({("kind", "src")}))
    before = live.metrics()
    with SipClient(live.sip, local_ip=scanner, timeout=1) as c:
        # a scanner's first packet: dropped unanswered, its source banned
        assert c.request(c.build("OPTIONS", f"sip:{live.target}", "sip:100@x", "sip:100@x",
                                 ["User-Agent: friendly-scanner"]), timeout=1) is None
    try:
        m = wait_for(lambda: (lambda m: m if m.get(active, 0) == before.get(active, 0) + 1
                              else None)(live.metrics()), timeout=10, what="the ban in force")
        assert m.get(total, 0) == before.get(total, 0) + 1
    finally:
        live.ctl_ok("ban", "remove", scanner)
    assert live.metric("edge_bans_active", kind="src") == before.get(active, 0)


def test_a_pool_call_in_progress_shows_as_member_calls_and_rtpengine_session(live: Edge):
    t = live.new_tenant("ops live pool")                  # recorded: through the pool
    caller, callee = live.new_device(t, "7001"), live.new_device(t, "7002")
    member = sipp.SippServer(SCEN / "member.xml", local_ip="127.0.0.58", port=5060)
    uri = f"sip:{member.local_ip}:5060"
    try:
        live.ctl_ok("pool", "add", uri)
        live.wait_synced()
        register(live, *callee)
        calls, sessions = ("edge_pool_member_calls", frozenset({("member", uri)})), \
            ("edge_rtpengine_sessions", frozenset())
        assert live.metrics().get(calls) == 0
        # a NATed caller (private Contact and SDP address): media anchored
        row = [caller[0], f"[authentication username={caller[0]} password={caller[1]}]",
               "7002", caller[0], "192.168.60.7", "192.168.60.7"]
        out: dict[str, sipp.SippResult] = {}
        th = threading.Thread(target=lambda: out.setdefault("r", sipp.run(
            live.target, SCEN / "call_any.xml", [row], timeout=30,
            extra=["-d", "4000", "-default_behaviors", "all,-abortunexp"])))
        th.start()
        try:
            m = wait_for(lambda: (lambda m: m if m.get(calls) == 1 else None)(live.metrics()),
                         timeout=4, what="the call on the member")
            assert m[sessions] >= 1
        finally:
            th.join(timeout=30)
        assert final_code(out["r"]) == 200 and member.received_requests("INVITE")
        m = wait_for(lambda: (lambda m: m if m.get(calls) == 0 else None)(live.metrics()),
                     timeout=5, what="the call ended on the member")
        assert m[sessions] == 0
    finally:
        live.ctl("pool", "remove", uri, "--force")
        member.stop()


def test_sync_lag_grows_while_the_follower_is_stopped_and_returns_to_zero(live: Edge):
    lag = "edge_sync_lag_seconds"
    wait_for(lambda: live.metric(lag) == 0, timeout=10, what="the read model in sync")
    live.stack.sync.stop()
    try:
        live.new_tenant("ops lag")                      # in PostgreSQL, not in Redis
        wait_for(lambda: live.metric(lag) >= 1.0, timeout=5, what="the lag growing")
        assert "behind" in live.ctl_ok("status")
    finally:
        live.stack.sync.start()
    wait_for(lambda: live.metric(lag) == 0, timeout=10, what="the read model in sync")
