"""The native launcher: one node's daemons as processes on loopback.

``edgectl stack up`` starts, in order, the project's own PostgreSQL and Redis
(data under the run directory, on the config's ports, never a system-wide
instance), rtpengine, the schema migrations, the sync follower and Kamailio;
each is checked ready by speaking its protocol (a PostgreSQL connection, Redis
PING, rtpengine ng ping, Kamailio JSON-RPC), never by sleeping. PIDs are
recorded in ``<run_dir>/stack.json`` (with each one's start time, so a PID
reused by another process is never mistaken for it); ``edgectl stack down``
stops exactly those processes, by PID, after checking each PID still runs the
program it started. Every daemon starts in its own session, whose process
group id is its PID: stopping a daemon also stops what is left of its group
(Kamailio's workers outlive a killed main process and keep its ports).
Starting a stack that already runs is a no-op; after one daemon died, ``up``
clears what is left of that one and starts only it.

The tests build their stacks from the same :class:`Service` classes on
ephemeral ports, so what `make up` runs is what the suite tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
from psycopg.conninfo import conninfo_to_dict

from edgecore import config as edgeconfig
from edgecore.config import REPO_ROOT, Config
from edgectl import rpc, rtpengine
from edgectl.db import EdgeError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
KAMAILIO_CFG = REPO_ROOT / "kamailio" / "kamailio.cfg"
RTPENGINE_CONF = REPO_ROOT / "rtpengine" / "rtpengine.conf"


class StartError(EdgeError):
    pass


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from the state field on (proc(5): [0] state, [2] pgrp,
    [3] session, [19] starttime), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with the PID, what
    identifies one process for as long as the machine runs."""
    st = _stat(pid)
    return int(st[19]) if st else None


def _runs(pid: int, program: str) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(program.encode() in part for part in cmd[:3])


def _pid_alive(pid: int, program: str | None = None, started: int | None = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    st = _stat(pid)
    if st is None or st[0] == "Z":
        return False
    if started is not None and int(st[19]) != started:
        return False                        # the PID now belongs to another process
    return _runs(pid, program) if program else True


def group_members(pgid: int, program: str | None = None) -> list[int]:
    """Live processes of the session and process group a daemon of ours
    leads (start_new_session: both ids are its PID), running ``program``:
    what is left of a daemon whose main process died."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if (st is not None and st[0] != "Z" and int(st[2]) == pgid and int(st[3]) == pgid
                and (program is None or _runs(int(entry), program))):
            out.append(int(entry))
    return sorted(out)


def stop_group(pgid: int, program: str | None = None, timeout: float = 10.0,
               started: int | None = None) -> list[int]:
    """Stop what is left of a daemon's process group (by the PIDs found in
    it); returns those PIDs. Left alone when the group's id is the PID of a
    live process that is not that daemon (``started`` given: its start
    time): a PID is not handed out again while it still names a group, so
    only then could the group be someone else's."""
    st = _stat(pgid)
    if st is not None and st[0] != "Z" and not _pid_alive(pgid, program, started):
        return []
    members = group_members(pgid, program)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for pid in members:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_pid_alive(p) for p in members):
            for pid in members:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if not any(_pid_alive(p) for p in members):
            break
    return members


def stop_pid(pid: int, program: str | None = None, timeout: float = 10.0,
             sig: int = signal.SIGTERM) -> None:
    """Stop one process we started: signal, wait, then SIGKILL."""
    if not _pid_alive(pid, program):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return
        except ChildProcessError:
            if not _pid_alive(pid):
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


