"""The administration API of an edge under test: HTTPS clients signed in as
a given account, verifying the edge's own certificate."""

from __future__ import annotations

import itertools
import ssl
from typing import Any

import httpx

from testkit.edge import Edge

_users = itertools.count(1)


def base_url(edge: Edge) -> str:
    return f"https://{edge.cfg.api.listen}:{edge.cfg.api.port}"


def client(edge: Edge, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base_url(edge) + "/api/v1", headers=headers,
                        verify=ssl.create_default_context(cafile=str(edge.cfg.tls_files[0])),
                        timeout=30)


def login(edge: Edge, username: str, password: str, totp: str | None = None) -> httpx.Client:
    with client(edge) as c:
        r = c.post("/auth/login", json={"username": username, "password": password,
                                        **({"totp": totp} if totp else {})})
    assert r.status_code == 200, r.text
    return client(edge, r.json()["token"])


def new_user(edge: Edge, role: str, tenant: str | None = None, *flags: str
             ) -> tuple[str, str, str]:
    """An account made with edgectl: (username, password, edgectl's output)."""
    name, pw = f"u{next(_users)}-{role}-{tenant or 'all'}", "a-long-enough-password"
    out = edge.ctl_ok("user", "add", name, "--role", role, "--password", pw, *flags,
                      *(["--tenant", tenant] if tenant else []))
    return name, pw, out


def is_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["type"].startswith("/problems/")
    assert body["title"] and body["detail"]
    return dict(body)
