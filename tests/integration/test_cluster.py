"""Several edge nodes acting as one edge: registrations replicated between
the nodes (DMQ, dmq_usrloc), calls delivered through the node that holds the
callee's connection (Path), NAT keepalives from the owning node only, and a
node's loss survived -- two real Kamailio nodes on their own loopback
addresses sharing Redis, PostgreSQL and rtpengine.

The devices register over TCP and never accept a connection: a call can
reach one only over the connection it opened, i.e. through its node."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from edgectl import cdr as edgecdr
from testkit.ports import free_port
from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient
from harness.ua import TcpDevice, reply_to

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
N1, N2 = "127.0.0.41", "127.0.0.42"
NATPING_INTERVAL = 1            # s: nathelper's keepalive period on both nodes


class Cluster:
    def __init__(self, edge: Edge, node2):
        self.edge, self.node2 = edge, node2
        self.n1 = (N1, edge.cfg.sip.udp_port)
        self.n2 = (N2, node2.cfg.sip.udp_port)

    def contacts_on(self, node_rpc, aor: str) -> list[dict]:
        from edgectl import rpc
        try:
            res = rpc.call(node_rpc, "ul.lookup", "location", aor)
        except rpc.RpcError:
            return []
        return [c.get("Contact", c) for c in res.get("Contacts", [])]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    p2 = free_port(N2)
    e = Edge(tmp_path_factory.mktemp("cluster"), listen_ip=N1,
             cluster={"peers": [f"{N2}:{p2}"], "server_id": 1},
             sip={"natping_interval": NATPING_INTERVAL},
             ops={"registrations_every": 0.0})      # gauges read on every scrape
    e.start()
    try:
        n2 = e.add_node("edge2", listen_ip=N2, udp_port=p2,
                        cluster={"peers": [f"{N1}:{e.cfg.sip.udp_port}"], "server_id": 2})
        yield Cluster(e, n2)
    finally:
        e.stop()


def call(node: tuple[str, int], au: str, pw: str, dialled: str,
         hold_ms: int = 300) -> sipp.SippResult:
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    return sipp.run(f"{node[0]}:{node[1]}", SCEN / "call_any.xml", [row], timeout=20,
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"])


def final(res: sipp.SippResult) -> int:
    return [c for c in res.received_codes if c >= 200 and c != 407][0]


def vias(msg: str) -> list[str]:
    return re.findall(r"(?mi)^(?:via|v)\s*:\s*SIP/2\.0/\w+\s+([^;\s]+)", msg)


def test_calls_between_devices_on_different_nodes_go_through_the_owner(cluster: Cluster):
    e = cluster.edge
    t = e.new_tenant("cluster")
    (au_a, pw_a), (au_b, pw_b) = e.new_device(t, "7001"), e.new_device(t, "7002")
    e.wait_synced()
    a = TcpDevice(cluster.n1, au_a, pw_a)
    b = TcpDevice(cluster.n2, au_b, pw_b)
    try:
        assert a.register() == 200 and b.register() == 200
        a.start(), b.start()
        # each node knows both devices (replicated), with the owner as Path
        for sock in (e.cfg.rpc_socket, cluster.node2.cfg.rpc_socket):
            for ext, owner in (("7001", N1), ("7002", N2)):
                got = wait_for(lambda: cluster.contacts_on(sock, f"{ext}@{t}"), timeout=10)
                assert owner in got[0]["Path"], got
        # B calls A through node 2: delivered over node 1's connection
        res = call(cluster.n2, au_b, pw_b, "7001")
        assert final(res) == 200, res.describe()
        inv = a.wait_request("INVITE")
        hops = vias(inv)
        assert any(h.startswith(N2) for h in hops) and any(h.startswith(N1) for h in hops), hops
        a.wait_request("BYE")                      # the dialog's BYE too
        # A calls B the same way, through node 1
        res = call(cluster.n1, au_a, pw_a, "7002")
        assert final(res) == 200, res.describe()
        hops = vias(b.wait_request("INVITE"))
        assert any(h.startswith(N1) for h in hops) and any(h.startswith(N2) for h in hops), hops
        b.wait_request("BYE")
        # one CDR per call, written by the node the caller used; the node
        # that delivered it (the callee's owner) writes none -- not even an
        # empty one the shipper would have to set aside as unparsable
        rows = e.cdrs(tenant=t, expect=2)
        wait_for(lambda: edgecdr.backlog(e.cfg.cdr_spool) == 0, timeout=15,
                 what="every node's spool shipped")
        rows = e.cdrs(tenant=t)
        assert sorted((r["caller"], r["node"], r["final_code"]) for r in rows) == \
            [("7001", "edge1", 200), ("7002", "edge2", 200)]
        assert len({r["call_id"] for r in rows}) == 2
        assert not list(e.cfg.cdr_spool.glob("*/*.bad"))
        assert "unparsable" not in e.stack.ops.log_path.read_text(errors="replace")
    finally:
        a.close()
        b.close()


def test_nat_keepalives_come_from_the_owning_node_only(cluster: Cluster):
    """Both nodes hold the NATed contact (replicated), only its owner pings
    it. A ping node 2 sent would follow the contact's Path through node 1
    and arrive from node 1's address too: what tells them apart is the
    ping's own Via (the node that made it) and how many pings arrive."""
    e = cluster.edge
    t = e.new_tenant("cluster ka")
    au, pw = e.new_device(t, "7001")
    e.wait_synced()
    window = 4.0
    pings: dict[str, float] = {}            # the pinging node's Via branch -> first seen
    with SipClient(cluster.n1) as c:
        # a private Contact address: the edge sees the device behind NAT
        _, r = c.register(au, pw, contact_host="192.168.77.5")
        assert r is not None and r.code == 200
        wait_for(lambda: cluster.contacts_on(cluster.node2.cfg.rpc_socket, f"7001@{t}"),
                 timeout=10)
        deadline = time.monotonic() + window
        c.sock.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                data, src = c.sock.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                continue
            msg = data.decode(errors="replace")
            if not msg.startswith("OPTIONS "):
                continue
            # answered, as a phone does: no retransmission inflates the count
            c.sock.sendto(reply_to(msg, 200, "OK").encode(), src)
            assert src[0] == N1, src
            hops = vias(msg)
            # made by node 1 (bottom Via) and relayed by node 1 alone
            assert hops and all(h.startswith(N1 + ":") for h in hops), hops
            origin = re.findall(r"branch=([^;\s]+)", msg.split("\r\n\r\n")[0])[-1]
            pings.setdefault(origin, time.monotonic())
    # one sender pings once per interval; two would send about twice that
    assert 2 <= len(pings) <= window / NATPING_INTERVAL + 1, sorted(pings.values())


