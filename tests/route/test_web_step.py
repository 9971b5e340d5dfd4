"""kemi.web: the WSS port's HTTP side -- WebSocket handshake on /ws only,
the web phone's files (GET only, a fixed list), 404 for anything else."""

from __future__ import annotations

import pytest

from fakes import FakeWorker, use
from kemi import web


@pytest.fixture(autouse=True)
def worker() -> FakeWorker:
    return use(FakeWorker())


def replies(ksr):
    return [(a[0], a[2]) for a in ksr.called("xhttp.xhttp_reply")]


def test_websocket_handshake_on_ws_path(ksr):
    ksr.results["xhttp.get_hu"] = "/ws"
    ksr.pv["$hdr(Upgrade)"] = "websocket"
    ksr.results["websocket.handle_handshake"] = 1
    web.on_request()
    assert ksr.called("websocket.handle_handshake") and not replies(ksr)


def test_websocket_elsewhere_is_404(ksr):
    ksr.results["xhttp.get_hu"] = "/other"
    ksr.pv["$hdr(Upgrade)"] = "WebSocket"
    web.on_request()
    assert not ksr.called("websocket.handle_handshake")
    assert replies(ksr) == [(404, "text/plain")]


@pytest.mark.parametrize("path,ctype", [("/", "text/html; charset=utf-8"),
                                        ("/index.html", "text/html; charset=utf-8"),
                                        ("/style.css", "text/css")])
def test_web_phone_files(ksr, path, ctype):
    ksr.results["xhttp.get_hu"] = path + "?x=1"
    ksr.pv["$rm"] = "GET"
    web.on_request()
    (reply,) = ksr.called("xhttp.xhttp_reply")
    assert reply[0] == 200 and reply[2] == ctype and len(reply[3]) > 100


@pytest.mark.parametrize("path", ["/../edgecore/config.py", "/app.js.map", "/secret", "//etc/passwd"])
def test_nothing_else_is_served(ksr, path):
    ksr.results["xhttp.get_hu"] = path
    ksr.pv["$rm"] = "GET"
    web.on_request()
    assert replies(ksr) == [(404, "text/plain")]


def test_only_get(ksr):
    ksr.results["xhttp.get_hu"] = "/"
    ksr.pv["$rm"] = "POST"
    web.on_request()
    assert replies(ksr) == [(405, "text/plain")]


def test_serving_can_be_switched_off(ksr, worker):
    worker.cfg.webphone.serve = False
    ksr.results["xhttp.get_hu"] = "/"
    ksr.pv["$rm"] = "GET"
    web.on_request()
    assert replies(ksr) == [(404, "text/plain")]


def test_the_favicon_is_a_blank_icon_not_a_404(ksr):
    ksr.results["xhttp.get_hu"] = "/favicon.ico"
    ksr.pv["$rm"] = "GET"
    web.on_request()
    (reply,) = ksr.called("xhttp.xhttp_reply")
    assert reply[:3] == (200, "OK", "image/svg+xml") and reply[3].startswith("<svg")
