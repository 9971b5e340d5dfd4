"""Timer task (rtimer, every ``cache.poll_ms``): copy the read-model version
from Redis into ``$shv(edge_ver)``, shared by all workers of the node.

The workers compare it with the version their caches were filled at (see
edgecore.cache); -1 tells them the read model is unreachable (Redis down, or
holding no model), so they answer 503 instead of trusting a cache. One MGET per
interval per node -- not per request.
"""

from __future__ import annotations

import KSR

from edgecore import readmodel as rm
from kemi import context

_state: dict[str, bool | None] = {"last": None}


def poll() -> None:
    import redis

    w = context.worker()
    try:
        gen, ver = w.redis.mget(rm.GEN_KEY, rm.VER_KEY)
        version = int(ver) if gen is not None and ver is not None else -1
        problem = None if version >= 0 else "Redis holds no read model"
    except (redis.RedisError, OSError, ValueError) as exc:
        version, problem = -1, f"Redis unreachable: {exc}"
    KSR.pv.seti("$shv(edge_ver)", version)
    up = version >= 0
    if _state["last"] is not up:
        if up:
            KSR.info(f"read model available (version {version})\n")
        else:
            KSR.err(f"read model unavailable: {problem}; answering 503\n")
        _state["last"] = up
