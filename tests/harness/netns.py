"""A network namespace of the test's own, linked to the host by a veth pair:
a separate host for a browser, so its WebRTC media crosses only this link
(the host end's address is where the edge, rtpengine and SIPp listen) and
never the machine's real interfaces. Removed, with its link, on exit."""

from __future__ import annotations

import os
import subprocess


def _ip(*args: str) -> None:
    out = subprocess.run(["ip", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")


class NetNs:
    def __init__(self, index: int = 0):
        n = (os.getpid() + index) % 200 + 20
        self.name = f"edgetest{os.getpid()}x{index}"
        self.host_if, self.ns_if = f"veh{n}x{index}", f"ven{n}x{index}"
        # RFC 2544 benchmarking range: routable-looking (not RFC 1918), never
        # on a real network; the edge must not take the browser for NATed
        self.host_ip, self.ns_ip = f"198.18.{n}.1", f"198.18.{n}.2"
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            _ip("-n", self.name, "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            _ip("-n", self.name, "link", "set", self.ns_if, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)

    def __enter__(self) -> "NetNs":
        return self

    def __exit__(self, *a: object) -> None:
        self.close()
