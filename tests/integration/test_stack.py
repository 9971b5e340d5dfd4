"""The launcher behind `make up`/`make down`: starting twice is harmless,
stopping stops exactly the processes it started (by PID), and the project's
PostgreSQL/Redis live under the run directory on their own ports."""

from __future__ import annotations

import json
import os
import signal

import pytest

from testkit.edge import Edge, wait_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_up_twice_is_harmless_and_down_stops_by_pid(tmp_path):
    e = Edge(tmp_path / "stack", initdb=True)
    try:
        e.start()
        state = json.loads((e.cfg.run_dir / "stack.json").read_text())
        pids = {name: s["pid"] for name, s in state.items()}
        assert set(pids) == {"postgres", "redis", "rtpengine", "sync", "kamailio-edge1", "ops"}
        # a second `up` (another launcher process, as `make up` twice) starts nothing
        out = e.ctl_ok("stack", "up", "--no-demo")
        assert "already running" in out
        again = json.loads((e.cfg.run_dir / "stack.json").read_text())
        assert {n: s["pid"] for n, s in again.items()} == pids
        status = e.ctl_ok("stack", "status")
        for name, pid in pids.items():
            assert f"pid {pid}" in status
        # data and sockets under the run directory
        assert (e.cfg.run_dir / "pg" / "PG_VERSION").exists()
        assert (e.cfg.run_dir / "redis").is_dir()
        assert e.cfg.rpc_socket.is_socket()
        # `down` from another process stops every one of them
        out = e.ctl_ok("stack", "down")
        for name, pid in pids.items():
            assert name in out
            assert not _alive(pid), f"{name} ({pid}) still running"
        assert e.ctl("stack", "status").returncode == 3
        assert "nothing was running" in e.ctl_ok("stack", "down")
    finally:
        e.stop()


def test_up_provisions_demo_data_once(tmp_path):
    e = Edge(tmp_path / "demo", initdb=True)
    try:
        out = e.ctl_ok("stack", "up")
        assert "demo dataset provisioned" in out and "Point a phone at" in out
        tenants = json.loads(e.ctl_ok("tenant", "list", "--json"))
        assert {t["id"] for t in tenants} >= {"00001", "00002", "00003", "00004", "00010"}
        e.ctl_ok("stack", "down")
        out = e.ctl_ok("stack", "up")                 # data survives; not provisioned twice
        assert "demo dataset provisioned" not in out
        assert len(json.loads(e.ctl_ok("tenant", "list", "--json"))) == len(tenants)
    finally:
        e.ctl("stack", "down")


def test_up_with_several_nodes_makes_one_edge(tmp_path):
    """`make up NODES=2`: two nodes, registrations shared, `down` stops both."""
    from testkit.sipmsg import SipClient

    e = Edge(tmp_path / "two")
    try:
        bad = e.ctl("stack", "up", "--nodes", "0")
        assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0, bad.stderr
        out = e.ctl_ok("stack", "up", "--no-demo", "--nodes", "2")
        assert "edge2" in out
        state = json.loads((e.cfg.run_dir / "stack.json").read_text())
        assert {"kamailio-edge1", "kamailio-edge2"} <= set(state)
        t = e.new_tenant("two nodes")
        au, pw = e.new_device(t, "7001")
        e.wait_synced()
        with SipClient(e.sip) as c:
            _, r = c.register(au, pw)
            assert r is not None and r.code == 200
        from edgectl import rpc
        sock2 = e.cfg.run_dir / "edge2.rpc.sock"
        def on_node2():
            try:
                return rpc.call(sock2, "ul.lookup", "location", f"7001@{t}")
            except rpc.RpcError:
                return None
        wait_for(on_node2, timeout=10, what="registration replicated to edge2")
        st = json.loads(e.ctl_ok("status", "--json"))
        assert st["nodes"] == {"edge1": {"up": True, "model_behind": 0},
                               "edge2": {"up": True, "model_behind": 0}}
        pids = {n: s["pid"] for n, s in state.items()}
        out = e.ctl_ok("stack", "down")
        for name, pid in pids.items():
            assert not _alive(pid), f"{name} ({pid}) still running"
    finally:
        e.ctl("stack", "down")


