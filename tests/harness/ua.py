"""A device that registers over TCP and then answers on that one connection.

It never listens for new connections: a call reaches it only through the
connection it registered on -- i.e. only through the edge node holding that
connection. Requests it receives are kept for the test to inspect."""

from __future__ import annotations

import re
import socket
import threading
import time

from testkit.sipmsg import SipClient

SDP = ("v=0\r\no=dev 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class TcpDevice:
    def __init__(self, node: tuple[str, int], user: str, password: str):
        self.client = SipClient(node, tcp=True)
        self.user, self.password = user, password
        self.received: list[str] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, expires: int = 600) -> int:
        _, r = self.client.register(self.user, self.password, expires=expires)
        assert r is not None, "no reply to REGISTER"
        return r.code

    def start(self) -> "TcpDevice":
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def requests(self, method: str) -> list[str]:
        with self.lock:
            return [m for m in self.received if m.startswith(method + " ")]

    def wait_request(self, method: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(method)
            if got:
                return got[-1]
            time.sleep(0.05)
        raise AssertionError(f"{self.user}: no {method} received")

    def close(self) -> None:
        self._stop.set()
        try:
            self.client.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.client.close()
        if self._thread is not None:
            self._thread.join(timeout=3)

    # -- the answering loop ------------------------------------------------------
    def _read(self) -> str | None:
        c = self.client
        while not self._stop.is_set():
            msg = c.take_message()
            if msg is not None:
                return msg
            try:
                c.sock.settimeout(0.5)
                chunk = c.sock.recv(65535)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return None
            if not chunk:
                return None
            c._buf += chunk
        return None

    def _serve(self) -> None:
        while not self._stop.is_set():
            msg = self._read()
            if msg is None:
                return
            if msg.startswith("SIP/2.0"):
                continue
            with self.lock:
                self.received.append(msg)
            method = msg.split(" ", 1)[0]
            if method == "INVITE":
                ip, port = self.client.local
                body = SDP.format(ip=ip, port=40000)
                self.client.send_raw(reply_to(msg, 200, "OK", [
                    f"Contact: <sip:{self.user}@{ip}:{port};transport=tcp>",
                    "Content-Type: application/sdp"], body))
            elif method in ("BYE", "OPTIONS", "CANCEL", "UPDATE", "INFO"):
                self.client.send_raw(reply_to(msg, 200, "OK"))


def reply_to(req: str, code: int, reason: str, extra: list[str] | None = None,
             body: str = "") -> str:
    """A UAS's reply to ``req`` (RFC 3261 8.2.6: its Via, From, Call-ID, CSeq,
    Record-Route; its To with a tag of this UAS, the same for every reply to
    the same request)."""
    lines = req.replace("\r\n", "\n").split("\n")
    keep = [ln for ln in lines if re.match(r"(?i)^(via|v|from|f|call-id|i|cseq|"
                                           r"record-route)\s*:", ln)]
    to = next(ln for ln in lines if re.match(r"(?i)^(to|t)\s*:", ln))
    if ";tag=" not in to:
        to += ";tag=dev" + str(abs(hash(req)) % 100000)
    out = [f"SIP/2.0 {code} {reason}", *keep, to, *(extra or []),
           f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(out) + "\r\n\r\n" + body
