"""Per-process and per-request state of the KEMI code.

Kamailio loads the KEMI script in its main process (``mod_init``) and then
forks its workers; sockets opened before the fork would be shared between
processes. So the config is read at load time, and each process opens its
own Redis client in ``child_init`` (:func:`init_worker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import KSR

from edgecore import readmodel as rm
from edgestore import readmodel as rmstore
from edgestore import redisconn
from edgecore.cache import Unavailable, VersionedCache
from edgecore.guard import Exemptions, Scanners
from edgecore.config import Config
from edgecore.policy import CallPlan

T = TypeVar("T")

# Kamailio htable of this node's devices shared by its workers
# (kamailio/core.cfg; kemi/nodecache.py fills it, Worker._node_device reads it)
NODE_CACHE = "edgecache"


def pv_str(spec: str) -> str:
    """A pseudo-variable as text ("" when null)."""
    v = KSR.pv.get(spec)
    return "" if v is None else str(v)


def shv_version() -> int:
    """The node's cache version (kemi/poller.py: changes whenever the read
    model's epoch or version does, never repeats; -1: unreachable). Read
    once per request (a request's lookups -- namespaces, then its device or
    call -- see one version); outside a request, every time."""
    global _pinned
    if _pinned is not None:
        return _pinned
    v = KSR.pv.get("$shv(edge_cache)")
    ver = int(v) if v is not None else -1
    if _in_request:
        _pinned = ver
    return ver


_in_request = False
_pinned: int | None = None


def begin_request() -> None:
    global _in_request, _pinned
    _in_request, _pinned = True, None


def end_request() -> None:
    global _in_request, _pinned
    _in_request, _pinned = False, None


class Worker:
    def __init__(self, cfg: Config, client: Any, version: Callable[[], int] = shv_version):
        self.cfg = cfg
        self.redis = client
        self.cache = VersionedCache(version, cfg.cache.max_entries, cfg.cache.probation_entries)
        # the namespace table as this worker last fetched it: with the read
        # model unreachable it still names the realm a challenge uses
        self.last_namespaces: dict[str, rm.Namespace] = {}
        self.exemptions = Exemptions(cfg.security.exempt_sources)
        self.scanners = Scanners(cfg.security.scanner_user_agents)
        # the names a REGISTER may address besides its tenant's own domain
        self.edge_domains = frozenset([cfg.node.domain.lower(),
                                       *(a.lower() for a in cfg.node.aliases)])
        # asked on every request (kemi/security.py, kemi/peers.py): once here
        self.antiflood = "antiflood" in cfg.node.features
        self.clustered = bool(cfg.cluster.peers)

    # -- Redis round trips ------------------------------------------------------
    # A request's lookup (one FCALL, none on a cache hit) is the only round trip
    # made before it is answered or relayed. Bookkeeping that must reach Redis
    # but need not delay anyone goes to the node's timer process through an
    # htable (kemi/htqueue.py: registration counts, the trust of an identity
    # at an address). Counting a failed authentication is not bookkeeping:
    # bans depend on it at once.

    def _fetch(self, fn: Callable[..., T], *args: str) -> T:
        import redis

        try:
            return fn(self.redis, *args)
        except (redis.RedisError, rmstore.ModelNotLoaded, OSError) as exc:
            raise Unavailable(str(exc)) from None

    def device(self, authuser: str) -> tuple[rm.Device | None, rm.Tenant | None]:
        """Device and tenant of a digest identity: this worker's cache, else
        the node's (shared by its workers), else one FCALL."""
        au = authuser.lower()
        return self.cache.get(("d", au), lambda: self._node_device(au, authuser))

    def _node_device(self, au: str, authuser: str) -> tuple[rm.Device | None,
                                                            rm.Tenant | None]:
        """The node-wide layer of device lookups: Kamailio's htable
        NODE_CACHE (kamailio/core.cfg), which the node's timer process fills
        with every device of the read model and invalidates per tenant
        (kemi/nodecache.py): a device entry answers while its tenant's entry
        carries the same tag. Without it, each of a node's workers would
        fetch every device once for itself, and a node just started would
        pay one FCALL per device. A device not there (not yet fetched, or
        unknown: only read-model devices are ever kept) costs one FCALL,
        cached by this worker only."""
        tag, _, packed = str(KSR.htable.sht_get(NODE_CACHE, "d:" + au) or "").partition("|")
        dev = rm.Device.unpack(packed)
        if dev is not None:
            ten = rm.Tenant.decode(rm.untag(tag, KSR.htable.sht_get(NODE_CACHE,
                                                                     "t:" + dev.tenant)))
            if ten is not None:
                return dev, ten
        return self._fetch(rmstore.fetch_device, authuser)

    def namespaces(self) -> dict[str, rm.Namespace]:
        """The legacy namespaces by address or host (kemi/namespace.py): one
        HGETALL per read-model version, none per request."""
        table = self.cache.get(("ns",), lambda: self._fetch(rmstore.fetch_namespaces))
        self.cache.promote()    # one key no stranger chooses: kept with the confirmed answers
        self.last_namespaces = table
        return table

    def call(self, authuser: str, dialled: str) -> rm.CallData:
        """Everything a call needs: cache, else one FCALL (edge_call)."""
        return self.cache.get(("c", authuser.lower(), dialled),
                              lambda: self._fetch(rmstore.fetch_call, authuser, dialled))


def redis_client(cfg: Config) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # redis-py's default is 10 retries with exponential backoff: seconds of
    # stall per request when Redis is down. One immediate retry covers a
    # pooled connection that Redis closed; then the request gets its 503.
    return redisconn.client(cfg.redis, socket_connect_timeout=cfg.redis.connect_timeout,
                                socket_timeout=cfg.redis.socket_timeout,
                                retry=Retry(NoBackoff(), 1), decode_responses=True)


CONFIG: Config | None = None
WORKER: Worker | None = None


def init_worker(cfg: Config) -> Worker:
    global WORKER
    WORKER = Worker(cfg, redis_client(cfg))
    return WORKER


def worker() -> Worker:
    if WORKER is None:
        raise RuntimeError("KEMI worker state used before child_init")
    return WORKER


@dataclass
class Request:
    """What the steps learned about the request being routed."""
    device: rm.Device | None = None      # the authenticated device
    tenant: rm.Tenant | None = None      # its tenant
    nat: bool = False                    # the sender is behind NAT
    from_pool: bool = False              # the sender is a media pool member (trusted)
    from_peer: bool = False              # the sender is another edge node (trusted)
    dialled: str = ""                    # INVITE: the R-URI user, normalised
    call: rm.CallData | None = None      # INVITE: read-model data of the call
    plan: CallPlan | None = None         # INVITE: resolution + policy decision
    namespace: str = ""                  # the legacy namespace addressed ("": edge-wide)
    src: str = ""                        # source address, once a step read it ("": not yet)

    def source(self) -> str:
        """The address the request came from (read once per request)."""
        if not self.src:
            self.src = str(KSR.kx.get_srcip())
        return self.src
