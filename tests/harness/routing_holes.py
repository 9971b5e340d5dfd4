"""What the routing-hole tests (tests/integration/test_routing_holes.py) attack
with: the stand-in outside host that must receive nothing, the attacker's and
the device's addresses, and the calls and registrations they make."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Iterator

from edgestore import guard as guardstore
from testkit.ports import free_port
from harness import sipp
from testkit.edge import Edge
from testkit.sipmsg import SipClient
from harness.calls import SCEN, unregister_all

OUTSIDE = "127.0.0.99"
ATTACKER = "127.0.0.82"          # the attacking device: screened like anyone
DEVICE = "127.0.0.83"            # a real device


class Outside:
    """The stand-in outside host: UDP and TCP listeners on one port of
    127.0.0.99, keeping whatever reaches them."""

    def __init__(self) -> None:
        self.port = free_port(OUTSIDE)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((OUTSIDE, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((OUTSIDE, self.port))
        self.tcp.listen(8)
        self.got: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._udp, daemon=True),
                         threading.Thread(target=self._tcp, daemon=True)]
        for t in self._threads:
            t.start()

    def _udp(self) -> None:
        self.udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                self.got.append(self.udp.recv(65535))
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return

    def _tcp(self) -> None:
        self.tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            conn.settimeout(1)
            try:
                self.got.append(b"TCP connection " + (conn.recv(65535) or b""))
            except OSError:
                self.got.append(b"TCP connection")
            conn.close()

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        self.udp.close()
        self.tcp.close()


def slots(edge: Edge, au: str, tenant: str) -> int:
    """Call slots the device holds in Redis (members, expired or not)."""
    dkey, _ = guardstore.call_keys(au, tenant)
    return int(edge.redis().zcard(dkey))


def call_row(au: str, pw: str, dialled: str) -> list[str]:
    return [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
            "127.0.0.1"]


def sipp_call(edge: Edge, au: str, pw: str, dialled: str, hold_ms: int = 200,
              scenario: str = "call_any.xml") -> sipp.SippResult:
    return sipp.run(edge.target, SCEN / scenario, [call_row(au, pw, dialled)],
                    local_ip="127.0.0.84",
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"],
                    timeout=30)


@contextmanager
def registered_uas(edge: Edge, au: str, pw: str, scenario: str = "uas_answer.xml"
                   ) -> Iterator[sipp.SippServer]:
    with sipp.SippServer(SCEN / scenario, local_ip=DEVICE) as uas:
        with SipClient(edge.sip, local_ip=DEVICE) as c:
            _, r = c.register(au, pw, contact_host=DEVICE, contact_port=uas.port)
            assert r is not None and r.code == 200
        try:
            yield uas
        finally:
            unregister_all(edge, au, pw)
