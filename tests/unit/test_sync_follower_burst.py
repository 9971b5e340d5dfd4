"""A burst of notifications is read whole: psycopg's ``notifies()`` yields
the notifications of one read off the socket as a batch, and leaving the
generator in the middle of that batch drops the rest of it (they are no
longer in libpq's buffer, nor on the socket). The follower used to leave it
when its own 20 ms deadline passed: 306 of 10,000 tenants provisioned at once
never reached the read model."""

from __future__ import annotations

import itertools
import socket
from types import SimpleNamespace

from edgecore.config import Config
from edgectl.sync import Follower
from edgectl.sync import follower as follower_mod


class BurstConn:
    """A LISTEN connection with one batch of notifications ready."""

    def __init__(self, n: int):
        self.sock, self._peer = socket.socketpair()
        self._peer.send(b"x")                       # the socket is readable
        self.batch = [SimpleNamespace(payload=f"t:{90000 + i}") for i in range(n)]

    def fileno(self) -> int:
        return self.sock.fileno()

    def notifies(self, timeout: float | None = None):
        yield from self.batch                       # one batch, then the timeout

    def close(self) -> None:
        self.sock.close()
        self._peer.close()


def test_every_notification_of_a_batch_is_kept_however_long_it_takes(monkeypatch):
    clock = itertools.count(0.0, 1.0)               # every reading of the clock: 1 s later
    monkeypatch.setattr(follower_mod.time, "monotonic", lambda: next(clock))
    conn = BurstConn(10_000)
    try:
        got = Follower(Config())._wait(conn, 1.0)   # type: ignore[arg-type]
    finally:
        conn.close()
    assert len(got) == 10_000 and "t:99999" in got
