"""A call as people see it, on the live edge: the caller presented to the
callee as a number it can dial back (with the device's name), one CDR per
call with both tenants, the resolved number, the code the caller heard and
the talk time from the answer (real ringing); `edgectl cdr list` and its
filters; a tenant that requires recording refused 503 with no pool member,
one that records connected unrecorded but visibly. (The operator's refusals
of issue 16: test_operator_refusals.py.)"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness import sipp
from testkit.edge import Edge
from testkit.sipmsg import SipClient

SCEN = Path(__file__).resolve().parents[1] / "sip_cases" / "scenarios"
LOCAL_SCEN = Path(__file__).resolve().parent / "scenarios"


# -- calls ------------------------------------------------------------------------

def register_uas(edge: Edge, au: str, pw: str, port: int) -> None:
    with SipClient(edge.sip) as c:
        _, r = c.register(au, pw, contact_port=port)
        assert r is not None and r.code == 200


def call(edge: Edge, au: str, pw: str, dialled: str, hold_ms: int = 200) -> sipp.SippResult:
    row = [au, f"[authentication username={au} password={pw}]", dialled, au, "127.0.0.1",
           "127.0.0.1"]
    return sipp.run(edge.target, SCEN / "call_any.xml", [row],
                    extra=["-d", str(hold_ms), "-default_behaviors", "all,-abortunexp"],
                    timeout=30)


def final_code(res: sipp.SippResult) -> int:
    codes = [c for c in res.received_codes if c >= 200]
    assert codes, res.describe()
    return codes[-1]


def test_cross_tenant_call_shows_a_redialable_caller_and_one_cdr_with_talk_time(edge: Edge):
    """Real ringing (1.5 s) before the answer, 2 s of talk: the CDR's
    duration is the talk, not ringing + talk; both tenants, the dialled
    string and the number it resolved to, the caller as presented."""
    a = edge.new_tenant("View A", "--no-recording")
    b = edge.new_tenant("View B", "--no-recording")
    edge.ctl_ok("exception", "add", a, b)
    au, pw = edge.new_device(a, "7001")
    edge.ctl_ok("device", "set", a, "7001", "--name", "Portaria Bloco A")
    bu, bpw = edge.new_device(b, "7009")
    edge.wait_synced()
    with sipp.SippServer(LOCAL_SCEN / "uas_answer_late.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        t0 = time.monotonic()
        res = call(edge, au, pw, f"{b}*7009", hold_ms=2000)
        elapsed_ms = (time.monotonic() - t0) * 1000
        assert final_code(res) == 200, res.describe()
        assert res.rc == 0, res.describe()           # the BYE crossed the edge: From/To restored
        (invite,) = callee.received_requests("INVITE")
        frm = re.search(r"(?mi)^From:\s*(.*)$", invite).group(1)
        assert frm.startswith(f'"Portaria Bloco A" <sip:{a}*7001@'), frm
        assert au not in frm                          # never the auth username
        assert not re.search(r"(?mi)^P-Asserted-Identity:", invite)
        assert callee.received_requests("BYE")
    [cid] = res.call_ids
    [row] = edge.cdrs(call_id=cid, expect=1)
    assert (row["kind"], row["tenant"], row["callee_tenant"]) == ("call", a, b)
    assert (row["caller"], row["callee"], row["resolved"]) == ("7001", f"{b}*7009", "7009")
    assert (row["caller_id"], row["caller_name"]) == (f"{a}*7001", "Portaria Bloco A")
    assert row["final_code"] == 200 and row["unrecorded"] is False
    ring_ms = (row["answer_at"] - row["setup_at"]).total_seconds() * 1000
    assert ring_ms >= 1400, ring_ms
    print(f"rang {ring_ms:.0f} ms, talked {row['duration_ms']} ms (CDR), "
          f"call took {elapsed_ms:.0f} ms")
    assert row["duration_ms"] >= 1900, row             # held 2 s after the answer
    # ringing is not talk: ringing + talk fits in the call's wall-clock time
    assert row["duration_ms"] + ring_ms <= elapsed_ms + 100, (row, ring_ms, elapsed_ms)
    # the view names who answered
    with edge.db() as c:
        (answered_by,) = c.execute("SELECT answered_by FROM edge_call WHERE call_id = %s",
                                   (cid,)).fetchone()
    assert answered_by == f"{b}*7009"


def test_same_tenant_caller_is_its_extension(edge: Edge):
    a = edge.new_tenant("View same", "--no-recording")
    au, pw = edge.new_device(a, "7001")
    bu, bpw = edge.new_device(a, "7002")
    edge.wait_synced()
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        res = call(edge, au, pw, "7002")
        assert final_code(res) == 200, res.describe()
        (invite,) = callee.received_requests("INVITE")
    frm = re.search(r"(?mi)^From:\s*(.*)$", invite).group(1)
    assert frm.startswith("<sip:7001@"), frm          # no name set: no display name


def test_a_caller_on_a_global_number_is_shown_by_it(edge: Edge):
    g = edge.new_tenant("View global", "--no-recording", ranges=())
    number = f"56{g}001"
    edge.ctl_ok("range", "add", g, f"56{g}000", f"56{g}999")          # 10 digits: global
    b = edge.new_tenant("View callee", "--no-recording")
    edge.ctl_ok("exception", "add", g, b, "--both-ways")
    gu, gpw = edge.new_device(g, number)
    bu, bpw = edge.new_device(b, "7009")
    edge.wait_synced()
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        res = call(edge, gu, gpw, f"{b}*7009")
        assert final_code(res) == 200, res.describe()
        (invite,) = callee.received_requests("INVITE")
    assert re.search(rf"(?mi)^From:\s*<sip:{number}@", invite), invite
    # dialled back from the callee's tenant, it reaches the caller
    back = json.loads(edge.ctl_ok("explain", f"{b}:7009", number, "--json"))
    assert (back["target_tenant"], back["target_number"], back["allowed"]) == (g, number, True)


def test_required_recording_without_a_pool_member_is_503_and_recorded_so(edge: Edge):
    t = edge.new_tenant("Must record", "--recording", "required")
    au, pw = edge.new_device(t, "7001")
    edge.new_device(t, "7002")
    edge.wait_synced()
    res = call(edge, au, pw, "7002")
    assert final_code(res) == 503, res.describe()
    [row] = edge.cdrs(call_id=res.call_ids[0], expect=1)
    assert row["final_code"] == 503 and row["tenant"] == t
    # and edgectl explain predicts it
    assert "503 Service Unavailable - No Media Server" in edge.ctl_ok("explain", f"{t}:7001",
                                                                        "7002")


def test_recording_tenant_without_a_pool_member_is_connected_unrecorded_visibly(edge: Edge):
    t = edge.new_tenant("Records")                      # recording on, not required
    au, pw = edge.new_device(t, "7001")
    bu, bpw = edge.new_device(t, "7002")
    edge.wait_synced()
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        res = call(edge, au, pw, "7002")
        assert final_code(res) == 200, res.describe()
    [row] = edge.cdrs(call_id=res.call_ids[0], expect=1)
    assert row["unrecorded"] is True and row["recording"] is None
    assert edge.metric("edge_unrecorded_calls_total", tenant=t) == 1
    # (the module's edge is shared: other tests' tenants may fill the top 10)
    status = edge.ctl_ok("status", "--top", "100")
    assert re.search(rf"(?m)^\s*unrecorded calls.*\b{t}\b.*\b1\b", status), status


# -- edgectl cdr list ----------------------------------------------------------------

def seed_cdrs(edge: Edge) -> tuple[str, str, str, datetime]:
    """Three calls: A -> B (answered), B -> A (busy), B -> C, an hour apart."""
    a, b, c = (edge.new_tenant(f"List {x}", ranges=()) for x in "ABC")
    base = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
    rows = [("l1", a, "7001", "7002", b, base, 200), ("l2", b, "7002", "7001", a,
             base + timedelta(hours=1), 486), ("l3", b, "7002", "7003", c,
             base + timedelta(hours=2), 200)]
    with edge.db() as conn:
        for cid, t, caller, callee, ct, at, code in rows:
            conn.execute(
                "INSERT INTO edge_cdr (call_id, node, kind, tenant, caller, callee, callee_tenant,"
                " setup_at, answer_at, end_at, duration_ms, final_code, media, resolved)"
                " VALUES (%s, 'n1', 'call', %s, %s, %s, %s, %s, %s, %s, %s, %s, 'direct', %s)",
                (f"{cid}-{a}", t, caller, callee, ct, at,
                 at + timedelta(seconds=2) if code == 200 else None, at + timedelta(seconds=9),
                 7000 if code == 200 else 0, code, callee))
        conn.commit()
    return a, b, c, base


def listed(edge: Edge, *args: str) -> list[dict[str, str]]:
    out = edge.ctl_ok("cdr", "list", "--format", "csv", "--since", "2026-11-02",
                      "--until", "2026-11-03", *args)
    return list(csv.DictReader(io.StringIO(out)))


def test_cdr_list_filters_and_formats(edge: Edge):
    a, b, c, base = seed_cdrs(edge)
    # --tenant: made or received
    assert [r["call_id"].split("-")[0] for r in listed(edge, "--tenant", a)] == ["l2", "l1"]
    assert [r["call_id"].split("-")[0] for r in listed(edge, "--tenant", a, "--direction",
                                                       "out")] == ["l1"]
    assert [r["call_id"].split("-")[0] for r in listed(edge, "--tenant", b, "--direction",
                                                       "in")] == ["l1"]
    assert len(listed(edge, "--tenant", b)) == 3
    # a time range (setup time, until exclusive)
    rows = edge.ctl_ok("cdr", "list", "--format", "csv", "--tenant", b,
                       "--since", (base + timedelta(minutes=30)).isoformat(),
                       "--until", "2026-11-02T12:00Z")
    assert [r["call_id"].split("-")[0] for r in csv.DictReader(io.StringIO(rows))] == ["l2"]
    # the table and csv have a header row; json is a list of objects
    table = edge.ctl_ok("cdr", "list", "--tenant", c, "--since", "2026-11-02").splitlines()
    assert table[0].split()[:4] == ["SETUP_AT", "TENANT", "CALLER", "CALLEE"]
    assert len(table) == 2 and b in table[1]
    assert edge.ctl_ok("cdr", "list", "--tenant", "00000", "--format", "csv").splitlines() == [
        ",".join(__import__("edgectl.cdr_query", fromlist=["x"]).COLUMNS)]
    js = json.loads(edge.ctl_ok("cdr", "list", "--tenant", c, "--since", "2026-11-02",
                                "--format", "json"))
    assert [(r["tenant"], r["callee_tenant"], r["final_code"]) for r in js] == [(b, c, 200)]
    assert js[0]["answered_by"] == f"{c}*7003" and js[0]["duration_ms"] == 7000


@pytest.mark.parametrize("args,match", [
    (("--tenant", "abc"), "malformed tenant id"),
    (("--direction", "in"), "--direction needs --tenant"),
    (("--tenant", "00001", "--direction", "up"), "--direction must be 'in' or 'out'"),
    (("--since", "yesterday"), "--since: 'yesterday' is not a time"),
    (("--until", "2026-13-01"), "--until: '2026-13-01' is not a time"),
    (("--since", "1h", "--until", "2h"), "is not before --until"),
    (("--format", "xml"), "--format must be one of table, csv, json"),
    (("--limit", "0"), "--limit must be at least 1"),
])
def test_cdr_list_malformed_filters_are_one_clear_error(edge: Edge, args, match):
    out = edge.ctl("cdr", "list", *args)
    assert out.returncode != 0 and not out.stdout, out
    assert out.stderr.count("\n") == 1 and match in out.stderr, out.stderr


# -- real phones -----------------------------------------------------------------------

def test_real_phones_see_a_redialable_caller_and_a_redial_connects(edge: Edge):
    """baresip phones: the callee's phone shows the caller's name and a
    number; dialling that number back from the phone reaches the caller
    (same tenant: the extension; across tenants: TENANT*EXT)."""
    from harness.baresip import Baresip
    from testkit.edge import wait_for

    a = edge.new_tenant("Phones A", "--no-recording")
    b = edge.new_tenant("Phones B", "--no-recording")
    edge.ctl_ok("exception", "add", a, b, "--both-ways")
    au, pw = edge.new_device(a, "7001")
    edge.ctl_ok("device", "set", a, "7001", "--name", "Portaria A")
    xu, xpw = edge.new_device(a, "7002")
    yu, ypw = edge.new_device(b, "7009")
    edge.wait_synced()
    def invites(phone: Baresip) -> int:
        return phone.output().count("INVITE sip:")

    def answer(phone: Baresip, rung: int) -> None:
        """The phone rings (an INVITE past the `rung` it had logged before the
        dial: counted after it, a fast INVITE was already in and never came):
        answer it, wait until the call is up."""
        wait_for(lambda: invites(phone) > rung and "Ringing" in phone.output(), timeout=15,
                 what="the phone rings")
        up = phone.output().lower().count("established")
        phone.command("accept")
        try:
            wait_for(lambda: phone.output().lower().count("established") > up, timeout=15,
                     what="the call is up")
        except AssertionError:
            raise AssertionError(phone.output()[-4000:]) from None

    with Baresip(edge.sip, au, pw, control=True) as caller, \
            Baresip(edge.sip, xu, xpw, control=True) as same, \
            Baresip(edge.sip, yu, ypw, control=True) as other:
        for t, ext, p in ((a, "7001", caller), (a, "7002", same), (b, "7009", other)):
            try:
                wait_for(lambda: edge.contacts(t, ext), timeout=15, what=f"{t}:{ext} registered")
            except AssertionError:
                raise AssertionError(p.output()[-3000:]) from None
        for phone, tenant, ext, dialled, shown in (
                (same, a, "7002", "7002", "7001"),
                (other, b, "7009", f"{b}*7009", f"{a}*7001")):
            rung = invites(phone)
            caller.command("dial", dialled)
            answer(phone, rung)
            invite = phone.output()[phone.output().index("INVITE sip:"):]
            frm = re.search(r"(?mi)^From:\s*(.*)$", invite).group(1)
            assert frm.startswith(f'"Portaria A" <sip:{shown}@'), frm
            caller.command("hangup")
            wait_for(lambda: any(r["callee"] == dialled and r["final_code"] == 200
                                 for r in edge.cdrs(tenant=a)), timeout=15, what="the call's CDR")
            # the callee redials what its phone showed
            rung = invites(caller)
            phone.command("dial", shown)
            answer(caller, rung)
            phone.command("hangup")
            back = wait_for(lambda: next((r for r in edge.cdrs(tenant=tenant)
                                          if r["caller"] == ext and r["callee"] == shown),
                                         None), timeout=15, what="the redial's CDR")
            assert (back["caller"], back["callee_tenant"], back["resolved"]) == (ext, a, "7001")
            assert back["final_code"] == 200, back


# -- operator details ----------------------------------------------------------------

def test_a_browsers_favicon_request_logs_no_error(edge: Edge):
    import ssl
    import urllib.request

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    base = f"https://{edge.cfg.sip.listen_ip}:{edge.cfg.sip.wss_port}"
    page = urllib.request.urlopen(base + "/", context=ctx, timeout=10).read().decode()
    assert '<link rel="icon" href="data:,">' in page       # the page asks for no icon
    before = edge.log().count("parsing failed")
    r = urllib.request.urlopen(base + "/favicon.ico", context=ctx, timeout=10)
    assert r.status == 200 and r.read().startswith(b"<svg")
    time.sleep(0.3)
    assert edge.log().count("parsing failed") == before


def test_cdr_list_legs_follow_their_calls_tenants(edge: Edge):
    """A pool leg's row holds the tenant of the device it rang: --tenant and
    --direction judge it by its call's tenants (parent_call_id)."""
    a, b = (edge.new_tenant(f"Legs {x}", ranges=()) for x in "AB")
    at = datetime(2026, 11, 4, 10, 0, tzinfo=timezone.utc)
    with edge.db() as conn:
        for cid, kind, t, ct, parent in (("g1", "call", a, b, None),
                                         ("g1-leg", "pool_leg", b, b, f"g1-{a}")):
            conn.execute(
                "INSERT INTO edge_cdr (call_id, node, kind, tenant, caller, callee,"
                " callee_tenant, setup_at, end_at, duration_ms, final_code, media, resolved,"
                " parent_call_id)"
                " VALUES (%s, 'n1', %s, %s, '7001', '7050', %s, %s, %s, 0, 486, 'direct',"
                " '7050', %s)", (f"{cid}-{a}", kind, t, ct, at, at + timedelta(seconds=5),
                                 parent))
        conn.commit()

    def ids(*args: str) -> list[str]:
        out = edge.ctl_ok("cdr", "list", "--format", "csv", "--legs", "--since", "2026-11-04",
                          "--until", "2026-11-05", *args)
        return sorted(r["call_id"] for r in csv.DictReader(io.StringIO(out)))

    assert ids("--tenant", a) == [f"g1-{a}", f"g1-leg-{a}"]
    assert ids("--tenant", a, "--direction", "out") == [f"g1-{a}", f"g1-leg-{a}"]
    assert ids("--tenant", b, "--direction", "in") == [f"g1-{a}", f"g1-leg-{a}"]
    assert ids("--tenant", b, "--direction", "out") == []


