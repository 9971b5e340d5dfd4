"""edgectl.stack's view of its daemons' processes: a daemon is its PID and
its start time (a reused PID is not it), and what is left of its session's
process group after its main process died is found and stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from edgectl.stack.process import _pid_alive, group_members, start_time, stop_group


def _daemon_with_worker() -> subprocess.Popen[bytes]:
    """A main process with a worker in its session, as Kamailio -DD -E."""
    return subprocess.Popen(["sh", "-c", "sleep 60 & exec sleep 61"], start_new_session=True,
                            stdin=subprocess.DEVNULL)


def _wait(pred, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_pid_is_the_daemon_only_with_its_start_time():
    p = _daemon_with_worker()
    try:
        # until then the child may not have exec'd yet (its cmdline: pytest's)
        _wait(lambda: len(group_members(p.pid)) == 2)
        started = start_time(p.pid)
        assert started is not None
        assert _pid_alive(p.pid, "sleep", started)
        assert not _pid_alive(p.pid, "sleep", started + 1)       # another process now
        assert not _pid_alive(p.pid, "kamailio", started)        # another program
    finally:
        stop_group(p.pid)
        p.wait()


def test_what_is_left_of_a_dead_main_is_stopped():
    p = _daemon_with_worker()
    try:
        _wait(lambda: len(group_members(p.pid)) == 2)
        (worker,) = [m for m in group_members(p.pid) if m != p.pid]
        os.kill(p.pid, signal.SIGKILL)                           # the main crashes
        p.wait()
        assert group_members(p.pid, "sleep") == [worker]         # the worker lives on
        assert stop_group(p.pid, "sleep") == [worker]
        assert not _pid_alive(worker)
    finally:
        stop_group(p.pid)


def test_the_group_of_a_live_stranger_is_left_alone():
    p = _daemon_with_worker()
    try:
        _wait(lambda: len(group_members(p.pid)) == 2)
        started = start_time(p.pid) or 0
        # recorded with another start time: this PID now runs someone else's process
        assert stop_group(p.pid, "sleep", started=started + 1) == []
        assert len(group_members(p.pid)) == 2
    finally:
        stop_group(p.pid)
        p.wait()
