"""Client of rtpengine's ng control protocol (bencoded dictionaries over UDP,
each prefixed by a cookie), for readiness checks and for reading what
rtpengine holds (``list``, ``query``, ``statistics``)."""

from __future__ import annotations

import os
import socket
from typing import Any


def bencode(obj: Any) -> bytes:
    if isinstance(obj, bool):
        obj = int(obj)
    if isinstance(obj, int):
        return b"i%de" % obj
    if isinstance(obj, str):
        obj = obj.encode()
    if isinstance(obj, bytes):
        return b"%d:%s" % (len(obj), obj)
    if isinstance(obj, (list, tuple)):
        return b"l" + b"".join(bencode(x) for x in obj) + b"e"
    if isinstance(obj, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in obj.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(obj).__name__}")


def bdecode(data: bytes) -> Any:
    value, end = _decode(data, 0)
    if end != len(data):
        raise ValueError("trailing data after bencoded value")
    return value


def _decode(d: bytes, i: int) -> tuple[Any, int]:
    c = d[i:i + 1]
    if c == b"i":
        j = d.index(b"e", i)
        return int(d[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while d[i:i + 1] != b"e":
            v, i = _decode(d, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        res: dict[str, Any] = {}
        while d[i:i + 1] != b"e":
            k, i = _decode(d, i)
            v, i = _decode(d, i)
            res[k] = v
        return res, i + 1
    if c.isdigit():
        j = d.index(b":", i)
        n = int(d[i:j])
        raw = d[j + 1:j + 1 + n]
        try:
            return raw.decode(), j + 1 + n
        except UnicodeDecodeError:
            return raw, j + 1 + n
    raise ValueError(f"bad bencode at offset {i}")


def command(host: str, port: int, cmd: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    cookie = os.urandom(6).hex().encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(cookie + b" " + bencode(cmd), (host, port))
        while True:
            data = s.recv(1 << 20)
            got, _, body = data.partition(b" ")
            if got == cookie:
                result = bdecode(body)
                assert isinstance(result, dict)
                return result
    finally:
        s.close()


def ping(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        return command(host, port, {"command": "ping"}, timeout).get("result") == "pong"
    except (OSError, ValueError):
        return False
