"""Redis clients of every edge process, from one config: a single server
(``redis.url``) or, for high availability, the primary that Redis Sentinel
names (``redis.sentinels`` + ``redis.master_name``; redis-py's Sentinel
support). A Sentinel-managed client asks the sentinels for the primary on
every new connection, so after a failover the next request reaches the new
primary: a worker sees a few failed requests (answered 503) and no restart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def client(rcfg: Any, **kwargs: Any) -> Any:
    """A redis.Redis for ``rcfg`` (edgecore.config.Redis); kwargs are
    redis-py connection options (timeouts, retry, decode_responses)."""
    import redis

    if not rcfg.sentinels:
        return redis.Redis.from_url(rcfg.url, **kwargs)
    from redis.sentinel import Sentinel

    u = urlsplit(rcfg.url)
    db = int((u.path or "/0").strip("/") or 0)
    if u.password:
        kwargs.setdefault("password", u.password)
    nodes = []
    for s in rcfg.sentinels:
        host, _, port = s.rpartition(":")
        nodes.append((host, int(port)))
    timeout = kwargs.get("socket_timeout") or 1.0
    sentinel = Sentinel(nodes, sentinel_kwargs={"socket_timeout": timeout,
                                                "socket_connect_timeout": timeout})
    return sentinel.master_for(rcfg.master_name, db=db, **kwargs)


def describe(rcfg: Any) -> str:
    if rcfg.sentinels:
        return f"Redis primary '{rcfg.master_name}' (sentinels {', '.join(rcfg.sentinels)})"
    return f"Redis at {rcfg.url}"
