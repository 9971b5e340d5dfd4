"""baresip, a real SIP phone, driven headless: its own config directory,
one account, sine-wave audio; started and stopped by PID."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from edgectl.stack import free_port, stop_pid

CONFIG = """poll_method		epoll
sip_listen		{ip}:{port}
sip_transports		{transport}
net_interface		{ip}
module_path		/usr/lib/baresip/modules
module			g711.so
module			ausine.so
module_app		account.so
module_app		menu.so
audio_player		ausine,
audio_source		ausine,440
"""


class Baresip:
    def __init__(self, edge: tuple[str, int], user: str, password: str,
                 transport: str = "udp", local_ip: str = "127.0.0.1", regint: int = 60):
        self.dir = tempfile.TemporaryDirectory(prefix="baresip")
        d = Path(self.dir.name)
        self.port = free_port(local_ip)
        (d / "config").write_text(CONFIG.format(ip=local_ip, port=self.port,
                                                transport=transport))
        (d / "accounts").write_text(
            f"<sip:{user}@{edge[0]}:{edge[1]};transport={transport}>;auth_pass={password};"
            f"regint={regint}\n")
        self.log = d / "baresip.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["baresip", "-f", str(d)], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_pid(self.proc.pid, "baresip", timeout=5)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        self.stop()
        self.dir.cleanup()

    def __enter__(self) -> "Baresip":
        return self

    def __exit__(self, *a: object) -> None:
        self.close()
