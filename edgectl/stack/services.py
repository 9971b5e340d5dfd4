"""The stack's daemons besides Kamailio: PostgreSQL, Redis, rtpengine, and
our own Python services (the sync follower, the ops service, the
administration API), each a :class:`~edgectl.stack.process.Service` that
knows its command line and how to tell it is ready.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from edgecore import config as edgeconfig
from edgecore.config import REPO_ROOT, Config
from edgectl import rtpengine
from edgectl.stack.process import Service, StartError, stop_pid

PG_BIN = Path("/usr/lib/postgresql/15/bin")
RTPENGINE_CONF = REPO_ROOT / "rtpengine" / "rtpengine.conf"


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
