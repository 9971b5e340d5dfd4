"""What ``make up`` tells a new user besides the phone address (edgectl/cli.py
stack up): where the web phone is, the secure ports, how to dial another
tenant, and how to get ``edgectl`` on PATH.

``edgectl`` lives in the checkout's venv (.venv/bin). The launcher does not
put a wrapper into a system directory such as /usr/local/bin: several
checkouts (and stacks, on their own ports) may share a host, and a wrapper
would silently drive whichever ran ``make up`` last. The banner names the one
line that puts this checkout's edgectl on the shell's PATH instead.
"""

from __future__ import annotations

from pathlib import Path

from edgecore.config import REPO_ROOT, Config


def lines(cfg: Config, repo: Path = REPO_ROOT) -> list[str]:
    s = cfg.sip
    out = []
    if "websocket" in cfg.node.features:
        out.append(f"TLS (SIP phones): {s.listen_ip}:{s.tls_port}    "
                   f"WSS (browsers): wss://{s.listen_ip}:{s.wss_port}/ws")
        if cfg.webphone.serve:
            out.append(f"Web phone: https://{s.listen_ip}:{s.wss_port}/ "
                       "(self-signed certificate: accept it once in the browser)")
    out.append("Dialling: an extension of the caller's own tenant (7002), another tenant's "
               "as TENANT*EXT (00004*7001), global numbers as they are")
    out.append(f"edgectl on PATH: . {repo / '.venv' / 'bin' / 'activate'}   "
               f"(or run {repo / '.venv' / 'bin' / 'edgectl'})")
    return out
