"""The sync follower stops when told to, not when its LISTEN wait next
times out: `stack down` (SIGTERM) of every private edge waited up to a
second per stack for that timeout."""

from __future__ import annotations

import socket
import threading

from edgecore.config import Config
from edgectl.sync import Follower


def test_stop_wakes_the_notification_wait():
    follower = Follower(Config())
    quiet, _peer = socket.socketpair()      # a connection on which nothing arrives
    got: list[set[str]] = []
    t = threading.Thread(target=lambda: got.append(follower._wait(quiet, 600.0)), daemon=True)
    try:
        t.start()
        follower.stop()                     # what the SIGTERM handler calls
        t.join(timeout=30)
        assert not t.is_alive(), "the wait went on after stop()"
        assert got == [set()] and follower.stopping
    finally:
        quiet.close()
        _peer.close()


def test_stop_twice_is_harmless():
    follower = Follower(Config())
    for _ in range(10_000):                 # more than a pipe buffer holds
        follower.stop()
    assert follower.stopping
