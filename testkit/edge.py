"""The edge under test: the project's own launcher (edgectl.stack) started on
ephemeral loopback ports in a temporary run directory, plus helpers that
drive it the way an operator does (the real ``edgectl`` CLI as a subprocess)
and observe it (JSON-RPC, Redis, PostgreSQL)."""

from __future__ import annotations

import copy
import itertools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Self

from edgecore import config as edgeconfig
from edgecore.config import Config
from edgectl import rpc
from edgectl.db import EdgeError
from edgectl.provision import default_auth_username
from edgectl.stack import Kamailio, Stack
from testkit import pgtemplate
from testkit.ports import MAX_LOCAL_NODES, free_port, worker_share
from testkit.stacks import ephemeral_config

ROOT = Path(__file__).resolve().parents[1]

_tenant_ids = itertools.count(20001)
_rtp_base = itertools.count(0)


def _rtp_slot() -> int:
    """One of 20 RTP port ranges; under pytest-xdist each worker takes its
    own share of them (gw0: 0, 2, 4...; gw1: 1, 3, 5... with two workers), so
    the rtpengines of two workers' edges never draw from one range."""
    worker, workers = worker_share()
    return (worker + workers * next(_rtp_base)) % 20


def test_config(run_dir: Path, name: str = "edge1", listen_ip: str = "127.0.0.1",
                **sections: dict[str, Any]) -> Config:
    base = 41000 + 1000 * _rtp_slot()
    cfg = ephemeral_config(run_dir, name, listen_ip, (base, base + 999))
    cfg.sip.children = 2
    cfg.sip.shm_mb = 64
    cfg.sip.tcp_children = 2
    cfg.sip.log_level = 2
    cfg.sip.min_expires = 1
    cfg.sip.usrloc_timer = 1
    cfg.sip.ring_timeout = 3
    # a 2xx never ACKed ends at the dialog module's first 90 s sweep past this
    # (production: 32 s); the test of that release waits for it
    cfg.sip.noack_timeout = 4
    cfg.cache.poll_ms = 100
    # a node off loopback (the WebRTC tests' namespace address) refuses the
    # published nonce secret
    cfg.auth.nonce_secret = "test-suite-nonce-secret"
    # the suite's own clients (127.0.0.1) make many deliberate auth failures;
    # attack tests come from other loopback addresses
    cfg.security.exempt_sources = ["127.0.0.1/32"]
    cfg.api.serve = False               # the API's own tests turn it on (api={"serve": True})
    for section, values in sections.items():
        for k, v in values.items():
            setattr(getattr(cfg, section), k, v)
    return cfg


