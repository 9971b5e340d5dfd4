"""The native-Kamailio yardstick (loadtest/baseline/kamailio.cfg) as a
:class:`edgectl.stack.Service`: started with Popen, ready when it answers
JSON-RPC with its credentials loaded, stopped by PID.

Its static data is a db_text table of (auth username, HA1) that
:func:`write_credentials` exports from the provisioning database -- the same
HA1s the edge checks, so both authenticate the same devices with the same
realm and scheme.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from edgecore.config import Config
from edgectl import db, rpc
from edgectl.stack import Service
from testkit.ports import free_port

CFG = Path(__file__).resolve().parent / "kamailio.cfg"
TWIN = Path(__file__).resolve().parent / "twin.py"
HTABLE_HEADER = "key_name(string) key_type(int) value_type(int) key_value(string) expires(int)"


def credentials(cfg: Config, tenants: Iterable[str]) -> list[tuple[str, str]]:
    """(auth username, HA1) of the devices of the given tenants, from PostgreSQL."""
    with db.transaction(cfg) as conn:
        q = conn.execute("SELECT auth_username, ha1 FROM devices WHERE tenant_id = ANY(%s)",
                         (list(tenants),))
        return [(str(a), str(h)) for a, h in q.fetchall()]


def write_credentials(directory: Path, rows: Iterable[tuple[str, str]]) -> int:
    """The htable's db_text table ``creds``: one row per device."""
    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(directory / "creds", "w") as fh:
        fh.write(HTABLE_HEADER + "\n")
        for au, ha1 in rows:
            fh.write(f"{au}:0:0:{ha1}:0\n")
            n += 1
    return n


class Baseline(Service):
    """Native Kamailio on its own loopback port; shares the edge's rtpengine."""

    def __init__(self, cfg: Config, run_dir: Path, children: int | None = None,
                 shm_mb: int | None = None, usrloc_db_url: str | None = None,
                 kemi: bool = False):
        super().__init__(cfg, "baseline", "kamailio")
        # the same routes in Python (twin.py): the cost of interpreting them
        self.kemi = kemi
        # usrloc DB-only on this database (Kamailio db_postgres URL) instead of memory
        self.usrloc_db_url = usrloc_db_url
        self.run_dir = run_dir
        self.creds_dir = run_dir / "creds"
        self.rpc_socket = run_dir / "baseline.rpc.sock"
        self.cdr_dir = run_dir / "cdr"            # acc's db_flatstore spool, as the edge's
        self.listen_ip = cfg.sip.listen_ip
        self.port = free_port(self.listen_ip)
        self.children = children or cfg.sip.children
        self.shm_mb = shm_mb or cfg.sip.shm_mb

    @property
    def target(self) -> str:
        return f"{self.listen_ip}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "baseline.log"

    def prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.cdr_dir.mkdir(exist_ok=True)
        self.rpc_socket.unlink(missing_ok=True)
        if not (self.creds_dir / "creds").exists():
            write_credentials(self.creds_dir, [])

    def command(self) -> list[str]:
        r = self.cfg.rtpengine
        defines = {
            "LISTEN_IP": self.listen_ip, "UDP_PORT": str(self.port),
            "CHILDREN": str(self.children), "RPC_SOCKET": f'"{self.rpc_socket}"',
            "CREDS_URL": f'"text://{self.creds_dir}"',
            "RTPENGINE_NG": f'"udp:{r.ng_host}:{r.ng_port}"',
            "AUTH_SECRET": f'"{self.cfg.auth.nonce_secret}"',
            "REALM": f'"{self.cfg.auth.realm}"',
            "CDR_DB_URL": f'"flatstore:{self.cdr_dir}"',
        }
        cmd = ["kamailio", "-f", str(CFG), "-DD", "-E", "-m", str(self.shm_mb),
               "-M", str(self.cfg.sip.pkg_mb), "-x", self.cfg.sip.memory_manager]
        if self.usrloc_db_url:
            defines["WITH_USRLOC_DB"] = ""
            defines["USRLOC_DB_URL"] = f'"{self.usrloc_db_url}"'
        if self.kemi:
            defines["WITH_KEMI"] = ""
            defines["KEMI_SCRIPT"] = f'"{TWIN}"'
        for k, v in defines.items():
            cmd += ["-A", f"{k}={v}" if v else k]
        return cmd

    def env(self) -> dict[str, str]:
        return super().env() | {"BASELINE_REALM": self.cfg.auth.realm}     # twin.py's REALM

    def ready(self) -> bool:
        try:
            rpc.call(self.rpc_socket, "core.version", timeout=1.0)
            return True
        except (rpc.RpcError, OSError, ValueError):
            return False

    def rpc(self, method: str, *params: object) -> object:
        return rpc.call(self.rpc_socket, method, *params)

    def credentials_loaded(self) -> int:
        """Entries in the credentials htable, as the running node sees them."""
        res = self.rpc("htable.stats")
        for t in res if isinstance(res, list) else []:
            if isinstance(t, dict) and t.get("name") == "creds":
                return int(t.get("all", 0))
        return 0