def test_registrations_are_counted_once_on_a_cluster(cluster: Cluster):
    """Every node holds every contact (DMQ): the gauges and `edgectl status`
    count each contact once, not once per node."""
    e = cluster.edge
    t = e.new_tenant("cluster counts")
    (au_a, pw_a), (au_b, pw_b) = e.new_device(t, "7001"), e.new_device(t, "7002")
    e.wait_synced()
    for node, au, pw in ((cluster.n1, au_a, pw_a), (cluster.n1, au_a, pw_a),
                         (cluster.n2, au_b, pw_b)):
        with SipClient(node) as c:                 # 7001: two contacts on node 1
            _, r = c.register(au, pw)
            assert r is not None and r.code == 200
    for sock in (e.cfg.rpc_socket, cluster.node2.cfg.rpc_socket):     # replicated
        wait_for(lambda sock=sock: len(cluster.contacts_on(sock, f"7001@{t}")) == 2 and
                 len(cluster.contacts_on(sock, f"7002@{t}")) == 1, timeout=10,
                 what="both nodes holding all three contacts")
    # the nodes' timer processes write the counts within a poll interval
    wait_for(lambda: e.metric("edge_registered_contacts", tenant=t) == 3, timeout=10,
             what="the registration counts written")
    m = e.metrics()
    assert m[("edge_registered_devices", frozenset({("tenant", t)}))] == 2
    assert m[("edge_registered_contacts", frozenset({("tenant", t)}))] == 3
    assert m[("edge_node_up", frozenset({("node", "edge2")}))] == 1
    st = json.loads(e.ctl_ok("status", "--json", "--top", "1000"))
    assert set(st["nodes"]) == {"edge1", "edge2"}
    assert next(x for x in st["top_tenants"] if x["tenant"] == t) == \
        {"tenant": t, "devices": 2, "contacts": 3}
    text = e.ctl_ok("status", "--top", "1000")
    assert re.search(rf"(?m)^\s+{t}\s+2\s+3$", text), text
    # the registrations listing (API, console): each node's contacts, once
    from edgectl.service import Actor, Page, Service
    listed = Service(e.cfg, Actor("test")).registrations(t, Page(None))
    assert listed["total"] == 3
    assert [i["extension"] for i in listed["items"]] == ["7001", "7001", "7002"]
    assert len({i["contact"] for i in listed["items"]}) == 3