def test_a_node_registers_restarts_and_routes_while_postgresql_is_down(tmp_path):
    """PostgreSQL is where operators provision; routing never needs it. With
    it down, REGISTER works, and a node that (re)starts meanwhile starts --
    its pool comes from the list file written from PostgreSQL before the
    outage, not from the database -- and routes calls: to a device, and to
    a pool member."""
    from edgectl import rpc
    from harness import sipp
    from testkit.sipmsg import SipClient
    from harness.calls import SCEN, call, final_code, register

    e = Edge(tmp_path / "pgdown")
    member = sipp.SippServer(SCEN / "member.xml", local_ip="127.0.0.57", port=5060)
    callee = sipp.SippServer(SCEN / "uas_answer.xml")
    try:
        e.start()
        rec = e.new_tenant("pg outage recorded")           # recorded: through the pool
        plain = e.new_tenant("pg outage direct", "--no-recording")
        rec_a, rec_b = e.new_device(rec, "7001"), e.new_device(rec, "7002")
        plain_a, plain_b = e.new_device(plain, "7001"), e.new_device(plain, "7002")
        e.ctl_ok("pool", "add", f"sip:{member.local_ip}:5060")
        e.wait_synced()

        e.stack.postgres.stop()
        register(e, *plain_b, port=callee.port)             # REGISTER: no PostgreSQL
        with SipClient(e.sip) as c:                         # and no unauthenticated pass
            _, r = c.register(plain_a[0], "wrong-password")
            assert r is not None and r.code == 401
        assert final_code(call(e, *plain_a, "7002")) == 200

        node = e.stack.kamailio
        node.stop()
        node.start()                                       # ready: RPC + read model
        pool = rpc.call(e.cfg.rpc_socket, "dispatcher.list")
        uris = [t["DEST"]["URI"] for s in pool["RECORDS"] for t in s["SET"]["TARGETS"]]
        assert uris == [f"sip:{member.local_ip}:5060"]
        # the restarted node lost its in-memory registrations: devices
        # register again, calls are routed
        register(e, *plain_b, port=callee.port)
        register(e, *rec_b)
        assert final_code(call(e, *plain_a, "7002")) == 200
        before = len(member.received_requests("INVITE"))
        assert final_code(call(e, *rec_a, "7002")) == 200
        assert len(member.received_requests("INVITE")) == before + 1
    finally:
        member.stop()
        callee.stop()
        e.stop()


def _group(pgid: int) -> set[int]:
    """PIDs of a daemon's session and process group (its own PID's)."""
    from edgectl.stack import group_members
    return set(group_members(pgid))


@pytest.mark.parametrize("victim", ["kamailio-edge1", "redis"])
def test_up_after_one_daemon_died_repairs_only_it_and_down_leaves_none(tmp_path, victim):
    e = Edge(tmp_path / "repair")
    try:
        e.ctl_ok("stack", "up", "--no-demo")
        before = {n: s["pid"] for n, s in
                  json.loads((e.cfg.run_dir / "stack.json").read_text()).items()}
        groups = {n: _group(pid) for n, pid in before.items()}
        assert len(groups["kamailio-edge1"]) > 2          # its main process and workers
        os.kill(before[victim], signal.SIGKILL)             # a crash of that one daemon
        wait_for(lambda: not _alive(before[victim]), 10, what=f"{victim} to die")

        out = e.ctl_ok("stack", "up", "--no-demo")
        assert out.splitlines()[0] == f"started: {victim}"
        after = {n: s["pid"] for n, s in
                 json.loads((e.cfg.run_dir / "stack.json").read_text()).items()}
        assert set(after) == set(before)
        for name, pid in before.items():
            if name == victim:
                assert after[name] != pid and _alive(after[name])
                # nothing of the dead one is left (Kamailio's workers held its ports)
                assert not [p for p in groups[name] if _alive(p)]
            else:                                           # the others untouched
                assert after[name] == pid and _alive(pid)
                assert _group(pid) >= {pid}
        assert e.rpc("core.version")                       # the node answers again
        e.ctl_ok("stack", "status")

        out = e.ctl_ok("stack", "down")
        everything = set().union(*groups.values(), *(_group(p) for p in after.values()),
                                 before.values(), after.values())
        left = [p for p in everything if _alive(p)]
        assert not left, f"still running after down: {left}"
        assert e.ctl("stack", "status").returncode == 3
    finally:
        e.ctl("stack", "down")
