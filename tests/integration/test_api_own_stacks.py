"""The administration API on stacks of their own (PostgreSQL and the API only):
the login rate limit, the first provider admin made by `make up`, and
PostgreSQL down answered with a 503 problem document."""

from __future__ import annotations

from harness.adminapi import client, is_problem, login, new_user
from testkit.edge import Edge


def test_login_rate_limit(tmp_path):
    e = Edge(tmp_path / "edge", api={"serve": True, "logins_per_minute": 3})
    e.stack.services = [s for s in e.stack.services if s.name in ("postgres", "api")]
    e.start()
    try:
        e.ctl_ok("db", "migrate")
        with client(e) as anon:
            codes = [anon.post("/auth/login", json={"username": "x", "password": "y"}
                               ).status_code for _ in range(4)]
            assert codes == [401, 401, 401, 429]
            assert anon.post("/auth/login", json={"username": "x", "password": "y"}
                             ).headers["retry-after"] == "60"
    finally:
        e.stop()


def test_first_provider_admin_for_make_up(tmp_path):
    """`make up` (edgectl stack up) makes the first provider admin once, with
    a random password kept 0600 in the run directory, and prints it."""
    from edgectl.api import server

    e = Edge(tmp_path / "edge", api={"serve": True})
    e.stack.services = [s for s in e.stack.services if s.name in ("postgres", "api")]
    e.start()
    try:
        e.ctl_ok("db", "migrate")
        user, pw = server.ensure_first_admin(e.cfg) or ("", "")
        assert user == "admin" and len(pw) >= 12
        f = server.credentials_file(e.cfg)
        assert f.stat().st_mode & 0o777 == 0o600
        assert server.ensure_first_admin(e.cfg) == (user, pw)        # not made twice
        with login(e, user, pw) as c:
            assert c.get("/auth/me").json()["role"] == "provider_admin"
        with e.db() as db:
            assert db.execute("SELECT count(*) FROM admin_users").fetchone() == (1,)
    finally:
        e.stop()


def test_postgresql_down_is_a_503_problem(tmp_path):
    e = Edge(tmp_path / "edge", api={"serve": True})
    e.stack.services = [s for s in e.stack.services if s.name in ("postgres", "api")]
    e.start()
    try:
        e.ctl_ok("db", "migrate")
        name, pw, _ = new_user(e, "provider_admin")
        with login(e, name, pw) as c:
            assert c.get("/tenants").status_code == 200
            e.stack.postgres.stop()
            p = is_problem(c.get("/tenants"), 503)
            assert p["detail"].startswith("cannot reach PostgreSQL"), p
    finally:
        e.stop()