def test_member_cdrs_of_calls_with_the_same_linkedid_stay_apart(edge: Edge):
    """Two members' calls of the same second: one linkedid (no systemname
    before), two calls -- keyed by the edge's Call-ID, else member+linkedid."""
    rows = [("1764000000.0", "m1", "c-one", "ANSWERED"), ("1764000000.0", "m1", "c-one",
            "NO ANSWER"), ("1764000000.0", "m2", "c-two", "BUSY"),
            ("1764000001.3", "m1", "", "ANSWERED"), ("1764000001.3", "m2", "", "BUSY")]
    with edge.db() as conn:
        conn.execute("DELETE FROM asterisk_cdr WHERE linkedid LIKE '17640000%%'")
        for linkedid, member, call, disposition in rows:
            conn.execute("INSERT INTO asterisk_cdr (linkedid, member, edge_call_id, disposition)"
                         " VALUES (%s, %s, %s, %s)", (linkedid, member, call, disposition))
        got = conn.execute("SELECT call_key, disposition, cdr_rows FROM asterisk_call"
                           " WHERE linkedid LIKE '17640000%%' ORDER BY 1").fetchall()
        conn.execute("DELETE FROM asterisk_cdr WHERE linkedid LIKE '17640000%%'")
        conn.commit()
    assert got == [("c-one", "ANSWERED", 2), ("c-two", "BUSY", 1),
                   ("m1/1764000001.3", "ANSWERED", 1), ("m2/1764000001.3", "BUSY", 1)]


