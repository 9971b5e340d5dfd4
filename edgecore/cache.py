"""Per-worker cache of read-model answers, validated by the model's version.

Each Kamailio worker keeps the answers it fetched (devices by digest
identity, call candidates by caller and dialled string, negative answers
included). They stay valid while the version it is told (the node's timer
process reads Redis' ``edge:ver`` and ``edge:epoch`` every ``cache.poll_ms``
and publishes ``$shv(edge_cache)``, a number that changes whenever that pair
does and never repeats -- Redis' counter alone can go backwards after a
restart or failover) is unchanged; any change of the provisioning data bumps
the version and the worker drops everything. Staleness is therefore bounded by one
poll interval after the sync follower applied a change.

A version < 0 means the node cannot reach the read model: :meth:`get` raises
:class:`Unavailable` and the request is answered 503 -- the cache never
authenticates anyone while Redis is unreachable.

A worker's miss may still be answered without Redis: kemi/context.py puts a
node-wide layer (a Kamailio htable in shared memory, entries tagged with the
version they were fetched under) between this cache and the read model.

Pure: the version source and the loader are passed in.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


class Unavailable(RuntimeError):
    """The read model cannot be consulted now (Redis down, or no model loaded)."""


class VersionedCache:
    def __init__(self, version: Callable[[], int], max_entries: int):
        self._version = version
        self._max = max_entries
        self._seen = -1
        self._data: dict[Hashable, Any] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        ver = self._version()
        if ver < 0:
            raise Unavailable("read model unreachable")
        if ver != self._seen:
            self._data.clear()
            self._seen = ver
        try:
            value: T = self._data[key]
            self.hits += 1
            return value
        except KeyError:
            pass
        self.misses += 1
        value = load()
        if len(self._data) >= self._max:
            self._data.clear()
        self._data[key] = value
        return value

    @property
    def version(self) -> int:
        """The version the entries are valid for (during a load: the one the
        loaded value will be cached under)."""
        return self._seen

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
