"""The nodes' part of CDR shipping (edgectl.cdr): every node reopens its acc
spool files (RPC ``flatstore.k_rotate``) before a renamed file is shipped.
Used by the ops service and by ``edgectl cdr ship``."""

from __future__ import annotations

import logging

from edgecore.config import Config
from edgectl import rpc
from edgectl.ops.snapshot import _rpc, node_sockets

log = logging.getLogger("edgectl.ops")


def rotate_node_spools(cfg: Config) -> bool:
    """Every node reopened its spool files (or is not running: nobody
    holds them)."""
    ok = True
    for name, sock in node_sockets(cfg).items():
        try:
            _rpc(sock, "flatstore.k_rotate")
        except (ConnectionRefusedError, FileNotFoundError):
            continue                           # node down: its files are closed
        except (OSError, rpc.RpcError) as exc:
            log.warning("cdr: node %s did not rotate its spool: %s", name, exc)
            ok = False
    return ok