@dataclass
class Service:
    """One daemon of the stack."""
    cfg: Config
    name: str = ""
    program: str = ""            # what /proc/<pid>/cmdline must contain
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    pid: int | None = None
    started: int | None = None   # its start time (start_time), recorded with the PID

    @property
    def log_path(self) -> Path:
        return self.cfg.run_dir / "logs" / f"{self.name}.log"

    def prepare(self) -> None:
        """One-time set-up before the first start (data directories...)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        raise NotImplementedError

    def after_ready(self) -> None:
        """Work done once the daemon answers (create database, ...)."""

    def start(self, timeout: float = 30.0) -> None:
        from edgectl import logs

        self.prepare()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # a log past its size is rotated now too (while it runs: the ops service)
        logs.rotate(self.log_path, self.cfg.log.max_bytes, self.cfg.log.keep)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env(),
                                         cwd=str(self.cfg.run_dir), start_new_session=True)
        finally:
            log.close()
        self.pid = self.proc.pid
        self.started = start_time(self.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode} during start-up; "
                                 f"see {self.log_path}:\n{self.tail()}")
            if self.ready():
                self.after_ready()
                return
            time.sleep(0.05)
        self.stop()
        raise StartError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}:\n"
                         f"{self.tail()}")

    def alive(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid, self.program, self.started)

    def stop(self, timeout: float = 10.0) -> None:
        if self.pid is not None:
            if _pid_alive(self.pid, self.program, self.started):
                stop_pid(self.pid, self.program, timeout)
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
            stop_group(self.pid, self.program, timeout, self.started)   # workers of a killed main
        self.pid = None
        self.started = None
        self.proc = None

    def kill(self) -> None:
        """Abrupt death (SIGKILL), as in a crash."""
        if self.pid is not None:
            stop_pid(self.pid, self.program, 0.0, signal.SIGKILL)
        self.stop()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# -- PostgreSQL -------------------------------------------------------------------

def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root. As root, run it as the Debian
    'postgres' account; the ambient CAP_DAC_OVERRIDE lets it reach a data
    directory under a root-only path (a mktemp clone) without changing any
    permission outside the project."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups",
            "--inh-caps=+dac_override", "--ambient-caps=+dac_override"]


class Postgres(Service):
    def __init__(self, cfg: Config):
        super().__init__(cfg, "postgres", "postgres")
        info = conninfo_to_dict(cfg.postgres.dsn)
        self.host = str(info.get("host", "127.0.0.1"))
        self.port = int(str(info.get("port", 5432)))
        self.user = str(info.get("user", "edge"))
        self.dbname = str(info.get("dbname", "edge"))
        self.datadir = cfg.run_dir / "pg"

    def prepare(self) -> None:
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.datadir, 0o700)
        out = subprocess.run(_as_postgres_user() + [
            str(PG_BIN / "initdb"), "-D", str(self.datadir), "-U", self.user,
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"],
            capture_output=True, text=True)
        if out.returncode != 0:
            raise StartError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")

    def command(self) -> list[str]:
        return _as_postgres_user() + [
            str(PG_BIN / "postgres"), "-D", str(self.datadir), "-p", str(self.port),
            "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories=",
            "-c", "max_connections=200", "-c", "shared_buffers=64MB"]

    def _admin_dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"

    def ready(self) -> bool:
        try:
            psycopg.connect(self._admin_dsn(), connect_timeout=1).close()
            return True
        except psycopg.Error:
            return False

    def after_ready(self) -> None:
        with psycopg.connect(self._admin_dsn(), autocommit=True) as c:
            if c.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                         (self.dbname,)).fetchone() is None:
                c.execute(f'CREATE DATABASE "{self.dbname}"')

    def stop(self, timeout: float = 20.0) -> None:
        # SIGINT = PostgreSQL "fast" shutdown
        if self.pid is not None:
            stop_pid(self.pid, self.program, timeout, signal.SIGINT)
        super().stop(timeout)


# -- Redis ------------------------------------------------------------------------

class Redis(Service):
    def __init__(self, cfg: Config):
        super().__init__(cfg, "redis", "redis-server")
        import redis as redispy
        self.client = redispy.Redis.from_url(cfg.redis.url, socket_connect_timeout=0.5,
                                             socket_timeout=1)
        kw = self.client.connection_pool.connection_kwargs
        self.host, self.port = str(kw.get("host", "127.0.0.1")), int(str(kw.get("port", 6379)))
        self.datadir = cfg.run_dir / "redis"

    def prepare(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return ["redis-server", "--bind", self.host, "--port", str(self.port),
                "--dir", str(self.datadir), "--dbfilename", "dump.rdb",
                # bans, identity locks and call slots are not rebuilt from
                # PostgreSQL: they must survive a crash (AOF, fsync each
                # second: at most the last second of them lost)
                "--save", "60 1000", "--appendonly", "yes", "--appendfsync", "everysec",
                "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", "", "--maxclients", "10000"]

    def ready(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False


@contextlib.contextmanager
def scratch_redis(run_dir: Path) -> Iterator[Any]:
    """A private Redis on a free loopback port (state in run_dir) holding the
    read model's function library, for measurements and tests of the Redis
    side alone; stopped by PID on exit."""
    import redis as redispy

    from edgestore import readmodel as rmstore

    server = Redis(ephemeral_config(run_dir))
    server.start()
    try:
        client = redispy.Redis.from_url(server.cfg.redis.url, decode_responses=True)
        rmstore.load_library(client)
        try:
            yield client
        finally:
            client.close()
    finally:
        server.stop()


# -- rtpengine --------------------------------------------------------------------

class Rtpengine(Service):
    def __init__(self, cfg: Config):
        super().__init__(cfg, "rtpengine", "rtpengine")

    def command(self) -> list[str]:
        r = self.cfg.rtpengine
        return ["rtpengine", f"--config-file={RTPENGINE_CONF}", "--foreground", "--log-stderr",
                f"--log-level={self.cfg.log.rtpengine_level}",
                f"--interface={r.interface}", f"--listen-ng={r.ng_host}:{r.ng_port}",
                f"--port-min={r.port_min}", f"--port-max={r.port_max}"]

    def ready(self) -> bool:
        return rtpengine.ping(self.cfg.rtpengine.ng_host, self.cfg.rtpengine.ng_port, 0.2)


# -- sync follower ----------------------------------------------------------------

def python_env(cfg_path: Path) -> dict[str, str]:
    """Environment for our Python processes, including Kamailio's embedded
    interpreter: the config file, the repo, and the venv's site-packages."""
    env = dict(os.environ)
    env[edgeconfig.ENV_VAR] = str(cfg_path)
    site = sysconfig.get_paths()["purelib"]
    parts = [str(REPO_ROOT), site]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.pop("PYTHONHOME", None)
    return env