class Edge:
    """A private edge in run_dir, stopped by PID: the suite's (the config of
    :func:`test_config` with ``sections`` applied) or, given ``cfg``, any
    other (the load kit's benchmarks); ``nodes`` > 1: a local cluster."""

    def __init__(self, run_dir: Path, listen_ip: str = "127.0.0.1", *,
                 cfg: Config | None = None, nodes: int = 1, initdb: bool = False,
                 **sections: dict[str, Any]):
        """initdb: the stack runs PostgreSQL's initdb itself (as `make up` on a
        fresh machine does) rather than starting on a copy of the session's
        initdb output (testkit/pgtemplate.py)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg = cfg if cfg is not None else test_config(run_dir, "edge1", listen_ip,
                                                            **sections)
        if not initdb:
            pgtemplate.seed(self.cfg)
        self.cfg_path = run_dir / "edge.toml"
        self.cfg_path.write_text(edgeconfig.dumps(self.cfg))
        self.stack = Stack(self.cfg, self.cfg_path, nodes=nodes)
        self.nodes: list[Kamailio] = []

    def add_node(self, name: str = "edge2", listen_ip: str | None = None,
                 udp_port: int | None = None, start: bool = True,
                 **sections: dict[str, Any]) -> "Kamailio":
        """Another Kamailio edge node on its own address/ports, sharing this
        stack's Redis, PostgreSQL and rtpengine (stopped with the stack)."""
        cfg = copy.deepcopy(self.cfg)
        cfg.node.name = name
        if listen_ip:
            cfg.sip.listen_ip = cfg.sip.advertised_ip = listen_ip
        ip, n = cfg.sip.listen_ip, MAX_LOCAL_NODES
        cfg.sip.udp_port = cfg.sip.tcp_port = udp_port or free_port(ip, nodes=n)
        cfg.sip.tls_port = free_port(ip, nodes=n)
        cfg.sip.wss_port = free_port(ip, nodes=n)
        for section, values in sections.items():
            for k, v in values.items():
                setattr(getattr(cfg, section), k, v)
        path = self.cfg.run_dir / f"{name}.toml"
        path.write_text(edgeconfig.dumps(cfg))
        node = Kamailio(cfg, path)
        self.nodes.append(node)
        if start:
            node.start()
        return node

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> Self:
        try:
            self.stack.up()
        except BaseException:
            self.stack.down()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.stack.down()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *a: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------
    @property
    def sip(self) -> tuple[str, int]:
        return (self.cfg.sip.listen_ip, self.cfg.sip.udp_port)

    @property
    def target(self) -> str:
        return f"{self.cfg.sip.listen_ip}:{self.cfg.sip.udp_port}"

    # -- the operator's CLI --------------------------------------------------------
    def ctl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env.pop(edgeconfig.ENV_VAR, None)
        return subprocess.run([sys.executable, "-m", "edgectl", "--config", str(self.cfg_path),
                               *args], capture_output=True, text=True, input=input, env=env,
                              cwd=ROOT, timeout=60)

    def ctl_ok(self, *args: str, input: str | None = None) -> str:
        out = self.ctl(*args, input=input)
        assert out.returncode == 0, f"edgectl {' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def new_tenant(self, name: str = "Test tenant", *flags: str,
                   ranges: tuple[tuple[str, str], ...] = (("7000", "7099"),)) -> str:
        tid = f"{next(_tenant_ids):05d}"
        self.ctl_ok("tenant", "add", tid, "--name", name, *flags)
        for first, last in ranges:
            self.ctl_ok("range", "add", tid, first, last)
        return tid

    def new_device(self, tenant: str, ext: str, password: str | None = None) -> tuple[str, str]:
        """Provision a device; returns (auth username, password)."""
        password = password or f"pw-{tenant}-{ext}"
        self.ctl_ok("device", "add", tenant, ext, "--password", password)
        return default_auth_username(tenant, ext), password

    # -- observation -------------------------------------------------------------
    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """One scrape of the stack's /metrics: (sample name, labels) -> value."""
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://{self.cfg.ops.metrics_listen}:{self.cfg.ops.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        out = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value in a fresh scrape (0 when absent)."""
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    def cdrs(self, *, call_id: str | None = None, tenant: str | None = None,
             expect: int | None = None, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Rows of edge_cdr, waiting until `expect` of them were shipped."""
        import psycopg
        from psycopg.rows import dict_row

        where, args = ["true"], []
        if call_id is not None:
            where.append("call_id = %s")
            args.append(call_id)
        if tenant is not None:
            where.append("tenant = %s")
            args.append(tenant)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.cfg.postgres.dsn, row_factory=dict_row) as conn:
                    rows = conn.execute(f"SELECT * FROM edge_cdr WHERE {' AND '.join(where)} "
                                        "ORDER BY setup_at, id", args).fetchall()
            except psycopg.OperationalError:
                rows = []
            if expect is None or len(rows) >= expect or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc.call(self.cfg.rpc_socket, method, *params)

    def contacts(self, tenant: str, ext: str) -> list[dict[str, Any]]:
        """usrloc contacts of an AOR as the running edge sees them."""
        try:
            res = self.rpc("ul.lookup", "location", f"{ext}@{tenant}")
        except rpc.RpcError as exc:
            if "not found" in str(exc).lower() or "no contacts" in str(exc).lower():
                return []
            raise
        contacts = res.get("Contacts", []) if isinstance(res, dict) else []
        out = []
        for c in contacts:
            out.append(c.get("Contact", c))
        return out

    def model_versions(self) -> tuple[int, int]:
        """(read-model version in Redis, version the node's workers trust)."""
        from edgestore import readmodel as rmstore
        from edgestore import redisconn
        r = redisconn.client(self.cfg.redis, decode_responses=True, socket_timeout=2)
        try:
            stored = int(r.get(rmstore.VER_KEY) or -1)
        finally:
            r.close()
        return stored, rpc.read_model_version(self.cfg.rpc_socket)

    def sync_marks(self) -> tuple[float, float | None, int]:
        """(when provisioning last changed -- PostgreSQL's provisioning_changed,
        moved by every provisioning statement --, the sync follower's applied
        mark -- edge:synced_at, written in the MULTI that bumps the version --
        or None, and that version)."""
        from edgestore import readmodel as rmstore
        from edgestore import redisconn
        with self.db() as conn:
            row = conn.execute("SELECT extract(epoch FROM changed_at) "
                               "FROM provisioning_changed").fetchone()
        r = redisconn.client(self.cfg.redis, decode_responses=True, socket_timeout=2)
        try:
            synced, ver = r.mget(rmstore.SYNCED_AT_KEY, rmstore.VER_KEY)
        finally:
            r.close()
        return (float(row[0]) if row else 0.0, float(synced) if synced else None,
                int(ver) if ver else -1)

    def wait_synced(self, timeout: float = 5.0) -> None:
        """Until provisioning changes made so far are visible to the node: the
        follower applied them (its mark is at or past the last change: one
        host, one clock), the node's workers trust that version or a later
        one and its device cache holds them. Readiness, never a sleep: a NOTIFY still on its way shows
        as a mark behind the change."""
        deadline = time.monotonic() + timeout
        while True:
            changed, synced, stored = self.sync_marks()
            node = self.node_model_version() if synced is not None else -1
            if synced is not None and synced >= changed and stored >= 0 and node >= stored \
                    and self.node_cache_pending() == 0:
                return
            if time.monotonic() > deadline:
                raise EdgeError(f"read model not propagated to the node after {timeout}s "
                                f"(last change {changed:.3f}, follower's mark {synced}, "
                                f"Redis version {stored}, node {node})")
            time.sleep(0.05)

    def model_version(self) -> int:
        return self.model_versions()[0]

    def node_model_version(self) -> int:
        """The read-model version the node's workers currently trust (-1:
        the node cannot reach the read model)."""
        return rpc.read_model_version(self.cfg.rpc_socket)

    def node_cache_pending(self) -> int:
        """Tenants the node's timer has still to fetch into its device cache
        (kemi/nodecache.py: 0 once every device is there, -1 before it began)."""
        res = self.rpc("pv.shvGet", "edge_fill")
        if isinstance(res, list) and res:
            res = res[0]
        return int(res.get("value", -1)) if isinstance(res, dict) else -1

    def redis(self) -> Any:
        import redis
        from edgestore import redisconn
        return redisconn.client(self.cfg.redis, decode_responses=True)

    def db(self) -> Any:
        import psycopg
        return psycopg.connect(self.cfg.postgres.dsn, autocommit=True)

    def kamailio_pids(self) -> set[int]:
        """The main Kamailio process and all its children."""
        main = self.stack.kamailio.pid
        assert main is not None
        out = {main}
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    stat = (p / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                    out.add(int(p.name))
        return out

    def log(self) -> str:
        return self.stack.kamailio.log_path.read_text(errors="replace")


def wait_for(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