def test_the_callee_never_learns_the_callers_auth_username(edge: Edge):
    """uac kept the original From in the Record-Route (vsf: old XOR new URI,
    both halves of which the callee has); restore_dlg keeps it in the dialog.
    Nothing the callee receives carries the caller's auth username or a
    vsf/vst parameter, and in-dialog requests still cross both ways: the
    caller's BYE; INFO, UPDATE and a re-INVITE, then the callee's BYE."""
    a = edge.new_tenant("Hide A", "--no-recording")
    b = edge.new_tenant("Hide B", "--no-recording")
    edge.ctl_ok("exception", "add", a, b)
    au, pw = edge.new_device(a, "7001")
    bu, bpw = edge.new_device(b, "7009")
    edge.wait_synced()
    # the phone calls from its extension (From and Contact): only the
    # credentials name its auth username, and the edge consumes them
    row = [au, f"[authentication username={au} password={pw}]", f"{b}*7009", "7001",
           "127.0.0.1", "127.0.0.1"]
    leaked = re.compile(rf"{re.escape(au)}|[;?&]vs[ft]=", re.I)
    with sipp.SippServer(SCEN / "uas_answer.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        res = sipp.run(edge.target, SCEN / "call_any.xml", [row],
                       extra=["-d", "200", "-default_behaviors", "all,-abortunexp"], timeout=30)
        assert final_code(res) == 200 and res.rc == 0, res.describe()   # caller's BYE: 200
        got = [m for m, d in zip(*callee.messages()) if d == "received"]
        assert [m.split()[0] for m in got] == ["INVITE", "ACK", "BYE"], got
        (invite,) = callee.received_requests("INVITE")
        assert re.search(r"(?mi)^Record-Route:", invite), invite
        assert re.search(rf"(?mi)^From:\s*<sip:{a}\*7001@", invite), invite
        for m in got:
            assert not leaked.search(m), m
    with sipp.SippServer(SCEN / "uas_indialog.xml") as callee:
        register_uas(edge, bu, bpw, callee.port)
        res = sipp.run(edge.target, SCEN / "call_indialog.xml", [row], timeout=30)
        assert res.rc == 0, res.describe()
        got = [m for m, d in zip(*callee.messages()) if d == "received"]
        assert [m.split()[0] for m in got] == ["INVITE", "ACK", "INFO", "UPDATE", "INVITE",
                                               "ACK", "SIP/2.0"], got
        assert any(m.startswith("BYE ") for m in res.received)   # the callee's BYE arrived
        for m in got:
            assert not leaked.search(m), m
