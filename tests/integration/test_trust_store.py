"""edgestore.guard's trust (edge.lua edge_auth_ok / edge_trusted /
edge_auth_fail) against a real Redis: an identity is trusted from the
sources it authenticated from for trusted_for seconds, a failure from a
source revokes it, and what it costs per device is a field in one of a
fixed set of small hashes, never a key per identity (bytes per registered
device, issue 19)."""

from __future__ import annotations

from pathlib import Path

from edgestore import guard
from testkit.stacks import scratch_redis

NOW = 2_000_000_000.25
KEEP = 3600


def test_trusted_from_where_it_authenticated_until_trusted_for(tmp_path: Path):
    with scratch_redis(tmp_path) as r:
        guard.auth_succeeded(r, "Alice01", "203.0.113.7", NOW, KEEP)
        assert guard.trusted(r, "alice01", "203.0.113.7", NOW + 10, KEEP)
        assert not guard.trusted(r, "alice01", "203.0.113.8", NOW + 10, KEEP)
        assert not guard.trusted(r, "bob01", "203.0.113.7", NOW + 10, KEEP)
        # never longer than trusted_for from the second it authenticated
        assert guard.trusted(r, "alice01", "203.0.113.7", int(NOW) + KEEP, KEEP)
        assert not guard.trusted(r, "alice01", "203.0.113.7", NOW + KEEP + 1, KEEP)
        # a failure of that identity from that source revokes it; others keep theirs
        guard.auth_succeeded(r, "alice01", "198.51.100.1", NOW, KEEP)
        guard.auth_failed(r, "203.0.113.7", "ALICE01", NOW + 20, 60, 0, 0, 600)
        assert not guard.trusted(r, "alice01", "203.0.113.7", NOW + 21, KEEP)
        assert guard.trusted(r, "alice01", "198.51.100.1", NOW + 21, KEEP)


def test_trust_costs_a_field_in_a_shared_hash_not_a_key_per_identity(tmp_path: Path):
    with scratch_redis(tmp_path) as r:
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            guard.auth_succeeded(pipe, f"{i:010d}", "127.0.0.1", NOW, KEEP)
        pipe.execute()
        keys = list(r.scan_iter(match="edge:trust:*", count=5000))
        assert len(keys) <= 4096
        assert {r.object("encoding", k) for k in keys} == {"listpack"}
        assert all(0 < r.ttl(k) <= KEEP for k in keys[:50])
        used = sum(int(r.memory_usage(k, samples=0)) for k in keys)
        assert used / 20000 < 60, used / 20000          # bytes per trusted device
        assert guard.trusted(r, "0000012345", "127.0.0.1", NOW + 1, KEEP)


def test_entries_older_than_trusted_for_leave_their_hash(tmp_path: Path):
    with scratch_redis(tmp_path) as r:
        guard.auth_succeeded(r, "alice01", "203.0.113.7", NOW, KEEP)
        guard.auth_succeeded(r, "alice01", "203.0.113.8", NOW + KEEP / 2, KEEP)
        (key,) = r.scan_iter(match="edge:trust:*")
        # the next write to that hash a trusted_for later prunes the stale field
        guard.auth_succeeded(r, "alice01", "203.0.113.9", NOW + KEEP + 1, KEEP)
        fields = set(r.hkeys(key)) - {"~"}
        assert fields == {"alice01|203.0.113.8", "alice01|203.0.113.9"}


def test_a_success_written_after_a_later_failure_does_not_restore_trust(tmp_path: Path):
    """The nodes' timers write a success up to a poll interval after it
    happened; a failure of that pair, written at once from any node, may get
    there first. The success older than the failure is refused; a success
    after the failure is trust again."""
    with scratch_redis(tmp_path) as r:
        guard.auth_failed(r, "203.0.113.7", "alice01", NOW + 0.1, 60, 0, 0, 600)
        guard.auth_succeeded(r, "alice01", "203.0.113.7", NOW, KEEP)   # queued note, older
        assert not guard.trusted(r, "alice01", "203.0.113.7", NOW + 1, KEEP)
        guard.auth_succeeded(r, "ALICE01", "203.0.113.7", NOW + 0.1, KEEP)   # same instant
        assert not guard.trusted(r, "alice01", "203.0.113.7", NOW + 1, KEEP)
        # another source's success is not this failure's business
        guard.auth_succeeded(r, "alice01", "203.0.113.8", NOW, KEEP)
        assert guard.trusted(r, "alice01", "203.0.113.8", NOW + 1, KEEP)
        # the phone authenticates again after the failure: trusted again
        guard.auth_succeeded(r, "alice01", "203.0.113.7", NOW + 2, KEEP)
        assert guard.trusted(r, "alice01", "203.0.113.7", NOW + 3, KEEP)
        # the failure's time is kept for a bounded while only
        assert 0 < r.ttl("edge:trustfail:alice01|203.0.113.7") <= 120
