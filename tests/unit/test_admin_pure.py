"""The administration's pure parts: the login rate limit (clock injected),
page windows, how a refusal is typed for the API, and the problem document."""

from __future__ import annotations

import json

import pytest

from edgectl.api.app import LoginLimiter
from edgectl.api.problems import of_error
from edgectl.db import EdgeError
from edgectl.service import (EVERYTHING, Actor, Conflict, Forbidden, NotFound, Page,
                             QuotaExceeded, classify, service)
from edgecore.config import Config


def test_login_limiter_window_per_source():
    now = [0.0]
    lim = LoginLimiter(3, clock=lambda: now[0])
    assert [lim.allow("a") for _ in range(4)] == [True, True, True, False]
    assert lim.allow("b")                       # another source has its own count
    now[0] = 59.9
    assert not lim.allow("a")
    now[0] = 60.1                               # the first three left the window
    assert lim.allow("a")


def test_pages():
    items = [{"n": i} for i in range(7)]
    assert Page(3, 3).cut(items) == {"items": items[3:6], "total": 7, "limit": 3, "offset": 3}
    assert EVERYTHING.cut(items)["items"] == items
    for bad in ((0, 0), (501, 0), (10, -1)):
        with pytest.raises(EdgeError):
            Page(*bad)


@pytest.mark.parametrize("msg,kind", [
    ("unknown tenant 00009", NotFound),
    ("tenant 00003 has no device 7001", NotFound),
    ("tenant 00003 already exists", Conflict),
    ("tenant 00003 still has 1 devices, 0 ring groups and 1 ranges; remove them first", Conflict),
    ("malformed tenant id '1': expected 5 digits, e.g. 00001", EdgeError),
])
def test_refusals_are_typed_by_what_they_mean(msg, kind):
    got = classify(EdgeError(msg))
    assert type(got) is kind and str(got) == msg


@pytest.mark.parametrize("exc,status,kind", [
    (NotFound("unknown tenant 00009"), 404, "/problems/not-found"),
    (Forbidden("only a provider admin may change number ranges"), 403, "/problems/forbidden"),
    (QuotaExceeded("quota exceeded: tenant 00003 may have at most 2 devices"), 409,
     "/problems/quota-exceeded"),
    (EdgeError("malformed extension 'x': expected 1 to 15 digits"), 400,
     "/problems/bad-request"),
    (EdgeError("cannot reach PostgreSQL at x: refused"), 503, "/problems/unavailable"),
])
def test_problem_documents(exc, status, kind):
    r = of_error(exc, "/api/v1/x")
    body = json.loads(bytes(r.body))
    assert r.status_code == status and r.media_type == "application/problem+json"
    assert body == {"type": kind, "title": body["title"], "status": status,
                    "detail": str(exc), "instance": "/api/v1/x"}


def test_scope_and_roles_before_any_io():
    """Refusals that need no database: another tenant (404, the words of a
    missing one), a role that may not (403), a read-only account."""
    cfg = Config()
    ta = service(cfg, Actor("api:t", "tenant_admin", "00003"),
                 connect=lambda: pytest.fail("no I/O expected"))  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="^unknown tenant 00004$"):
        ta.device_remove("00004", "7001")
    with pytest.raises(Forbidden):
        ta.range_add("00003", "7100", "7199")
    with pytest.raises(Forbidden):
        ta.pool_add("127.0.0.9")
    ro = service(cfg, Actor("api:r", "read_only"),
                 connect=lambda: pytest.fail("no I/O expected"))  # type: ignore[arg-type]
    with pytest.raises(Forbidden, match="read-only"):
        ro.device_remove("00003", "7001")


def test_a_problem_quoting_non_ascii_input_is_ascii_json():
    r = of_error(EdgeError("malformed tenant id '鉄\\U00039aec': expected 5 digits"), "/x")
    raw = bytes(r.body)
    assert raw.isascii()
    assert json.loads(raw)["detail"] == "malformed tenant id '鉄\\U00039aec': expected 5 digits"
