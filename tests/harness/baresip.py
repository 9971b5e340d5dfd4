"""baresip, a real SIP phone, driven headless: its own config directory,
one account, sine-wave audio; started and stopped by PID. With ``control``
it takes commands (dial, hangup...) over its ctrl_tcp socket (netstring
JSON) and logs every SIP message (``-s``), so a test sees what the phone saw."""

from __future__ import annotations

import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from edgectl.stack import stop_pid
from testkit.ports import free_port

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
                 transport: str = "udp", local_ip: str = "127.0.0.1", regint: int = 60,
                 control: bool = False):
        self.dir = tempfile.TemporaryDirectory(prefix="baresip")
        d = Path(self.dir.name)
        # baresip binds its SIP/TLS transport on sip_listen's port + 1,
        # whatever sip_transports says (a taken one fails its start)
        self.port = free_port(local_ip, following=1)
        self.ctrl = (local_ip, free_port(local_ip)) if control else None
        config = CONFIG.format(ip=local_ip, port=self.port, transport=transport)
        if self.ctrl:
            # calls need working audio: ausine makes only 48 kHz (baresip
            # resamples to the codec's rate); what is heard goes to aubridge
            config = config.replace("audio_player\t\tausine,", "audio_player\t\taubridge,sink")
            config += ("module\t\t\taubridge.so\nausrc_srate\t\t48000\nauplay_srate\t\t48000\n"
                       "ausrc_channels\t\t2\nauplay_channels\t\t2\n"
                       f"module_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t{self.ctrl[0]}:{self.ctrl[1]}\n")
        (d / "config").write_text(config)
        (d / "accounts").write_text(
            f"<sip:{user}@{edge[0]}:{edge[1]};transport={transport}>;auth_pass={password};"
            f"regint={regint}\n")
        self.log = d / "baresip.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["baresip", "-f", str(d)] + (["-s"] if control else []),
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)

    def command(self, command: str, params: str = "", timeout: float = 10) -> str:
        """One ctrl_tcp command; returns its response's data (raises if not ok)."""
        assert self.ctrl, "started without control"
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(self.ctrl, timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with sock:
            sock.sendall(b"%d:%s," % (len(body), body))
            buf = b""
            while True:
                while b":" in buf:
                    n, _, rest = buf.partition(b":")
                    if len(rest) < int(n) + 1:
                        break
                    msg, buf = json.loads(rest[:int(n)]), rest[int(n) + 1:]
                    if msg.get("response"):
                        if not msg.get("ok"):
                            raise RuntimeError(f"baresip {command}: {msg}")
                        return str(msg.get("data", ""))
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"baresip {command}: connection closed")
                buf += chunk

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