class SyncFollower(Service):
    def __init__(self, cfg: Config, cfg_path: Path):
        super().__init__(cfg, "sync", "edgectl")
        self.cfg_path = cfg_path
        self.ready_file = cfg.run_dir / "sync.ready"

    def prepare(self) -> None:
        self.ready_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "edgectl", "--config", str(self.cfg_path), "sync",
                "--follow", "--ready-file", str(self.ready_file)]

    def env(self) -> dict[str, str]:
        return python_env(self.cfg_path)

    def ready(self) -> bool:
        return self.ready_file.exists()


class Ops(Service):
    """`edgectl ops run`: the Prometheus exporter and the CDR shipper."""

    def __init__(self, cfg: Config, cfg_path: Path):
        super().__init__(cfg, "ops", "python")
        self.cfg_path = cfg_path
        self.ready_file = cfg.run_dir / "ops.ready"

    def prepare(self) -> None:
        self.ready_file.unlink(missing_ok=True)
        self.cfg.cdr_spool.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "edgectl", "--config", str(self.cfg_path), "ops", "run",
                "--ready-file", str(self.ready_file)]

    def env(self) -> dict[str, str]:
        return python_env(self.cfg_path)

    def ready(self) -> bool:
        return self.ready_file.exists()


class AdminApi(Service):
    """`edgectl api run`: the administration API and web console (HTTPS),
    ready once it answers a TLS request, not when a file appears."""

    def __init__(self, cfg: Config, cfg_path: Path):
        super().__init__(cfg, "api", "python")
        self.cfg_path = cfg_path

    def command(self) -> list[str]:
        return [sys.executable, "-m", "edgectl", "--config", str(self.cfg_path), "api", "run"]

    def env(self) -> dict[str, str]:
        return python_env(self.cfg_path)

    def ready(self) -> bool:
        import http.client
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE   # our own, just made
        conn = http.client.HTTPSConnection(self.cfg.api.listen, self.cfg.api.port,
                                           timeout=2, context=ctx)
        try:
            conn.request("GET", "/api/v1/health")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()


