"""The TLS certificate of a node's TLS and WSS listeners.

Production configures its own certificate and key (``[tls]``). For local use
the launcher generates a self-signed one under the run directory, valid for
the node's listen address, ``localhost`` and the edge domain, once.
"""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

from edgecore.config import Config
from edgectl.db import EdgeError


def _san(names: list[str]) -> str:
    out = []
    for n in dict.fromkeys(names):
        try:
            ipaddress.ip_address(n)
            out.append(f"IP:{n}")
        except ValueError:
            out.append(f"DNS:{n}")
    return ",".join(out)


def ensure(cfg: Config) -> tuple[Path, Path]:
    cert, key = cfg.tls_files
    if bool(cfg.tls.certificate) != bool(cfg.tls.private_key):
        raise EdgeError("[tls] certificate and private_key are set together "
                        "(both empty: a self-signed pair for local use)")
    if cfg.tls.certificate and cfg.tls.private_key:
        for p in (cert, key):
            if not p.exists():
                raise EdgeError(f"TLS file not found: {p}")
        return cert, key
    if cert.exists() and key.exists():
        return cert, key
    cert.parent.mkdir(parents=True, exist_ok=True)
    names = [cfg.sip.listen_ip, "127.0.0.1", "localhost", cfg.node.domain, *cfg.node.aliases]
    if cfg.sip.listen_ip in ("0.0.0.0", "::"):
        names.remove(cfg.sip.listen_ip)
    out = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
         "-days", "825", "-keyout", str(key), "-out", str(cert),
         "-subj", f"/CN={cfg.node.domain}", "-addext", f"subjectAltName={_san(names)}"],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise EdgeError(f"cannot create a self-signed certificate: {out.stderr.strip()}")
    key.chmod(0o600)
    return cert, key
