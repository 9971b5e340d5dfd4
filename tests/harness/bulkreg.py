"""Many registrations fast: digest REGISTERs with several Contact headers
each, from one UDP socket, a window of transactions in flight (RFC 3261
10.2.1: one REGISTER may bind several contacts). 2,000 devices x 50
contacts = 100,000 contacts in 4,000 transactions."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field

from testkit.sipmsg import authorization, parse_reply


@dataclass
class _Reg:
    user: str
    password: str
    contacts: int
    expires: int
    call_id: str = field(default_factory=lambda: os.urandom(8).hex() + "@bulk")
    cseq: int = 1
    auth: str = ""
    challenges: int = 0
    sent_at: float = 0.0
    code: int = 0


def register_many(edge: tuple[str, int], devices: list[tuple[str, str]], contacts: int,
                  expires: int = 600, window: int = 100, timeout: float = 120.0,
                  local: tuple[str, int] = ("127.0.0.1", 0)) -> dict[int, int]:
    """Register each (auth username, password) with ``contacts`` contacts
    <sip:user-k@local> (``expires`` 0: unregister them; from the same
    ``local`` address as they were registered). Returns {final code: count};
    a transaction unanswered for 4 s is sent again (UDP); a retransmission
    whose nonce the original already used up is challenged again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(local)
    sock.settimeout(0.2)
    host, port = sock.getsockname()
    todo = [_Reg(u, p, contacts, expires) for u, p in devices]
    pending: dict[str, _Reg] = {}
    done: dict[int, int] = {}
    ruri = f"sip:{edge[0]}"

    def send(r: _Reg) -> None:
        aor = f"sip:{r.user}@{edge[0]}"
        lines = [f"REGISTER {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK{os.urandom(6).hex()};rport",
                 "Max-Forwards: 70", f"From: <{aor}>;tag={r.call_id[:8]}", f"To: <{aor}>",
                 f"Call-ID: {r.call_id}", f"CSeq: {r.cseq} REGISTER", f"Expires: {r.expires}"]
        lines += [f"Contact: <sip:{r.user}-{k}@{host}:{port};transport=udp>"
                  for k in range(r.contacts)]
        if r.auth:
            lines.append(r.auth)
        lines.append("Content-Length: 0")
        sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), edge)
        r.sent_at = time.monotonic()

    deadline = time.monotonic() + timeout
    try:
        while (todo or pending) and time.monotonic() < deadline:
            while todo and len(pending) < window:
                r = todo.pop()
                pending[r.call_id] = r
                send(r)
            try:
                data, _ = sock.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                data = b""
            if data:
                rep = parse_reply(data.decode(errors="replace"))
                cid = rep.header("call-id") or ""
                r = pending.get(cid)
                cseq = int((rep.header("cseq") or "0").split()[0])
                if r is not None and cseq == r.cseq and rep.code >= 200:
                    if rep.code == 401 and r.challenges < 6:
                        # (again: a retransmission reused a nonce that was used up)
                        r.challenges += 1
                        r.cseq += 1
                        r.auth = authorization(rep.header("www-authenticate") or "",
                                               "REGISTER", ruri, r.user, r.password)
                        send(r)
                    else:
                        del pending[cid]
                        done[rep.code] = done.get(rep.code, 0) + 1
            now = time.monotonic()
            for r in pending.values():
                if now - r.sent_at > 4.0:
                    send(r)
    finally:
        sock.close()
    if pending or todo:
        done[0] = len(pending) + len(todo)          # never answered
    return done
