"""The whole stack: its daemons started in dependency order and recorded by
PID in ``<run_dir>/stack.json``, adopted by the next ``up``, stopped in
reverse by ``down`` (see the package docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from edgecore import config as edgeconfig
from edgecore.config import Config
from edgectl.stack import kamailio_defines
from edgectl.stack.kamailio import Kamailio
from edgectl.stack.process import Service, _pid_alive, start_time, stop_group, stop_pid
from edgectl.stack.services import AdminApi, Ops, Postgres, Redis, Rtpengine, SyncFollower
from edgectl.stack.topology import cluster_configs


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
            kamailio_defines.kamailio_secrets(k.cfg)
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
