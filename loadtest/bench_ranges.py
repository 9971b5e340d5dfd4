#!/usr/bin/env python3
"""What a million global number ranges cost a call: the ``edge_call`` lookup
(edgestore/edge.lua, one FCALL, the read every INVITE makes) timed in a private
Redis holding 1k, 10k, 100k and 1M ranges of 10,000 tenants -- the ranges
ZSET answers by score, so the time must stay flat (O(log n)), not grow with
the data. A benchmark, not a test: it asserts nothing (`make bench` prints
it; tests/integration/test_range_lookup.py checks the answers).

    loadtest/bench_ranges.py [--lookups 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgestore import readmodel as rmstore  # noqa: E402
from testkit.stacks import scratch_redis  # noqa: E402

SIZES = (1_000, 10_000, 100_000, 1_000_000)
GEN = 1
DIGITS = 10
TENANTS = 10_000


def _block(i: int) -> tuple[str, str, str]:
    """Range i: 50 numbers of 10 digits, one block in two owned."""
    first = 5_500_000_000 + i * 100
    return f"{first:0{DIGITS}d}", f"{first + 49:0{DIGITS}d}", f"{i % TENANTS + 30000:05d}"


def fill(client: Any, have: int, want: int) -> None:
    key = rmstore.k_ranges(GEN, DIGITS)
    pipe = client.pipeline(transaction=False)
    for i in range(have, want):
        first, last, tenant = _block(i)
        pipe.zadd(key, {rmstore.range_member(first, last, tenant): int(last)})
        if i % 50_000 == 49_999:
            pipe.execute()
    pipe.execute()


def time_lookups(client: Any, n_ranges: int, lookups: int, seed: int = 1) -> dict[str, float]:
    """Median and p99 of one edge_call round trip (microseconds), numbers
    drawn inside and between the ranges loaded."""
    rnd = random.Random(seed)
    samples = []
    for _ in range(lookups):
        first, _, _ = _block(rnd.randrange(n_ranges))
        number = f"{int(first) + rnd.randrange(100):0{DIGITS}d}"
        t0 = time.perf_counter()
        rmstore.fetch_call(client, "", number)
        samples.append((time.perf_counter() - t0) * 1e6)
    samples.sort()
    return {"p50_us": samples[len(samples) // 2], "p99_us": samples[int(len(samples) * 0.99)]}


def measure(work: Path, lookups: int = 20_000, sizes: Sequence[int] = SIZES) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with scratch_redis(work / "ranges") as client:
        client.set(rmstore.GEN_KEY, GEN)
        have = 0
        for n in sizes:
            fill(client, have, n)
            have = n
            time_lookups(client, n, 1000)              # warm the connection and the cache
            out[str(n)] = time_lookups(client, n, lookups)
    first, last = out[str(sizes[0])], out[str(sizes[-1])]
    out["growth"] = last["p50_us"] / first["p50_us"] if first["p50_us"] else 0.0
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lookups", type=int, default=20_000, help="timed lookups per size")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ranges") as d:
        res = measure(Path(d), a.lookups)
    for n in SIZES:
        r = res[str(n)]
        print(f"{n:>9,} ranges: edge_call p50 {r['p50_us']:6.1f} us, p99 {r['p99_us']:6.1f} us")
    print(f"growth of the median, {SIZES[0]:,} -> {SIZES[-1]:,} ranges: x{res['growth']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
