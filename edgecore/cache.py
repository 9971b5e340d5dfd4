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
node-wide layer (a Kamailio htable in shared memory that the node's timer
process fills with every device of the read model and invalidates per tenant,
kemi/nodecache.py; :func:`tenants_to_refetch` decides what a change makes
stale there) between this cache and the read model.

Bounded against strangers: an answer first goes into a small *probation*
part (``probation_entries``); only when the request that looked it up
authenticated (kemi/auth.py calls :meth:`promote`) does it move to the main
part (``max_entries``). Both parts evict their least recently used entry
when full -- never everything at once -- so a flood of unauthenticated
requests under made-up names or numbers churns the probation part alone and
every authenticated device keeps its cached answers.

Pure: the version source and the loader are passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable, TypeVar

T = TypeVar("T")


_NEVER = -2        # versions are >= 0, or -1: unreachable


# the member of the read model's change record (edgestore e<gen>:tv) holding
# the version of the last change of any kind
ANY_CHANGE = "*"


def tenants_to_refetch(changes: dict[str, int], version: int) -> list[str] | None:
    """The tenants whose node-cache entries a change of the read model to
    ``version`` makes stale, from the changes recorded since the node's last
    look (tenant -> version of its last change, and ANY_CHANGE). None:
    everything -- the last change is not recorded there (a writer that does
    not record tenants, a version counter set back or forward by hand), so
    what changed is unknown."""
    last = changes.get(ANY_CHANGE)
    if last is None or last < version:
        return None
    return sorted(t for t in changes if t != ANY_CHANGE)


class Unavailable(RuntimeError):
    """The read model cannot be consulted now (Redis down, or no model loaded)."""


class VersionedCache:
    def __init__(self, version: Callable[[], int], max_entries: int,
                 probation_entries: int | None = None):
        self._version = version
        self._max = max(1, max_entries)
        self._pmax = max(1, probation_entries if probation_entries is not None
                         else min(4096, max_entries))
        self._seen = _NEVER            # no version yet (the unreachable one, -1, included)
        self._data: OrderedDict[Hashable, Any] = OrderedDict()        # confirmed
        self._probation: OrderedDict[Hashable, Any] = OrderedDict()   # not yet
        self._last: Hashable | None = None
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        ver = self._version()
        if ver != self._seen:
            if ver < 0:
                raise Unavailable("read model unreachable")
            self.clear()
            self._seen = ver
        self._last = key
        # (every request asks: the common answer, a confirmed entry, first)
        part = self._data if key in self._data else self._probation
        if key in part:
            part.move_to_end(key)
            self.hits += 1
            return part[key]             # type: ignore[no-any-return]
        self.misses += 1
        value = load()
        self._probation[key] = value
        if len(self._probation) > self._pmax:
            self._probation.popitem(last=False)
        return value

    def promote(self) -> None:
        """The request whose lookup was the last :meth:`get` authenticated:
        its answer joins the main part."""
        key = self._last
        if key is None or key not in self._probation:
            return
        self._data[key] = self._probation.pop(key)
        if len(self._data) > self._max:
            self._data.popitem(last=False)

    @property
    def version(self) -> int:
        """The version the entries are valid for (during a load: the one the
        loaded value will be cached under)."""
        return self._seen

    def clear(self) -> None:
        self._data.clear()
        self._probation.clear()
        self._last = None

    def __len__(self) -> int:
        return len(self._data) + len(self._probation)
