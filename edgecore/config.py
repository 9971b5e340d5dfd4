"""The edge's one configuration source.

Every address, port, path and tunable of a node is a field of a section
(:mod:`edgecore.settings`), with its default. A site overrides any subset in
a TOML file named by ``--config`` or by the ``EDGE_CONFIG`` environment
variable; nothing else in the code holds an address or a port. The launcher
(``edgectl stack``) renders the Kamailio part of this config into ``-A
NAME=value`` defines that override the ``#!trydef`` defaults of
``kamailio/defaults.cfg`` (:mod:`edgectl.stack.kamailio_defines`); the KEMI
code and ``edgectl`` read the same file through :func:`load`.

Pure: no I/O beyond reading the file it is given.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

from edgecore.settings import (Api, Auth, Cache, Cluster, Log, Node, Ops, Paths, Pool, Postgres,
                               Redis, Rtpengine, Security, Sip, Tls, Webphone)

ENV_VAR = "EDGE_CONFIG"
REPO_ROOT = Path(__file__).resolve().parent.parent


# Kamailio's memory managers (kamailio -x; `kamailio -I` lists those compiled in)
MEMORY_MANAGERS = ("tlsf", "qm", "fm")


class ConfigError(ValueError):
    """A configuration file that cannot be used, with a one-line reason."""


@dataclass
class Config:
    node: Node = field(default_factory=Node)
    sip: Sip = field(default_factory=Sip)
    auth: Auth = field(default_factory=Auth)
    security: Security = field(default_factory=Security)
    tls: Tls = field(default_factory=Tls)
    webphone: Webphone = field(default_factory=Webphone)
    redis: Redis = field(default_factory=Redis)
    postgres: Postgres = field(default_factory=Postgres)
    cache: Cache = field(default_factory=Cache)
    rtpengine: Rtpengine = field(default_factory=Rtpengine)
    pool: Pool = field(default_factory=Pool)
    ops: Ops = field(default_factory=Ops)
    cluster: Cluster = field(default_factory=Cluster)
    api: Api = field(default_factory=Api)
    log: Log = field(default_factory=Log)
    paths: Paths = field(default_factory=Paths)

    # -- derived values ------------------------------------------------
    @property
    def run_dir(self) -> Path:
        p = Path(self.paths.run_dir)
        return p if p.is_absolute() else (REPO_ROOT / p)

    @property
    def tls_files(self) -> tuple[Path, Path]:
        """(certificate, private key) the TLS listeners use."""
        if self.tls.certificate and self.tls.private_key:
            return Path(self.tls.certificate), Path(self.tls.private_key)
        d = self.run_dir / "tls"
        return d / "edge.crt", d / "edge.key"

    @property
    def rpc_socket(self) -> Path:
        """Kamailio jsonrpcs datagram socket of this node."""
        return self.run_dir / f"{self.node.name}.rpc.sock"

    @property
    def rpc_fifo(self) -> Path:
        """Kamailio jsonrpcs FIFO of this node: a stream, for replies larger
        than one datagram (the counters' htable dumps)."""
        return self.run_dir / f"{self.node.name}.rpc.fifo"

    @property
    def rpc_reply_dir(self) -> Path:
        """Where jsonrpcs writes FIFO replies (the client makes each reply FIFO)."""
        return self.run_dir / "rpc-replies"

    @property
    def ctl_socket(self) -> Path:
        """Kamailio ctl (kamcmd) socket of this node."""
        return self.run_dir / f"{self.node.name}.ctl.sock"

    @property
    def cdr_spool(self) -> Path:
        """Root of the CDR spool: one directory per node, of the files its acc
        writes (db_flatstore) until they are shipped."""
        return Path(self.ops.cdr_spool) if self.ops.cdr_spool else self.run_dir / "cdr"

    @property
    def node_spool(self) -> Path:
        return self.cdr_spool / self.node.name

    @property
    def dispatcher_list(self) -> Path:
        """The media pool as the nodes' dispatcher loads it (rendered from
        PostgreSQL by edgectl: edgecore.dispatcher_list)."""
        return self.run_dir / "dispatcher.list"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _merge(obj: Any, data: dict[str, Any], where: str) -> None:
    names = {f.name: f for f in fields(obj)}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"unknown setting {where}{key}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}{key} must be a table")
            _merge(current, value, f"{where}{key}.")
            continue
        expected = type(current)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{where}{key} must be {expected.__name__}, not {type(value).__name__}"
            )
        setattr(obj, key, value)


def from_dict(data: dict[str, Any]) -> Config:
    cfg = Config()
    _merge(cfg, data, "")
    if cfg.sip.memory_manager not in MEMORY_MANAGERS:
        raise ConfigError(f"sip.memory_manager must be one of {', '.join(MEMORY_MANAGERS)}")
    if cfg.log.max_bytes < 4096 or cfg.log.keep < 0 or cfg.log.check_every <= 0:
        raise ConfigError("log.max_bytes must be at least 4096, log.keep at least 0 and "
                          "log.check_every positive")
    if not 0 <= cfg.log.rtpengine_level <= 7:
        raise ConfigError("log.rtpengine_level must be a syslog level, 0 to 7")
    if not cfg.node.name:
        # a replica of a scaled service: its host name (the container's) is unique
        cfg.node.name = host_name()
    return cfg


def host_name() -> str:
    """This host's name as the kernel keeps it (uname(2), what gethostname
    returns on Linux): no resolver, no socket."""
    return os.uname().nodename


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Defaults, overridden by the TOML file ``path`` or ``$EDGE_CONFIG``."""
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    return from_dict(data)


def dumps(cfg: Config) -> str:
    """Serialise to TOML (tomli-w: every string escaped as TOML requires,
    control characters included)."""
    return tomli_w.dumps(cfg.to_dict())
