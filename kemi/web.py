"""HTTP on the WSS port (xhttp event route): the WebSocket handshake of SIP
over WebSocket (RFC 7118, path /ws), and -- when ``webphone.serve`` is on --
the browser phone's static files (webphone/public), so a browser needs one
address and one certificate. Anything else: 404. GET only."""

from __future__ import annotations


import KSR

from edgecore.config import REPO_ROOT
from kemi import context

WS_PATH = "/ws"
STATIC = REPO_ROOT / "webphone" / "public"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "application/javascript"),
    "/style.css": ("style.css", "text/css"),
}
_cache: dict[str, str] = {}


def _static(path: str) -> tuple[str, str] | None:
    entry = FILES.get(path)
    if entry is None:
        return None
    name, ctype = entry
    if name not in _cache:
        try:
            _cache[name] = (STATIC / name).read_text()
        except OSError:
            return None
    return _cache[name], ctype


def on_request() -> None:
    url = str(KSR.xhttp.get_hu() or "/")
    path = url.split("?", 1)[0]
    upgrade = context.pv_str("$hdr(Upgrade)").lower()
    if upgrade == "websocket":
        if path == WS_PATH and KSR.websocket.handle_handshake() > 0:
            return
        KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "no WebSocket here\n")
        return
    if context.pv_str("$rm") != "GET":
        KSR.xhttp.xhttp_reply(405, "Method Not Allowed", "text/plain", "GET only\n")
        return
    found = _static(path) if context.worker().cfg.webphone.serve else None
    if found is None:
        KSR.xhttp.xhttp_reply(404, "Not Found", "text/plain", "not found\n")
        return
    body, ctype = found
    KSR.xhttp.xhttp_reply(200, "OK", ctype, body)


def on_websocket(evname: str) -> None:
    """websocket:closed -- usrloc (handle_lost_tcp) drops the contacts of the
    connection; logged here for operators."""
    KSR.info(f"websocket event {evname} from {KSR.kx.get_srcip()}\n")


