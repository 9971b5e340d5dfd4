"""PostgreSQL -> Redis: building the read model and keeping it current.

One unit of work, the *tenant snapshot* (a tenant with its devices, ranges,
ring groups and exceptions, read in one REPEATABLE READ transaction), serves
both paths, so they cannot drift apart:

* :func:`full_rebuild` writes every tenant into a fresh generation and flips
  ``edge:gen`` to it in one MULTI (readers never see a half-built model), then
  deletes the old generation;
* :func:`apply_tenants` rewrites the named tenants inside the current
  generation, all of them in one MULTI, deleting what they owned before
  (so a device moved between two of them is never lost between the two);
* every full rebuild also writes a fresh random ``edge:epoch``: the version
  counter may go backwards when Redis loses data (restart without
  persistence, failover to a lagging replica), the pair (epoch, version)
  never repeats, and that pair is what the nodes' caches compare.

:class:`Follower` (``edgectl sync --follow``) LISTENs on ``edge_changes``
(NOTIFY from the schema's triggers) and applies each changed tenant within
milliseconds; it rebuilds fully when it starts, when Redis comes back empty,
and after losing its PostgreSQL connection (notifications may have been
missed). Writers take ``edge:sync:lock`` so a manual ``edgectl sync`` and a
follower never interleave; re-reading a tenant is idempotent, so a
notification that arrives during a rebuild is simply applied after it.

One concern per module: snapshot.py (reading tenants from PostgreSQL),
writer.py (writing them into Redis: the lock and the two write paths),
follower.py (the LISTEN loop).
"""

from edgectl.sync.follower import CHANNEL, Follower
from edgectl.sync.snapshot import TenantSnapshot, in_ranges, load_snapshots
from edgectl.sync.writer import (BATCH, GEN_SEQ_KEY, GENS_KEY, LOCK_TTL_MS, RebuildResult,
                                 WriterLock, apply_tenants, current_generation, full_rebuild,
                                 redis_client, tenant_writes, write_namespaces)

__all__ = ["BATCH", "CHANNEL", "GENS_KEY", "GEN_SEQ_KEY", "LOCK_TTL_MS", "Follower",
           "RebuildResult", "TenantSnapshot", "WriterLock", "apply_tenants",
           "current_generation", "full_rebuild", "in_ranges", "load_snapshots", "redis_client",
           "tenant_writes", "write_namespaces"]
