"""JSON-RPC client for a running Kamailio node (jsonrpcs module, datagram socket).

Used for readiness checks, live changes without restart (dispatcher reload,
usrloc queries) and by the tests. The node's socket path comes from the config
(``Config.rpc_socket``).
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

_ids = itertools.count(1)


class RpcError(RuntimeError):
    pass


def call(sock_path: str | os.PathLike[str], method: str, *params: Any,
         timeout: float = 5.0) -> Any:
    req = {"jsonrpc": "2.0", "method": method, "id": next(_ids)}
    if params:
        req["params"] = list(params)
    with tempfile.TemporaryDirectory(prefix="edgerpc") as d:
        me = str(Path(d) / "c.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.bind(me)
            os.chmod(me, 0o777)
            s.settimeout(timeout)
            s.sendto(json.dumps(req).encode(), str(sock_path))
            data = s.recv(1 << 20)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise RpcError(f"kamailio RPC socket {sock_path} not answering: {exc}") from None
        except socket.timeout:
            raise RpcError(f"kamailio RPC {method} timed out") from None
        finally:
            s.close()
    reply = json.loads(data.decode(errors="replace"))
    if "error" in reply:
        raise RpcError(f"{method}: {reply['error'].get('message', reply['error'])}")
    return reply.get("result")


def read_model_version(sock_path: str | os.PathLike[str], timeout: float = 5.0) -> int:
    """The read-model version a node's workers trust: its ``$shv(edge_ver)``
    (kemi/poller.py), -1 while the node cannot reach the read model."""
    res = call(sock_path, "pv.shvGet", "edge_ver", timeout=timeout)
    if isinstance(res, list) and res:       # [{"name": .., "type": "int", "value": N}]
        res = res[0]
    if isinstance(res, dict):
        try:
            return int(res.get("value", -1))
        except (TypeError, ValueError):
            return -1
    return -1


def wait_ready(sock_path: str | os.PathLike[str], timeout: float = 20.0,
               alive: Any = None) -> None:
    """Block until the node answers ``core.uptime`` (or raise)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RpcError("kamailio exited during start-up")
        try:
            call(sock_path, "core.uptime", timeout=1.0)
            return
        except (RpcError, OSError) as exc:
            last = exc
            time.sleep(0.05)
    raise RpcError(f"kamailio not ready after {timeout}s: {last}")


def node_sockets(cfg: Any) -> dict[str, Path]:
    """The edge nodes of a stack: every ``<name>.rpc.sock`` in its run dir
    (a local multi-node stack shares one), else the configured node's."""
    import glob

    found = {Path(p).name[:-len(".rpc.sock")]: Path(p)
             for p in glob.glob(str(cfg.run_dir / "*.rpc.sock"))}
    return found or {cfg.node.name: cfg.rpc_socket}
