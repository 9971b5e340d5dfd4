"""HTTP on the WSS port (xhttp event route): the WebSocket handshake of SIP
over WebSocket (RFC 7118, path /ws), and -- when ``webphone.serve`` is on --
the browser phone's static files (webphone/public), so a browser needs one
address and one certificate. Anything else: 404. GET only.

A browser asks for /favicon.ico on every page load (unless the page names an
icon: the web phone's says there is none). It gets a blank icon (200), not a
404: Kamailio 5.6 parses the xhttp replies it sends as if they were SIP, and a
404 (seen also with a 204) fails that parse with a logged ERROR
("build_sip_msg_from_buf(): parsing failed") -- one per page load; a 200 with
a body does not (tests/integration/test_call_view.py)."""

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
FAVICON = "/favicon.ico"
FAVICON_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>\n'
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
    if path == FAVICON:
        KSR.xhttp.xhttp_reply(200, "OK", "image/svg+xml", FAVICON_SVG)
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


