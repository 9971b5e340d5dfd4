"""Redis high availability: the edge against a Redis primary, a replica and
three Sentinels (quorum 2). Killing the primary makes the Sentinels promote
the replica; registrations and calls work again within a stated bound, no
wrong password is ever accepted meanwhile, bans and a call in progress's
call-limit slot act the same on the new primary, and no Kamailio process
dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from edgectl.provision import default_auth_username
from edgectl.stack import stop_pid
from testkit.ports import free_port
from harness import sipp
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
FAILOVER_BOUND = 20.0      # seconds from the primary's death to a working edge
HELD_CALL_MS = 12000       # a call in progress across the failover (measured: 2-3 s)
MASTER = "edge"


class RedisHA:
    """The replica and the Sentinels (the primary is the stack's own Redis)."""

    def __init__(self, run_dir: Path, primary_port: int):
        self.dir = run_dir
        self.primary_port = primary_port
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], name: str) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen(["redis-server", *args], stdout=log,
                                           stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, start_new_session=True))
        log.close()

    def start(self) -> None:
        rdir = self.dir / "replica"
        rdir.mkdir(parents=True, exist_ok=True)
        self._spawn(["--bind", "127.0.0.1", "--port", str(self.replica_port), "--dir", str(rdir),
                     "--replicaof", "127.0.0.1", str(self.primary_port), "--save", "",
                     "--appendonly", "no"], "replica")
        for i, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel{i}.conf"
            conf.write_text(f"bind 127.0.0.1\nport {port}\ndir {self.dir}\n"
                            f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                            f"sentinel down-after-milliseconds {MASTER} 1000\n"
                            f"sentinel failover-timeout {MASTER} 5000\n"
                            f"sentinel parallel-syncs {MASTER} 1\n")
            self._spawn([str(conf), "--sentinel"], f"sentinel{i}")
        r = redis.Redis(port=self.replica_port, socket_timeout=1)
        wait_for(lambda: _quiet(lambda: r.info("replication").get("master_link_status") == "up"),
                 timeout=15, what="replica in sync")
        for port in self.sentinel_ports:
            s = redis.Redis(port=port, socket_timeout=1, decode_responses=True)
            wait_for(lambda s=s: _quiet(lambda: int(s.sentinel_master(MASTER)["num-other-sentinels"])
                                        == 2 and int(s.sentinel_master(MASTER)["num-slaves"]) == 1),
                     timeout=20, what="sentinels know each other and the replica")

    def primary(self) -> int:
        s = redis.Redis(port=self.sentinel_ports[0], socket_timeout=1, decode_responses=True)
        return int(s.sentinel_get_master_addr_by_name(MASTER)[1])

    def stop(self) -> None:
        for p in self.procs:
            stop_pid(p.pid, "redis-server", timeout=5)
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass


def _quiet(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None


@pytest.fixture
def ha_edge(tmp_path: Path) -> Iterator[tuple[Edge, RedisHA]]:
    sentinels_ports = [free_port() for _ in range(3)]
    e = Edge(tmp_path / "edge",
             redis={"sentinels": [f"127.0.0.1:{p}" for p in sentinels_ports],
                    "master_name": MASTER})
    primary = int(e.cfg.redis.url.rsplit(":", 1)[1].split("/")[0])
    ha = RedisHA(tmp_path, primary)
    ha.sentinel_ports = sentinels_ports
    try:
        e.stack.redis.start()
        e.stack._save()
        ha.start()
        e.start()
        yield e, ha
    finally:
        e.stop()
        ha.stop()


def _children(pid: int) -> set[int]:
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(d))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _register(edge: Edge, au: str, pw: str) -> int | None:
    with SipClient(edge.sip, timeout=1.0) as c:
        _, r = c.register(au, pw)
        return None if r is None else r.code


def _call(edge: Edge, au: str, pw: str, dialled: str, hold_ms: int = 200) -> int:
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    res = sipp.run(edge.target, SCEN / "call_any.xml", [row], timeout=15 + hold_ms / 1000,
                   extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"])
    return [c for c in res.received_codes if c >= 200 and c != 407][0]


def _answered(edge: Edge, src: str) -> bool:
    """Does the edge answer anything from this source (a banned one: no)?"""
    with SipClient(edge.sip, local_ip=src, timeout=1) as c:
        return c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:probe@x", "sip:probe@x"),
                         timeout=1) is not None