# -- Kamailio ---------------------------------------------------------------------

class Kamailio(Service):
    def __init__(self, cfg: Config, cfg_path: Path,
                 extra_defines: dict[str, str] | None = None):
        super().__init__(cfg, f"kamailio-{cfg.node.name}", "kamailio")
        self.cfg_path = cfg_path
        self.extra_defines = extra_defines or {}

    def defines(self) -> dict[str, str]:
        d = edgeconfig.kamailio_defines(self.cfg)
        for feature in self.cfg.node.features:
            d[f"WITH_{feature.upper()}"] = ""
        if self.cfg.cluster.peers:          # a node with peers is in a cluster
            d["WITH_CLUSTER"] = ""
        d[edgeconfig.SECRETS_FLAG] = ""     # the secrets themselves: env()
        d.update(self.extra_defines)
        return d

    def command(self) -> list[str]:
        edgeconfig.kamailio_secrets(self.cfg)       # refuses the default off loopback
        cmd = ["kamailio", "-f", str(KAMAILIO_CFG), "-DD", "-E", "-m", str(self.cfg.sip.shm_mb),
               "-M", str(self.cfg.sip.pkg_mb), "-x", self.cfg.sip.memory_manager]
        for name, value in self.defines().items():
            cmd += ["-A", f"{name}={value}" if value != "" else name]
        for addr in self.cfg.sip.legacy_listen:     # imported legacy servers' addresses
            cmd += ["-l", f"udp:{addr}:{self.cfg.sip.udp_port}",
                    "-l", f"tcp:{addr}:{self.cfg.sip.tcp_port}"]
        return cmd

    def env(self) -> dict[str, str]:
        env = python_env(self.cfg_path)
        # prometheus-client multiprocess mode: every worker writes its own
        # files here, the exporter (edgectl ops) adds them up
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.cfg.metrics_dir)
        env.update(edgeconfig.kamailio_secrets(self.cfg))
        return env

    def prepare(self) -> None:
        self.cfg.rpc_socket.unlink(missing_ok=True)
        # counters start from zero with the node (prometheus-client docs:
        # the directory must be wiped between runs)
        shutil.rmtree(self.cfg.metrics_dir, ignore_errors=True)
        self.cfg.metrics_dir.mkdir(parents=True, exist_ok=True)
        # never wiped: unshipped CDRs survive restarts
        self.cfg.node_spool.mkdir(parents=True, exist_ok=True)
        if "pool" in self.cfg.node.features:
            from edgectl import poollist
            poollist.ensure(self.cfg)       # PostgreSQL down: the last pool written
        if "websocket" in self.cfg.node.features:
            from edgectl import certs
            certs.ensure(self.cfg)

    def ready(self) -> bool:
        """Answers RPC, and its timer has seen the read model (edge_ver >= 0)."""
        try:
            return rpc.read_model_version(self.cfg.rpc_socket, timeout=2.0) >= 0
        except (rpc.RpcError, OSError, ValueError):
            return False

    def rpc(self, method: str, *params: object) -> object:
        return rpc.call(self.cfg.rpc_socket, method, *params)


# -- the whole stack ---------------------------------------------------------------

NODE_PORT_STEP = edgeconfig.NODE_PORT_STEP  # node k listens on the ports + 10 * (k - 1)


def cluster_configs(cfg: Config, nodes: int) -> list[Config]:
    """Configs of ``nodes`` local edge nodes acting as one edge: edge1 keeps
    the configured ports, node k listens 10*(k-1) ports higher, each has the
    others as cluster peers and its own server_id."""
    import copy

    if nodes < 1:
        raise EdgeError("--nodes must be at least 1")
    out = []
    for k in range(1, nodes + 1):
        c = copy.deepcopy(cfg)
        step = NODE_PORT_STEP * (k - 1)
        if k > 1:
            c.node.name = f"edge{k}"
        c.sip.udp_port, c.sip.tcp_port = cfg.sip.udp_port + step, cfg.sip.tcp_port + step
        c.sip.tls_port, c.sip.wss_port = cfg.sip.tls_port + step, cfg.sip.wss_port + step
        c.cluster.server_id = k
        out.append(c)
    if nodes > 1:
        # peers meet at their own addresses, never the public one they may share
        addrs = [f"{edgeconfig.cluster_address(c)}:{c.sip.udp_port}" for c in out]
        for i, c in enumerate(out):
            c.cluster.peers = addrs[:i] + addrs[i + 1:]
    return out


