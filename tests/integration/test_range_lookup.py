"""The global number space as the edge reads it: the ``edge_call`` function
of edgestore/edge.lua over the ranges ZSET the sync writer builds
(edgectl.sync.tenant_writes), in a real Redis -- the edges of ranges (first,
last, one outside, adjacent ranges, leading zeros, other lengths), and the
same answers with a million ranges loaded."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from edgecore import readmodel as rm
from edgestore import readmodel as rmstore
from testkit.stacks import scratch_redis
from edgectl.sync import TenantSnapshot, tenant_writes

GEN = 1


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with scratch_redis(tmp_path_factory.mktemp("ranges")) as client:
        client.set(rmstore.GEN_KEY, GEN)
        yield client


def provision(client: Any, owners: dict[str, list[tuple[str, str]]]) -> None:
    pipe = client.pipeline(transaction=False)
    for tid, ranges in owners.items():
        cmds, _ = tenant_writes(GEN, TenantSnapshot(rm.Tenant(tid, tid), global_ranges=ranges))
        for cmd in cmds:
            pipe.execute_command(*cmd)
    pipe.execute()


def owner(client: Any, number: str) -> str | None:
    rng = rmstore.fetch_call(client, "", number).global_range
    if rng is None:
        return None
    first, last, tenant = rng
    assert len(first) == len(last) == len(number) and first <= number <= last
    return tenant


EDGES = [
    ("5511400000", "00010"),   # first
    ("5511400001", "00010"),
    ("5511409999", "00010"),   # last
    ("5511410000", "00011"),   # first of the adjacent range
    ("5511410099", "00011"),   # last of it
    ("5511410100", None),      # one past the last
    ("5511399999", None),      # one before the first
    ("0100", "00001"),         # leading zeros keep their length
    ("0199", "00001"),
    ("0099", None),
    ("0200", None),
    ("100", None),             # the same value in another length is another number
    ("300", "00002"),
    ("399", "00002"),
    ("400", None),
    ("55114", None),           # no range of that length
]


@pytest.fixture(scope="module")
def small(redis_client: Any) -> Any:
    provision(redis_client, {"00010": [("5511400000", "5511409999")],
                             "00011": [("5511410000", "5511410099")],
                             "00001": [("0100", "0199")], "00002": [("300", "399")]})
    return redis_client


@pytest.mark.parametrize("number,expected", EDGES)
def test_range_edges(small: Any, number: str, expected: str | None):
    assert owner(small, number) == expected


def test_a_million_ranges_answer_the_same(small: Any):
    """1,000,000 more 8-digit ranges of 10,000 tenants (every other block of
    50 numbers owned): lookups at both ends, in the middle and in the gaps
    still find exactly their range -- the ZSET answers by score (O(log n)),
    never by scanning (loadtest/bench_ranges.py measures the time)."""
    client = small
    n = 1_000_000
    pipe = client.pipeline(transaction=False)
    key = rmstore.k_ranges(GEN, 8)
    for i in range(n):
        first, last = f"{i * 100:08d}", f"{i * 100 + 49:08d}"
        pipe.zadd(key, {rmstore.range_member(first, last, f"{i % 10000 + 30000:05d}"): int(last)})
        if i % 50_000 == 49_999:
            pipe.execute()
    pipe.execute()
    assert client.zcard(key) == n
    for i in (0, 1, n // 2, n - 1):
        t = f"{i % 10000 + 30000:05d}"
        assert owner(client, f"{i * 100:08d}") == t
        assert owner(client, f"{i * 100 + 49:08d}") == t
        assert owner(client, f"{i * 100 + 50:08d}") is None       # the gap after it
    for number, expected in EDGES:                                  # other lengths unchanged
        assert owner(client, number) == expected
