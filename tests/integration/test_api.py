"""The administration API against the real PostgreSQL and the running edge
(HTTPS with the edge's own certificate): roles, tenant isolation (another
tenant's objects are indistinguishable from missing ones), quotas, the audit
trail, login protection, problem documents for bad input with nothing
written, and a device added through the API registering within a second."""

from __future__ import annotations

import socket
import time
from typing import Any, Iterator

import httpx
import pyotp
import pytest

from harness.adminapi import base_url, client, is_problem, login, new_user
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient
from harness.api_bad_input import BAD_INPUT
from harness.api_isolation import foreign_requests

NOBODY = "99998"          # a tenant id that does not exist


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    e = Edge(tmp_path_factory.mktemp("edge"), api={"serve": True, "logins_per_minute": 1000})
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def provider(edge: Edge) -> Iterator[httpx.Client]:
    name, pw, _ = new_user(edge, "provider_admin")
    with login(edge, name, pw) as c:
        yield c


def snapshot(edge: Edge) -> list[list[tuple]]:
    with edge.db() as c:
        return [list(c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()) for t in
                ("tenants", "number_ranges", "devices", "ring_groups", "ring_group_members",
                 "tenant_exceptions", "pool_members", "admin_users", "audit_log")]


def tenant_with_device(edge: Edge, name: str) -> str:
    t = edge.new_tenant(name)
    edge.new_device(t, "7001")
    edge.ctl_ok("ringgroup", "add", t, "7050", "--name", "Desk", "--member", "7001")
    return t


def test_https_only_and_tokens_expire_and_revoke(edge: Edge):
    # the port speaks TLS only: a plain HTTP request gets no HTTP answer
    with socket.create_connection((edge.cfg.api.listen, edge.cfg.api.port), timeout=5) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    with client(edge) as anon:
        is_problem(anon.get("/tenants"), 401)
        is_problem(anon.get("/tenants", headers={"Authorization": "Bearer forged"}), 401)
    name, pw, _ = new_user(edge, "read_only")
    c = login(edge, name, pw)
    assert c.get("/auth/me").json() == {"username": name, "role": "read_only", "tenant": None}
    assert c.post("/auth/logout").status_code == 204
    is_problem(c.get("/tenants"), 401)                    # revoked
    c = login(edge, name, pw)
    with edge.db() as db:
        db.execute("UPDATE admin_tokens SET expires_at = now() - interval '1 second'"
                   " WHERE user_id = (SELECT id FROM admin_users WHERE username = %s)", (name,))
    is_problem(c.get("/tenants"), 401)                    # expired


def test_lockout_after_failed_logins_and_totp(edge: Edge):
    name, pw, _ = new_user(edge, "read_only")
    with client(edge) as anon:
        for _ in range(edge.cfg.api.max_failed_logins):
            is_problem(anon.post("/auth/login", json={"username": name, "password": "wrong"}),
                       401)
        # locked: the right password is refused too, with the same words
        r = is_problem(anon.post("/auth/login", json={"username": name, "password": pw}), 401)
        unknown = is_problem(anon.post("/auth/login", json={"username": "nobody-at-all",
                                                            "password": pw}), 401)
        assert r["detail"] == unknown["detail"]
    edge.ctl_ok("user", "passwd", name, "--password", pw)      # an admin unlocks it
    login(edge, name, pw).close()
    # TOTP: without the code, or with a wrong one, no token
    tname, tpw, out = new_user(edge, "read_only", None, "--totp")
    secret = out.split("TOTP secret: ")[1].split()[0]
    with client(edge) as anon:
        is_problem(anon.post("/auth/login", json={"username": tname, "password": tpw}), 401)
        is_problem(anon.post("/auth/login", json={"username": tname, "password": tpw,
                                                  "totp": "000000" if pyotp.TOTP(secret).now()
                                                  != "000000" else "111111"}), 401)
    login(edge, tname, tpw, pyotp.TOTP(secret).now()).close()
    # a user turns TOTP on for itself through the API; edgectl turns it off
    with login(edge, name, pw) as c:
        on = c.put(f"/users/{name}/totp", json={"enabled": True}).json()
        is_problem(c.put(f"/users/{tname}/totp", json={"enabled": False}), 403)
    with client(edge) as anon:
        is_problem(anon.post("/auth/login", json={"username": name, "password": pw}), 401)
    login(edge, name, pw, pyotp.TOTP(on["totp_secret"]).now()).close()
    edge.ctl_ok("user", "totp", name, "--disable")
    login(edge, name, pw).close()