def test_losing_a_node_leaves_a_working_edge(cluster: Cluster):
    e = cluster.edge
    t = e.new_tenant("cluster loss")
    (au_a, pw_a), (au_b, pw_b), (au_c, pw_c) = (e.new_device(t, x)
                                                 for x in ("7001", "7002", "7003"))
    e.wait_synced()
    a = TcpDevice(cluster.n1, au_a, pw_a)
    b = TcpDevice(cluster.n2, au_b, pw_b)
    a2 = None
    try:
        assert a.register() == 200 and b.register() == 200
        a.start(), b.start()
        # a call on node 2 in progress while node 1 dies
        held: dict[str, sipp.SippResult] = {}
        th = threading.Thread(target=lambda: held.setdefault(
            "r", call(cluster.n2, au_c, pw_c, "7002", hold_ms=3000)))
        th.start()
        b.wait_request("INVITE")
        e.stack.kamailio.stop()                        # node 1 is gone
        th.join(timeout=30)
        assert final(held["r"]) == 200 and held["r"].rc == 0, held["r"].describe()
        assert b.wait_request("BYE")                   # ended normally on node 2
        # A's next registration lands on node 2; calls both ways work again
        a.close()
        a2 = TcpDevice(cluster.n2, au_a, pw_a)
        assert a2.register() == 200
        a2.start()
        res = call(cluster.n2, au_b, pw_b, "7001")
        assert final(res) == 200, res.describe()
        a2.wait_request("INVITE")
        res = call(cluster.n2, au_a, pw_a, "7002")
        assert final(res) == 200, res.describe()
        assert len(b.requests("INVITE")) == 2
    finally:
        a.close()
        b.close()
        if a2 is not None:
            a2.close()


# -- nodes sharing one address (make up NODES=3: every node on 127.0.0.1) -------------------
SHARED = "127.0.0.46"


@pytest.fixture(scope="module")
def same_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes on one address, told apart by their ports only."""
    p2 = free_port(SHARED)
    e = Edge(tmp_path_factory.mktemp("samehost"), listen_ip=SHARED,
             cluster={"peers": [f"{SHARED}:{p2}"], "server_id": 1})
    e.start()
    try:
        n2 = e.add_node("edge2", listen_ip=SHARED, udp_port=p2,
                        cluster={"peers": [f"{SHARED}:{e.cfg.sip.udp_port}"], "server_id": 2})
        c = Cluster(e, n2)
        c.n1, c.n2 = (SHARED, e.cfg.sip.udp_port), (SHARED, p2)
        yield c
    finally:
        e.stop()


def test_nodes_sharing_an_address_deliver_through_the_owner(same_host: Cluster):
    """Node 1 must not take node 2's Path (same host, other port) for its own:
    a TCP device on node 2 is reached over node 2's connection, a UDP device
    on node 2 through node 2 -- and a device on node 1 still from node 1."""
    c = same_host
    e = c.edge
    t = e.new_tenant("same host")
    (au_a, pw_a), (au_b, pw_b), (au_u, pw_u) = (e.new_device(t, x)
                                                 for x in ("7001", "7002", "7003"))
    e.wait_synced()
    a = TcpDevice(c.n1, au_a, pw_a)
    b = TcpDevice(c.n2, au_b, pw_b)
    port2 = c.n2[1]
    try:
        assert a.register() == 200 and b.register() == 200
        a.start(), b.start()
        wait_for(lambda: c.contacts_on(e.cfg.rpc_socket, f"7002@{t}"), timeout=10,
                 what="node 2's TCP contact replicated to node 1")
        # explain predicts the call answered, and so it is
        predicted = json.loads(e.ctl_ok("explain", au_a, "7002", "--json"))
        assert predicted["predicted_code"] is None and predicted["registered_contacts"], \
            predicted
        res = call(c.n1, au_a, pw_a, "7002")
        assert final(res) == 200, res.describe()
        hops = vias(b.wait_request("INVITE"))
        assert f"{SHARED}:{port2}" in hops and f"{SHARED}:{c.n1[1]}" in hops, hops
        b.wait_request("BYE")
        # the other way round, and a device on the node the call entered
        res = call(c.n2, au_b, pw_b, "7001")
        assert final(res) == 200, res.describe()
        hops = vias(a.wait_request("INVITE"))
        assert f"{SHARED}:{c.n1[1]}" in hops, hops
        # a UDP device registered on node 2, called from node 1: through node 2
        # (registered from the socket it answers on: calls go to the source)
        uport = free_port("127.0.0.47")
        with SipClient(c.n2, local_ip="127.0.0.47", local_port=uport) as reg:
            _, r = reg.register(au_u, pw_u)
            assert r is not None and r.code == 200
        with sipp.SippServer(SCEN / "uas_answer.xml", local_ip="127.0.0.47", port=uport) as uas:
            wait_for(lambda: c.contacts_on(e.cfg.rpc_socket, f"7003@{t}"), timeout=10,
                     what="node 2's UDP contact replicated to node 1")
            res = call(c.n1, au_a, pw_a, "7003")
            assert final(res) == 200, res.describe()
            hops = vias(uas.received_requests("INVITE")[0])
            assert f"{SHARED}:{port2}" in hops, hops
        # one CDR per call, by the node the caller used, with the real outcome
        rows = e.cdrs(tenant=t, expect=3)
        assert sorted((r["caller"], r["node"], r["final_code"]) for r in rows) == \
            [("7001", "edge1", 200), ("7001", "edge1", 200), ("7002", "edge2", 200)]
    finally:
        a.close()
        b.close()