class Stack:
    """The stack's processes, started in dependency order, stopped in reverse:
    PostgreSQL, Redis, rtpengine, the sync follower, ``nodes`` Kamailio edge
    nodes (a cluster when more than one), the ops service."""

    def __init__(self, cfg: Config, cfg_path: Path | None = None,
                 services: list[str] | None = None, nodes: int = 1):
        self.cfg = cfg
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        self.cfg_path = cfg_path or (cfg.run_dir / "edge.toml")
        if cfg_path is None:
            self.cfg_path.write_text(edgeconfig.dumps(cfg))
        node_cfgs = cluster_configs(cfg, nodes)
        self.node_cfgs = node_cfgs
        self.state_file = cfg.run_dir / "stack.json"
        self.postgres = Postgres(cfg)
        self.redis = Redis(cfg)
        self.rtpengine = Rtpengine(cfg)
        self.sync = SyncFollower(cfg, self.cfg_path)
        self.kamailios: list[Kamailio] = []
        for c in node_cfgs:
            path = self.cfg_path
            if nodes > 1:                   # each node its own file: its peers, its id
                path = cfg.run_dir / f"{c.node.name}.toml"
                path.write_text(edgeconfig.dumps(c))
            self.kamailios.append(Kamailio(c, path))
        self.kamailio = self.kamailios[0]
        self.ops = Ops(cfg, self.cfg_path)
        self.api = AdminApi(cfg, self.cfg_path)
        wanted = services or ["postgres", "redis", "rtpengine", "sync", "kamailio", "ops",
                              *(["api"] if cfg.api.serve else [])]
        self.services: list[Service] = [s for s in
                                        (self.postgres, self.redis, self.rtpengine, self.sync,
                                         *self.kamailios, self.ops, self.api)
                                        if s.name.split("-")[0] in wanted]
        self.on_migrated: list[Callable[[], None]] = []

    # state file: what runs, by PID
    def _save(self) -> None:
        state = {n: st for n, st in self._load().items()      # nodes of a bigger `up`
                 if n not in {s.name for s in self.services}}
        state.update({s.name: {"pid": s.pid, "program": s.program, "start": s.started}
                      for s in self.services if s.pid is not None})
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_file)

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _is_running(st: dict[str, object]) -> bool:
        pid, prog, start = st.get("pid"), st.get("program"), st.get("start")
        return isinstance(pid, int) and _pid_alive(pid, str(prog),
                                                   start if isinstance(start, int) else None)

    def running(self) -> dict[str, int]:
        return {name: int(str(st["pid"])) for name, st in self._load().items()
                if self._is_running(st)}

    def _adopt(self) -> list[str]:
        """Take over the daemons recorded as running; of those that died,
        stop what is left of their process group (workers holding the
        ports). Returns the names that need starting."""
        state = self._load()
        missing = []
        for s in self.services:
            st = state.get(s.name, {})
            if self._is_running(st):
                s.pid = int(str(st["pid"]))
                start = st.get("start")
                s.started = start if isinstance(start, int) else start_time(s.pid)
                continue
            pid, start = st.get("pid"), st.get("start")
            if isinstance(pid, int):
                stop_group(pid, s.program, started=start if isinstance(start, int) else None)
            s.pid = s.started = None
            missing.append(s.name)
        return missing

    def up(self) -> list[str]:
        """Start whatever is not running; returns the names started."""
        from edgectl import db

        for k in self.kamailios:            # refused before anything starts
            edgeconfig.kamailio_secrets(k.cfg)
        missing = self._adopt()
        started = []
        try:
            for s in self.services:
                if s.name not in missing:
                    continue
                if s is self.sync:
                    db.migrate(self.cfg)
                    for hook in self.on_migrated:
                        hook()
                s.start()
                started.append(s.name)
                self._save()
        except BaseException:
            self._save()
            raise
        return started

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

    def wait_synced(self, timeout: float = 10.0) -> None:
        """Until provisioning changes made so far are visible to the node: the
        follower applied them and the node's poller has seen them."""
        time.sleep(0.05)                    # let NOTIFY reach the follower
        deadline = time.monotonic() + timeout
        while True:
            stored, node = self.model_versions()
            if stored >= 0 and node == stored:
                return
            if time.monotonic() > deadline:
                raise EdgeError(f"read model not propagated to the node after {timeout}s "
                                f"(Redis version {stored}, node {node})")
            time.sleep(0.05)

    def down(self) -> list[str]:
        """Stop every daemon recorded as started (by PID, what is left of
        its process group too); returns the names of those that ran."""
        state = self._load()
        live = self.running()
        stopped = []
        for s in reversed(self.services):
            st = state.get(s.name, {})
            if s.pid is None and isinstance(st.get("pid"), int):
                s.pid = int(str(st["pid"]))
                start = st.get("start")
                s.started = start if isinstance(start, int) else None
            if s.pid is not None:
                if s.name in live or s.alive():
                    stopped.append(s.name)
                s.stop()
        # started by an `up` with more nodes than this Stack knows of
        for name, st in state.items():
            pid = st.get("pid")
            if name in {s.name for s in self.services} or not isinstance(pid, int):
                continue
            start = st.get("start")
            if name in live:
                stop_pid(pid, str(st.get("program")))
                stopped.append(name)
            stop_group(pid, str(st.get("program")),
                       started=start if isinstance(start, int) else None)
        self.state_file.unlink(missing_ok=True)
        return stopped