def test_roles(edge: Edge, provider: httpx.Client):
    a = tenant_with_device(edge, "Roles A")
    tname, tpw, _ = new_user(edge, "tenant_admin", a)
    rname, rpw, _ = new_user(edge, "read_only")
    with login(edge, tname, tpw) as ta, login(edge, rname, rpw) as ro:
        # tenant admin: its devices and ring groups
        assert ta.post(f"/tenants/{a}/devices", json={"extension": "7002",
                                                      "password": "long-enough-pw"}
                       ).status_code == 201
        assert ta.patch(f"/tenants/{a}/devices/7002", json={"display_name": "Gate"}
                        ).json()["display_name"] == "Gate"
        assert ta.post(f"/tenants/{a}/ringgroups", json={"number": "7051", "name": "Night",
                                                         "members": ["7001", "7002"]}
                       ).json()["members"] == ["7001", "7002"]
        rotated = ta.post(f"/tenants/{a}/devices/7002/password/rotate").json()["password"]
        assert len(rotated) >= 16
        assert "ha1" not in ta.get(f"/tenants/{a}/devices/7002").json()
        assert ta.get(f"/tenants/{a}/overview").json()["devices"] == 2
        assert ta.delete(f"/tenants/{a}/ringgroups/7051").status_code == 204
        # ... but not ranges, flags and quotas, exceptions, the pool, bans, accounts
        before = snapshot(edge)
        for method, path, body in [
                ("POST", f"/tenants/{a}/ranges", {"first": "7100", "last": "7199"}),
                ("DELETE", f"/tenants/{a}/ranges/7000/7099", None),
                ("PATCH", f"/tenants/{a}", {"max_devices": 1000}),
                ("PATCH", f"/tenants/{a}", {"global_access": True}),
                ("DELETE", f"/tenants/{a}", None),
                ("POST", "/tenants", {"id": "29999", "name": "x"}),
                ("POST", "/exceptions", {"from_tenant": a, "to_tenant": a}),
                ("GET", "/pool", None),
                ("POST", "/pool", {"uri": "127.0.0.9"}),
                ("GET", "/bans", None),
                ("POST", "/bans", {"target": "127.0.0.9"}),
                ("GET", "/users", None),
                ("POST", "/users", {"username": "x", "password": "a-long-password",
                                    "role": "provider_admin"})]:
            is_problem(ta.request(method, path, json=body), 403)
        # read-only: reads everything, changes nothing
        assert ro.get("/devices", params={"tenant": a}).json()["total"] == 2
        assert ro.get("/pool").status_code == 200
        for method, path, body in [
                ("POST", f"/tenants/{a}/devices", {"extension": "7003",
                                                   "password": "long-enough-pw"}),
                ("DELETE", f"/tenants/{a}/devices/7001", None),
                ("PATCH", f"/tenants/{a}/devices/7001", {"display_name": "x"}),
                ("POST", "/pool", {"uri": "127.0.0.9"})]:
            is_problem(ro.request(method, path, json=body), 403)
        assert snapshot(edge) == before
        # ... but its own password (which signs it out everywhere)
        assert ro.put("/auth/password", json={"password": "a-new-long-password"}
                      ).status_code == 204
        is_problem(ro.get("/tenants"), 401)
    login(edge, rname, "a-new-long-password").close()
    # a read-only account limited to one tenant sees that tenant only
    other = edge.new_tenant("Roles B")
    sname, spw, _ = new_user(edge, "read_only", a)
    with login(edge, sname, spw) as scoped:
        assert scoped.get(f"/tenants/{a}/devices/7001").status_code == 200
        is_problem(scoped.get(f"/tenants/{other}"), 404)
        assert {x["id"] for x in scoped.get("/tenants").json()["items"]} == {a}
    # the provider admin: everything, every tenant
    assert provider.patch(f"/tenants/{a}", json={"max_devices": 10}).json()["max_devices"] == 10
    assert provider.get("/tenants", params={"q": a}).json()["total"] == 1



