"""Supervision of one daemon: start it in its own session, check it ready by
speaking its protocol, stop it by PID (and what is left of its process
group), and tell a live PID of ours from a PID reused by another process
(/proc start time). The daemons themselves: services.py, kamailio.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgecore.config import Config
from edgectl.db import EdgeError


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