def ephemeral_config(run_dir: Path, name: str = "edge1", listen_ip: str = "127.0.0.1",
                     rtp_ports: tuple[int, int] = (30000, 30999)) -> Config:
    """Defaults, with every listening port free on this host and all state in
    run_dir: a private stack beside any other (tests, benchmarks)."""
    cfg = Config()
    cfg.paths.run_dir = str(run_dir)
    cfg.node.name = name
    cfg.sip.listen_ip = listen_ip
    # the SIP ports: node k of `stack up --nodes` listens k-1 steps higher
    cfg.sip.udp_port = cfg.sip.tcp_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.sip.tls_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.sip.wss_port = free_port(listen_ip, nodes=MAX_LOCAL_NODES)
    cfg.redis.url = f"redis://127.0.0.1:{free_port()}/0"
    cfg.postgres.dsn = f"postgresql://edge@127.0.0.1:{free_port()}/edge"
    cfg.rtpengine.ng_port = free_port()
    cfg.rtpengine.port_min, cfg.rtpengine.port_max = rtp_ports
    cfg.ops.metrics_port = free_port()
    cfg.api.port = free_port()
    return cfg


# ports this process handed out (with their node copies): never handed out
# again, so two private stacks, or two nodes of one, never pick the same one
_HANDED_OUT: set[int] = set()
# node ports of a private cluster (edgectl stack up --nodes, at most this many)
MAX_LOCAL_NODES = 3


def _bindable(host: str, port: int) -> bool:
    import socket

    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind((host, port))
        u.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        t.close()
        u.close()


def free_port(host: str = "127.0.0.1", kind: int = 0, nodes: int = 1) -> int:
    """An ephemeral port free for both UDP and TCP on host; ``nodes`` > 1:
    so are the ports the further nodes of a local cluster listen on (the
    port + NODE_PORT_STEP * k), and none of them was handed out before."""
    import socket

    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((host, 0))
        port = int(t.getsockname()[1])
        t.close()
        span = [port + NODE_PORT_STEP * k for k in range(nodes)]
        if any(p in _HANDED_OUT or p > 65535 for p in span):
            continue
        if all(_bindable(host, p) for p in span):
            _HANDED_OUT.update(span)
            return port
    raise RuntimeError("no free port")


def which_or_die(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        raise EdgeError(f"missing programs: {', '.join(missing)} (run scripts/bootstrap.sh)")