def test_a_tenant_admin_cannot_read_change_or_detect_another_tenant(edge: Edge,
                                                                      provider: httpx.Client):
    a = tenant_with_device(edge, "Isolation A")
    b = tenant_with_device(edge, "Isolation B")
    # what ties them: an exception, and a call from B to A
    edge.ctl_ok("exception", "add", b, a, "--both-ways")
    with edge.db() as db:
        db.execute("INSERT INTO edge_cdr (call_id, node, kind, tenant, caller, callee,"
                   " callee_tenant, setup_at, end_at, duration_ms, final_code, media)"
                   " VALUES (%s, 'edge1', 'call', %s, '7001', %s, %s, now(), now(), 0, 486,"
                   " 'direct')", ("iso-call-from-b", b, f"{a}*7001", a))
    edge.wait_synced()
    name, pw, _ = new_user(edge, "tenant_admin", a)
    before = snapshot(edge)
    with login(edge, name, pw) as ta:
        for (method, path, body, params), (_, npath, nbody, nparams) in zip(
                foreign_requests(b), foreign_requests(NOBODY)):
            got = is_problem(ta.request(method, path, json=body, params=params), 404)
            missing = is_problem(ta.request(method, npath, json=nbody, params=nparams), 404)
            # the same answer as for a tenant that does not exist, but for the id
            assert got["detail"].replace(b, NOBODY) == missing["detail"], (path, got, missing)
            assert got["type"] == missing["type"] and set(got) == set(missing)
        # lists without a tenant filter hold its own tenant only
        for path in ("/tenants", "/devices", "/ringgroups", "/ranges", "/audit", "/cdrs",
                     "/registrations"):
            items = ta.get(path, params={"limit": 500}).json()["items"]
            assert all(b not in repr(i) for i in items), (path, items)
        # the call from B is its tenant's record too, without B's id
        call = ta.get("/cdrs", params={"call_id": "iso-call-from-b"}).json()["items"]
        assert [(c["tenant"], c["callee_tenant"]) for c in call] == [("(another tenant)", a)]
        is_problem(ta.get("/exceptions"), 403)                # they name other tenants
        is_problem(ta.post(f"/tenants/{a}/devices", json={
            "extension": "7005", "password": "long-enough-pw", "auth_username": f"{b}7001"}),
            403)                                           # would reveal a taken username
        assert {d["tenant"] for d in ta.get("/devices").json()["items"]} == {a}
    assert snapshot(edge) == before, "a refused request changed the database"
    # the provider sees both
    assert provider.get(f"/tenants/{b}/devices/7001").status_code == 200


def test_quota_refused_through_the_api_as_through_edgectl(edge: Edge, provider: httpx.Client):
    t = edge.new_tenant("Quota API")
    assert provider.patch(f"/tenants/{t}", json={"max_devices": 1, "max_ring_groups": 0}
                          ).status_code == 200
    assert provider.post(f"/tenants/{t}/devices", json={"extension": "7001",
                                                        "password": "long-enough-pw"}
                         ).status_code == 201
    before = snapshot(edge)
    p = is_problem(provider.post(f"/tenants/{t}/devices", json={
        "extension": "7002", "password": "long-enough-pw"}), 409)
    assert p["type"] == "/problems/quota-exceeded"
    assert p["detail"] == f"quota exceeded: tenant {t} may have at most 1 devices"
    out = edge.ctl("device", "add", t, "7002", "--password", "long-enough-pw")
    assert out.stderr == f"edgectl: error: {p['detail']}\n"
    p = is_problem(provider.post(f"/tenants/{t}/ringgroups", json={
        "number": "7050", "name": "x", "members": ["7001"]}), 409)
    assert "at most 0 ring groups" in p["detail"]
    assert snapshot(edge) == before


