"""A raw SIP client for tests: builds requests, sends them over UDP or TCP,
reads replies, answers digest challenges (RFC 2617, qop=auth).

Used where SIPp cannot express the case: crafted or malformed messages,
comparing two challenges, tight propagation loops.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass, field


def _h(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


@dataclass
class Reply:
    code: int
    reason: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    raw: str = ""

    def header(self, name: str) -> str | None:
        v = self.headers.get(name.lower())
        return v[0] if v else None


def parse_reply(text: str) -> Reply:
    head = text.split("\r\n\r\n", 1)[0]
    lines = head.split("\r\n")
    m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ValueError(f"not a SIP reply: {lines[0]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    return Reply(int(m.group(1)), m.group(2), headers, text)


def digest_params(challenge: str) -> dict[str, str]:
    return {k.lower(): v for k, v in re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1])}


def authorization(challenge: str, method: str, uri: str, user: str, password: str,
                  header: str = "Authorization") -> str:
    p = digest_params(challenge)
    realm, nonce = p["realm"], p["nonce"]
    ha1 = _h(f"{user}:{realm}:{password}")
    ha2 = _h(f"{method}:{uri}")
    if "qop" in p:
        cnonce, nc = os.urandom(4).hex(), "00000001"
        resp = _h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = _h(f"{ha1}:{nonce}:{ha2}")
        extra = ""
    opaque = f', opaque="{p["opaque"]}"' if "opaque" in p else ""
    return (f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{resp}", algorithm=MD5{extra}{opaque}')


class SipClient:
    """One UA endpoint on its own socket (UDP or TCP)."""

    def __init__(self, edge: tuple[str, int], local_ip: str = "127.0.0.1", tcp: bool = False,
                 timeout: float = 3.0, local_port: int = 0):
        self.edge = edge
        self.tcp = tcp
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.sock.bind((local_ip, local_port))
        if tcp:
            self.sock.connect(edge)
        self.local = self.sock.getsockname()
        self.cseq = 0
        self.call_id = os.urandom(8).hex() + "@test"
        self.tag = os.urandom(4).hex()
        self._buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "SipClient":
        return self

    def __exit__(self, *a: object) -> None:
        self.close()

    @property
    def transport(self) -> str:
        return "TCP" if self.tcp else "UDP"

    def build(self, method: str, ruri: str, from_uri: str, to_uri: str,
              extra: list[str] | None = None, body: str = "", cseq: int | None = None,
              call_id: str | None = None, contact: str | None = None,
              max_forwards: int = 70, to_tag: str | None = None) -> str:
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        host, port = self.local
        lines = [
            f"{method} {ruri} SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {host}:{port};branch=z9hG4bK{os.urandom(6).hex()};rport",
            f"Max-Forwards: {max_forwards}",
            f"From: <{from_uri}>;tag={self.tag}",
            f"To: <{to_uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq} {method}",
        ]
        if contact is not None:
            lines.append(f"Contact: {contact}")
        lines += list(extra or [])
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        if self.tcp:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.edge)

    def take_message(self) -> str | None:
        """TCP: one whole message from what was read so far (Content-Length
        framing, RFC 3261 18.3), or None."""
        if b"\r\n\r\n" not in self._buf:
            return None
        head, rest = self._buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        if len(rest) < n:
            return None
        self._buf = rest[n:]
        return (head + b"\r\n\r\n" + rest[:n]).decode(errors="replace")

    def recv(self, timeout: float | None = None) -> Reply | None:
        """Next final-or-provisional reply (None on timeout)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            if not self.tcp:
                data, _ = self.sock.recvfrom(65535)
                return parse_reply(data.decode(errors="replace"))
            while True:
                msg = self.take_message()
                if msg is not None:
                    return parse_reply(msg)
                chunk = self.sock.recv(65535)
                if not chunk:
                    return None
                self._buf += chunk
        except (socket.timeout, TimeoutError):
            return None

    def final(self, timeout: float = 3.0) -> Reply | None:
        """Skip provisional replies; the final one (None on timeout)."""
        while True:
            r = self.recv(timeout)
            if r is None or r.code >= 200:
                return r

    def request(self, msg: str, timeout: float = 3.0) -> Reply | None:
        self.send_raw(msg)
        return self.final(timeout)

    # -- REGISTER with digest --------------------------------------------------
    def register(self, user: str, password: str | None, domain: str | None = None,
                 expires: int = 600, contact_host: str | None = None, to_user: str | None = None,
                 extra: list[str] | None = None, contact_port: int | None = None,
                 contact_transport: str | None = None) -> tuple[Reply | None, Reply | None]:
        """REGISTER; when challenged and a password is given, answer once.
        Returns (first reply, reply to the authenticated retry or None)."""
        host, port = self.local
        domain = domain or self.edge[0]
        aor = f"sip:{to_user or user}@{domain}"
        ruri = f"sip:{domain}"
        ch = contact_host or host
        contact = (f"<sip:{user}@{ch}:{contact_port or port};"
                   f"transport={(contact_transport or self.transport).lower()}>")
        hdrs = [f"Expires: {expires}"] + list(extra or [])
        first = self.request(self.build("REGISTER", ruri, aor, aor, hdrs, contact=contact))
        if first is None or first.code != 401 or password is None:
            return first, None
        auth = authorization(first.header("www-authenticate") or "", "REGISTER", ruri, user,
                             password)
        second = self.request(self.build("REGISTER", ruri, aor, aor, hdrs + [auth],
                                         contact=contact))
        return first, second
