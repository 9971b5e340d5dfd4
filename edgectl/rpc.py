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


def call_stream(fifo: str | os.PathLike[str], reply_dir: str | os.PathLike[str], method: str,
                *params: Any, timeout: float = 5.0) -> Any:
    """One JSON-RPC call over the node's jsonrpcs FIFO: the reply comes back
    through a FIFO this client makes in ``reply_dir`` (jsonrpcs
    fifo_reply_dir), read to its end -- no size bound, where a datagram reply
    must fit one datagram (about 128 KB)."""
    name = f"edgerpc_{os.getpid()}_{next(_ids)}_{os.urandom(4).hex()}"  # no '.' or '/'
    reply = Path(reply_dir) / name
    req = {"jsonrpc": "2.0", "method": method, "id": next(_ids), "reply_name": name}
    if params:
        req["params"] = list(params)
    os.mkfifo(reply, 0o660)
    try:
        # the read end is open before the request goes out: jsonrpcs opens the
        # reply FIFO without blocking and gives up when no reader is there
        rfd = os.open(reply, os.O_RDONLY | os.O_NONBLOCK)
        try:
            try:
                wfd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:          # ENOENT, or ENXIO: nobody reads it
                raise RpcError(f"kamailio RPC FIFO {fifo} not answering: {exc}") from None
            try:
                os.write(wfd, json.dumps(req).encode() + b"\n")
            finally:
                os.close(wfd)
            data = _read_to_end(rfd, time.monotonic() + timeout, method)
        finally:
            os.close(rfd)
    finally:
        reply.unlink(missing_ok=True)
    out = json.loads(data.decode(errors="replace"))
    if "error" in out:
        raise RpcError(f"{method}: {out['error'].get('message', out['error'])}")
    return out.get("result")


def _read_to_end(fd: int, deadline: float, method: str) -> bytes:
    import select

    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RpcError(f"kamailio RPC {method} timed out")
        data = os.read(fd, 1 << 16)
        if data:
            chunks.append(data)
        elif chunks:
            return b"".join(chunks)         # the writer closed: the whole reply
        else:
            time.sleep(0.005)               # no writer yet


def node_streams(cfg: Any) -> dict[str, tuple[Path, Path]]:
    """Each node's (jsonrpcs FIFO, reply directory), named as node_sockets."""
    return {name: (sock.with_name(name + ".rpc.fifo"), cfg.rpc_reply_dir)
            for name, sock in node_sockets(cfg).items()}


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