def test_api_changes_are_audited_and_tenant_admins_read_their_own(edge: Edge,
                                                                  provider: httpx.Client):
    a = edge.new_tenant("Audit A")
    b = edge.new_tenant("Audit B")
    name, pw, _ = new_user(edge, "tenant_admin", a)
    with login(edge, name, pw) as ta:
        ta.post(f"/tenants/{a}/devices", json={"extension": "7001", "password": "pw-long-enough"})
        ta.patch(f"/tenants/{a}/devices/7001", json={"display_name": "Lobby"})
        ta.delete(f"/tenants/{a}/devices/7001")
        provider.post(f"/tenants/{b}/devices", json={"extension": "7001",
                                                     "password": "pw-long-enough"})
        items = ta.get("/audit", params={"limit": 500}).json()["items"]
        assert {i["tenant"] for i in items} == {a}
        mine = [(i["actor"], i["action"], i["op"]) for i in items if i["actor"] == f"api:{name}"]
        assert mine == [(f"api:{name}", "device.remove", "DELETE"),
                        (f"api:{name}", "device.set", "UPDATE"),
                        (f"api:{name}", "device.add", "INSERT")]
        changed = next(i for i in items if i["action"] == "device.set")
        assert changed["before"]["display_name"] is None
        assert changed["after"]["display_name"] == "Lobby"
    prov = provider.get("/audit", params={"tenant": b, "action": "device."}).json()["items"]
    assert prov[0]["actor"].startswith("api:u") and prov[0]["after"]["extension"] == "7001"


@pytest.mark.parametrize("method,path,body", BAD_INPUT, ids=[f"{m} {p} {str(b)[:40]}"
                                                             for m, p, b in BAD_INPUT])