def _wait_banned(edge: Edge, src: str) -> None:
    """A ban in Redis reaches the node's table at its next read-model poll
    (cache.poll_ms): from then on the source gets no answer at all."""
    wait_for(lambda: not _answered(edge, src), timeout=5, what=f"{src} banned on the node")


def _bans(edge: Edge) -> set[str]:
    return {b["who"] for b in json.loads(edge.ctl_ok("ban", "list", "--json"))}


def test_primary_killed_edge_recovers_within_bound(ha_edge: tuple[Edge, RedisHA]):
    """Registrations and calls work again within FAILOVER_BOUND; what the
    edge keeps in Redis -- bans, the call-limit slot of a call in progress --
    is on the promoted replica and acts as before; no worker died."""
    e, ha = ha_edge
    t = e.new_tenant("ha", "--no-recording")
    (au_a, pw_a), (au_b, pw_b) = e.new_device(t, "7001"), e.new_device(t, "7002")
    pw_c = "pw-ha-limited"
    e.ctl_ok("device", "add", t, "7003", "--password", pw_c, "--max-calls", "1")
    au_c = default_auth_username(t, "7003")
    banned = "127.0.0.77"
    e.wait_synced()
    with sipp.SippServer(SCEN / "uas_answer.xml") as uas:
        with SipClient(e.sip) as c:
            _, r = c.register(au_b, pw_b, contact_port=uas.port)
            assert r is not None and r.code == 200
        assert _call(e, au_a, pw_a, "7002") == 200
        e.ctl_ok("ban", "add", banned, "--for", "600", "--reason", "ha test")
        _wait_banned(e, banned)
        # 7003's one call in progress across the failover: its slot is in Redis
        held: dict[str, int] = {}
        call_held = threading.Thread(target=lambda: held.setdefault(
            "code", _call(e, au_c, pw_c, "7002", hold_ms=HELD_CALL_MS)))
        call_held.start()
        wait_for(lambda: len(uas.received_requests("INVITE")) == 2, timeout=10,
                 what="the held call up")
        # what the primary has is on the replica too (replication is
        # asynchronous: a write acknowledged just before a crash may be lost)
        assert redis.Redis(port=ha.primary_port).execute_command("WAIT", 1, 2000) == 1
        kam = e.stack.kamailio.pid
        assert kam is not None
        workers = _children(kam)
        old = ha.primary()
        os.kill(e.stack.redis.pid, signal.SIGKILL)               # the primary dies
        t0 = time.monotonic()
        # within its first poll interval the node has not noticed yet: every
        # worker may still check a password against the node's device cache
        # (README, Request path); from then on it answers 503 until it reaches
        # the promoted replica
        wait_for(lambda: e.node_model_version() == -1, timeout=5, interval=0.01,
                 what="the node noticed the outage")
        recovered = None
        while time.monotonic() - t0 < FAILOVER_BOUND:
            # a wrong password never passes, whatever Redis is doing
            assert _register(e, au_a, "wrong") != 200
            if _register(e, au_a, pw_a) == 200:
                recovered = time.monotonic() - t0
                break
            time.sleep(0.2)
        assert recovered is not None, f"no registration within {FAILOVER_BOUND}s"
        assert ha.primary() == ha.replica_port != old          # the replica was promoted
        assert _call(e, au_a, pw_a, "7002") == 200
        # the ban is still in force, and listed from the new primary; a new
        # one is stored there
        assert banned in _bans(e) and not _answered(e, banned)
        e.ctl_ok("ban", "add", "127.0.0.78", "--for", "600", "--reason", "after failover")
        assert "127.0.0.78" in _bans(e)
        _wait_banned(e, "127.0.0.78")
        # the held call still holds 7003's only slot...
        assert call_held.is_alive(), "the held call ended before the failover was over"
        assert _call(e, au_c, pw_c, "7002") == 403
        call_held.join(timeout=30)
        assert held["code"] == 200
        # ...which its end freed, on the new primary
        assert _call(e, au_c, pw_c, "7002") == 200
    # every Kamailio process survived the failover
    assert _children(kam) == workers
    print(f"registrations back {recovered:.1f}s after the primary died")
