"""The launcher behind `make up`/`make down`: starting twice is harmless,
stopping stops exactly the processes it started (by PID), and the project's
PostgreSQL/Redis live under the run directory on their own ports."""

from __future__ import annotations

import json
import os

from harness.edge import Edge


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
    e = Edge(tmp_path / "stack")
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
    e = Edge(tmp_path / "demo")
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