def test_bad_input_is_a_problem_document_and_writes_nothing(edge: Edge, provider: httpx.Client,
                                                            method: str, path: str, body: Any):
    t = _bad_input_tenant(edge)
    before = snapshot(edge)
    path = path.replace("{t}", t)
    if isinstance(body, dict):
        body = {k: (v.replace("{t}", t) if isinstance(v, str) else v) for k, v in body.items()}
    if isinstance(body, str):
        r = provider.request(method, path, content=body,
                             headers={"content-type": "application/json"})
    else:
        r = provider.request(method, path, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    is_problem(r, r.status_code)
    assert snapshot(edge) == before


_bad: dict[str, str] = {}


def _bad_input_tenant(edge: Edge) -> str:
    if "t" not in _bad:
        _bad["t"] = tenant_with_device(edge, "Bad input")
    return _bad["t"]


def test_a_device_added_through_the_api_registers_within_a_second(edge: Edge,
                                                                  provider: httpx.Client):
    t = edge.new_tenant("Live API")
    au, pw = f"{t}7001", "added-through-the-api"
    with SipClient(edge.sip) as c:
        assert c.register(au, pw)[1].code == 401
        sent = time.monotonic()
        r = provider.post(f"/tenants/{t}/devices", json={"extension": "7001", "password": pw})
        assert r.status_code == 201 and r.json()["auth_username"] == au
        assert "password" not in r.json() and "ha1" not in r.json()
        added = time.monotonic()

        def registered() -> bool:
            _, reply = c.register(au, pw)
            return reply is not None and reply.code == 200

        wait_for(registered, timeout=1.0, interval=0.02, what="API-added device registers")
        api_ms = ((time.monotonic() - added) * 1000, (time.monotonic() - sent) * 1000)
        # the same with edgectl, for comparison (the same path: no bound asserted;
        # edgectl's own run, ~0.5 s of interpreter start, hides the propagation)
        sent = time.monotonic()
        edge.ctl_ok("device", "add", t, "7002", "--password", pw)
        added = time.monotonic()
        wait_for(lambda: c.register(f"{t}7002", pw)[1].code == 200, timeout=1.0,
                 interval=0.02, what="edgectl-added device registers")
        print(f"registrable {api_ms[0]:.0f} ms after the API's 201 ({api_ms[1]:.0f} ms after "
              f"the request); {(time.monotonic() - added) * 1000:.0f} ms after edgectl "
              f"returned ({(time.monotonic() - sent) * 1000:.0f} ms after it started)")
    # the listing follows the registrar within one poll of the node's timer
    # process (which writes the registrations the workers noted)
    def listed() -> list:
        return provider.get("/registrations", params={"tenant": t}).json()["items"]
    wait_for(lambda: len(listed()) == 2, timeout=5, what="both registrations listed")
    online = provider.get("/registrations", params={"tenant": t}).json()
    assert [(i["tenant"], i["extension"]) for i in online["items"]] == [(t, "7001"),
                                                                         (t, "7002")]
    assert online["items"][0]["received"] or online["items"][0]["contact"]
    assert provider.get(f"/tenants/{t}/overview").json()["devices_online"] == 2


def test_lists_are_paged_and_filtered(edge: Edge, provider: httpx.Client):
    t = edge.new_tenant("Pages", ranges=(("7000", "7099"),))
    for i in range(7):
        edge.ctl_ok("device", "add", t, f"70{i:02d}", "--password", "long-enough-pw",
                    "--name", "Gate" if i % 2 else "Desk")
    got = provider.get("/devices", params={"tenant": t, "limit": 3, "offset": 3}).json()
    assert got["total"] == 7 and got["limit"] == 3 and got["offset"] == 3
    assert [d["extension"] for d in got["items"]] == ["7003", "7004", "7005"]
    assert provider.get("/devices", params={"tenant": t, "q": "gate"}).json()["total"] == 3
    assert provider.get("/devices", params={"tenant": t, "q": "700"}).json()["total"] == 7
    assert base_url(edge).startswith("https://")


def test_the_api_against_its_own_openapi_document(edge: Edge, provider: httpx.Client):
    """Property-based (schemathesis): requests generated from the OpenAPI
    document never make the API fail (5xx), and every answer is one the
    document declares (status, media type, schema: errors are problem
    documents). Last in the module: it adds random objects. Bounded: a few
    examples per operation. (Its negative mode is not used: it sends header
    names that uvicorn's HTTP parser refuses before the API sees them; bad
    input is BAD_INPUT's, endpoint by endpoint.)"""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import (content_type_conformance, not_a_server_error,
                                     response_schema_conformance, status_code_conformance)

    doc = provider.get(base_url(edge) + "/api/openapi.json").json()
    assert doc["openapi"].startswith("3.") and len(doc["paths"]) >= 30
    schemathesis.experimental.OPEN_API_3_1.enable()        # FastAPI writes OpenAPI 3.1
    schema = schemathesis.from_dict(doc, base_url=base_url(edge))
    auth = {"Authorization": str(provider.headers["Authorization"])}
    cert = str(edge.cfg.tls_files[0])
    # these would sign the test's own account out or change its password
    skip = {"/api/v1/auth/logout", "/api/v1/auth/password"}
    calls = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in skip:
            continue

        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def check(case: Any) -> None:
            nonlocal calls
            r = case.call(headers=auth, verify=cert)
            calls += 1
            # every answer is one the document declares, with its media type
            # and schema (errors: application/problem+json, RFC 9457)
            case.validate_response(r, checks=(not_a_server_error, status_code_conformance,
                                               content_type_conformance,
                                               response_schema_conformance))
        check()
    print(f"schemathesis: {calls} requests in {time.monotonic() - started:.1f}s")
    assert calls >= 100
