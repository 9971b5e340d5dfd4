"""The web console in real headless Chromium (Debian's chromium through
playwright-core, as the web phone's tests), over HTTPS with the edge's own
certificate, against the real API, PostgreSQL and edge: sign in with and
without TOTP; a tenant admin adds a device and sees it come online when a
phone registers, edits and removes it, resets its password, adds a ring
group, reads a CDR and explains a call -- and never sees another tenant."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pyotp
import pytest

from harness.adminapi import base_url, new_user
from harness.browser import SETUP_HINT, Browser, missing_tools
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

DRIVER = Path(__file__).resolve().parents[1] / "harness" / "console_driver.mjs"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    e = Edge(tmp_path_factory.mktemp("edge"), api={"serve": True})
    e.start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    missing = missing_tools()
    assert not missing, f"missing {', '.join(missing)}: {SETUP_HINT}"
    b = Browser(driver=DRIVER)
    try:
        yield b
    finally:
        b.stop()


def sign_in(b: Browser, edge: Edge, session: str, user: str, pw: str,
            totp: str | None = None) -> None:
    b.cmd("open", session=session, url=base_url(edge) + "/console/")
    b.cmd("fill", session=session, selector="#username", value=user)
    b.cmd("fill", session=session, selector="#password", value=pw)
    if totp:
        b.cmd("fill", session=session, selector="#totp", value=totp)
    b.cmd("click", session=session, selector="#signin")


def insert_cdr(edge: Edge, tenant: str, caller: str, callee: str, code: int) -> str:
    """A CDR as the ops shipper writes it (edge_cdr)."""
    call_id = f"console-{uuid.uuid4().hex[:12]}"
    now = datetime.now(timezone.utc)
    with edge.db() as c:
        c.execute("INSERT INTO edge_cdr (call_id, node, kind, tenant, caller, callee,"
                  " callee_tenant, setup_at, answer_at, end_at, duration_ms, final_code,"
                  " final_reason, media) VALUES (%s, 'edge1', 'call', %s, %s, %s, %s, %s, %s,"
                  " %s, %s, %s, %s, 'direct')",
                  (call_id, tenant, caller, callee, tenant, now - timedelta(seconds=30),
                   now - timedelta(seconds=25) if code == 200 else None, now,
                   25000 if code == 200 else 0, code, "OK" if code == 200 else "Busy Here"))
    return call_id


def test_tenant_admin_console(edge: Edge, browser: Browser):
    a = edge.new_tenant("Console A")
    edge.ctl_ok("device", "add", a, "7001", "--password", "long-enough-pw", "--name", "Lobby")
    b = edge.new_tenant("Console B")
    edge.ctl_ok("device", "add", b, "7001", "--password", "long-enough-pw",
                "--name", "Secret-of-B")
    edge.ctl_ok("ringgroup", "add", b, "7050", "--name", "Hidden-group-of-B", "--member", "7001")
    b_call = insert_cdr(edge, b, "7001", "7001", 200)
    user, pw, _ = new_user(edge, "tenant_admin", a)
    s = "ta"
    sign_in(browser, edge, s, user, pw)
    browser.cmd("wait_text", session=s, selector="#whoami", value=f"tenant {a}")
    browser.cmd("wait_text", session=s, selector="#tenant", value=a)
    assert browser.cmd("options", session=s, selector="#tenant") == [a]

    # add a device; a phone registers with it; the console shows it online
    browser.cmd("fill", session=s, selector="#dev-ext", value="7002")
    browser.cmd("fill", session=s, selector="#dev-name", value="Gate")
    browser.cmd("fill", session=s, selector="#dev-password", value="gate-password-1")
    browser.cmd("click", session=s, selector="#dev-add")
    browser.cmd("wait_text", session=s, selector="#notice", value="device 7002 added")
    row = '#devices tr[data-ext="7002"]'
    browser.cmd("wait_text", session=s, selector=row + " .status", value="offline")
    with SipClient(edge.sip) as phone:
        wait_for(lambda: phone.register(f"{a}7002", "gate-password-1")[1].code == 200,
                 timeout=5, what="the device added in the console registers")
        browser.cmd("wait_text", session=s, selector=row + " .status", value="online",
                    timeout=15000)
        assert "127.0.0.1" in browser.cmd("text", session=s, selector=row + " .from")
    browser.cmd("wait_text", session=s, selector="#ov-online", value="1")

    # a CDR of its tenant appears; the other tenant's does not
    a_call = insert_cdr(edge, a, "7001", "7002", 486)
    browser.cmd("wait_text", session=s, selector="#cdrs", value=a_call)
    assert "486 Busy Here" in browser.cmd("text", session=s, selector="#cdrs")

    # edit, reset the password, add a ring group, explain a call
    browser.cmd("fill", session=s, selector=row + " input.name", value="Main gate")
    browser.cmd("click", session=s, selector=row + " button.save")
    browser.cmd("wait_text", session=s, selector="#notice", value="device 7002 saved")
    with edge.db() as c:
        assert c.execute("SELECT display_name FROM devices WHERE tenant_id = %s"
                         " AND extension = '7002'", (a,)).fetchone() == ("Main gate",)
    browser.cmd("click", session=s, selector=row + " button.reset")
    note = browser.cmd("wait_text", session=s, selector="#notice",
                       value="new password of 7002: ")
    new_pw = note.split("new password of 7002: ")[1].strip()
    edge.wait_synced()
    with SipClient(edge.sip) as phone:
        assert phone.register(f"{a}7002", "gate-password-1")[1].code == 401
        assert phone.register(f"{a}7002", new_pw)[1].code == 200
    browser.cmd("fill", session=s, selector="#rg-number", value="7050")
    browser.cmd("fill", session=s, selector="#rg-name", value="Attendants")
    browser.cmd("fill", session=s, selector="#rg-members", value="7001,7002")
    browser.cmd("click", session=s, selector="#rg-add")
    browser.cmd("wait_text", session=s, selector="#ringgroups", value="Attendants")
    edge.wait_synced()
    browser.cmd("fill", session=s, selector="#ex-caller", value="7001")
    browser.cmd("fill", session=s, selector="#ex-dialled", value="7050")
    browser.cmd("click", session=s, selector="#ex-go")
    browser.cmd("wait_text", session=s, selector="#ex-out", value="allowed")

    # nothing of the other tenant anywhere on the page
    html = browser.cmd("body", session=s)
    for secret in (b, "Secret-of-B", "Hidden-group-of-B", b_call):
        assert secret not in html, secret

    # remove the device
    browser.cmd("click", session=s, selector=row + " button.remove")
    browser.cmd("wait_text", session=s, selector="#notice", value="device 7002 removed")
    with edge.db() as c:
        assert c.execute("SELECT count(*) FROM devices WHERE tenant_id = %s"
                         " AND extension = '7002'", (a,)).fetchone() == (0,)


def test_sign_in_with_totp(edge: Edge, browser: Browser):
    a = edge.new_tenant("TOTP A")
    b = edge.new_tenant("TOTP B")
    user, pw, out = new_user(edge, "provider_admin", None, "--totp")
    secret = out.split("TOTP secret: ")[1].split()[0]
    s = "pa"
    sign_in(browser, edge, s, user, pw)                     # no code: refused
    browser.cmd("wait_text", session=s, selector="#notice", value="wrong username, password")
    browser.cmd("fill", session=s, selector="#password", value=pw)
    browser.cmd("fill", session=s, selector="#totp", value=pyotp.TOTP(secret).now())
    browser.cmd("click", session=s, selector="#signin")
    browser.cmd("wait_text", session=s, selector="#whoami", value="provider admin")
    browser.cmd("wait_text", session=s, selector="#tenant", value=b)
    tenants = browser.cmd("options", session=s, selector="#tenant")
    assert a in tenants and b in tenants                    # the provider sees all
