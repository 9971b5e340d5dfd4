"""A call as people see it, the pure parts: the caller's presented identity
(edgecore/identity.py), the code the caller heard (edgecore/callrecord.py),
the pool headers that carry both, the read model's display name and
recording-required flag, and the CDR line with migration 0006's fields."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from edgecore import callrecord, identity, numbering, pool
from edgecore import readmodel as rm
from edgectl import cdr

A = rm.Tenant("00003", "A")
B = rm.Tenant("00004", "B", recording_required=True)
CALLER = rm.Device("000037001", "00003", "7001", "a" * 32, name="Portaria Bloco A")


def test_same_tenant_caller_is_its_extension_with_its_name():
    who = identity.presented("00003", "7001", "Portaria Bloco A", "00003")
    assert who == identity.Presented("7001", "Portaria Bloco A")
    assert who.name_addr("edge") == '"Portaria Bloco A" <sip:7001@edge>'


def test_cross_tenant_caller_is_tenant_qualified_and_dials_back_to_it():
    who = identity.presented("00003", "7001", None, "00004")
    assert who.number == "00003*7001" and who.name == ""
    assert who.name_addr("edge") == "<sip:00003*7001@edge>"
    # dialled back from any tenant, it resolves to the caller's device
    data = rm.CallData(caller=None, caller_tenant=B, exceptions=frozenset(), local=None,
                       global_range=None, global_target=None, global_tenant=None,
                       qualified_target=rm.Target("device", "00003", "7001"),
                       qualified_tenant=A)
    res = numbering.resolve(data)
    assert numbering.is_dialable(who.number)
    assert (res.tenant.id, res.target.number) == ("00003", "7001")


def test_a_caller_on_a_global_number_is_shown_by_it_across_tenants():
    assert identity.presented("00010", "5511400001", "", "00004", True).number == "5511400001"
    from edgectl.sync import in_ranges
    assert in_ranges("5511400001", [("5511400000", "5511409999")])
    assert not in_ranges("7001", [("5511400000", "5511409999")])
    g = rm.Device("u", "00010", "5511400001", "h", global_number=True)
    assert rm.Device.decode(g.encode()) == g and rm.Device.unpack(g.pack()) == g


def test_no_callee_tenant_is_presented_qualified():
    assert identity.presented("00003", "7001", "", None).number == "00003*7001"


@pytest.mark.parametrize("raw,shown", [
    ('Jo "the" Desk', "Jo the Desk"), ("a\\b,c|d\x01", "abcd"), ("  x  ", "x"),
    ("é" * 150, "é" * 100), (None, ""),
])
def test_display_names_are_safe_in_a_quoted_string_and_a_dialplan(raw, shown):
    assert identity.display_name(raw) == shown


def test_the_caller_hears_a_relayed_503_as_500():
    assert callrecord.relayed(503, "Service Unavailable") == (500, "Server Internal Error")
    assert callrecord.relayed(486, "Busy Here") == (486, "Busy Here")


NOW = datetime(2026, 3, 9, 23, 59, 58, tzinfo=timezone.utc)


def test_pool_headers_carry_the_presented_caller_the_call_id_and_the_whole_file():
    res = numbering.Resolution(True, rm.Target("device", "00004", "7009"), B)
    h = dict(pool.pool_call(res, CALLER, A, NOW, "/monitor", 120, "c1@x", 42).headers)
    assert h[pool.H_CALLER_ID] == "00003*7001"
    assert h[pool.H_CALLER_NAME] == "Portaria Bloco A"
    assert h[pool.H_CALL] == "c1@x"
    assert h[pool.H_RECORD] == \
        f"/monitor/2026/03/09/internal-7001-7009-{int(NOW.timestamp())}-{int(NOW.timestamp())}.42.wav"


def test_recording_required_by_either_tenant():
    to_b = numbering.Resolution(True, rm.Target("device", "00004", "7009"), B)
    to_a = numbering.Resolution(True, rm.Target("device", "00003", "7002"), A)
    assert pool.recording_required(to_b, A) and pool.recording_required(to_a, B)
    assert not pool.recording_required(to_a, A)


def test_read_model_keeps_the_display_name_and_the_required_flag():
    assert rm.Device.decode(CALLER.encode()) == CALLER
    assert rm.Device.unpack(CALLER.pack()) == CALLER
    # packed by a node before display names: still read
    assert rm.Device.unpack("u\x1ft\x1fx\x1fh\x1f") == rm.Device("u", "t", "x", "h")
    assert rm.Tenant.decode(B.encode()) == B
    assert '"rq"' not in A.encode()


LINE = ("1795405390|1795405397|7.000000|c9@h|00003|7001|00004*7009|00004|"
        "1795405381000|1795405390000||200|OK|sip:10.0.0.5:5060|rtpengine|"
        "/monitor/2026/11/23/internal-7001-7009-1795405381-1795405381.42.wav|edge1|call|"
        "7009|00003*7001|Portaria|1|")


def test_cdr_with_the_call_view_fields():
    c = cdr.parse_line(LINE)
    assert (c.resolved, c.caller_id, c.caller_name, c.unrecorded, c.parent_call_id) == \
        ("7009", "00003*7001", "Portaria", True, None)
    # talk time: acc's duration from the answer (cdr_start_on_confirmed), not the ringing
    assert c.duration_ms == 7000
    assert (c.end_at - c.answer_at).total_seconds() == 7
    assert c.recording.endswith("-1795405381.42.wav")
    assert len(c.row()) == len(cdr.COLUMNS)


def test_an_unanswered_call_names_no_recording():
    unanswered = LINE.replace("|1795405390000||200|OK|", "||1795405390000|480|Busy|")
    c = cdr.parse_line(unanswered)
    assert c.answer_at is None and c.recording is None


def test_cdr_spooled_before_0006_still_ships():
    old = LINE.rsplit("|", cdr.NEW_FIELDS)[0]
    c = cdr.parse_line(old)
    assert c.resolved is None and c.unrecorded is False


# -- edgectl cdr list: the checks made before any database is asked ----------------------

def test_cdr_list_filters_parse_times_and_ages():
    from edgectl import cdr_query
    now = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
    f = cdr_query.filters("00003", "in", "2h", "2026-12-06T11:30", now=lambda: now)
    assert f.since == datetime(2026, 12, 6, 10, 0, tzinfo=timezone.utc)
    assert f.until == datetime(2026, 12, 6, 11, 30, tzinfo=timezone.utc)
    text, args = cdr_query.sql(f)
    assert "f_callee_tenant = %s" in text and args[0] == "00003"
    text, args = cdr_query.sql(cdr_query.filters("00003"))
    assert "(f_tenant = %s OR f_callee_tenant = %s)" in text and args[:2] == ["00003", "00003"]


@pytest.mark.parametrize("kwargs,match", [
    ({"tenant": "3"}, "malformed tenant id"),
    ({"direction": "out"}, "--direction needs --tenant"),
    ({"tenant": "00003", "direction": "both"}, "--direction must be"),
    ({"since": "last week"}, "--since: 'last week' is not a time"),
    ({"limit": 0}, "--limit must be at least 1"),
])
def test_cdr_list_bad_filters(kwargs, match):
    from edgectl import cdr_query
    from edgectl.db import EdgeError
    with pytest.raises(EdgeError, match=match):
        cdr_query.filters(**kwargs)


def test_cdr_list_renders_a_header_row_in_every_text_format():
    from edgectl import cdr_query
    row = {c: None for c in cdr_query.COLUMNS} | {
        "setup_at": datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc), "tenant": "00003",
        "caller": "7001", "callee": "7002", "final_code": 200, "unrecorded": False}
    csv_text = cdr_query.render([row], "csv").splitlines()
    assert csv_text[0] == ",".join(cdr_query.COLUMNS) and len(csv_text) == 2
    assert csv_text[1].startswith("2026-12-06T12:00:00.000Z,")
    table = cdr_query.render([], "table").splitlines()
    assert table == [table[0]] and table[0].startswith("SETUP_AT")


@pytest.mark.parametrize("name,ok", [("Portaria Bloco A", True), ("Zé da Guarita", True),
                                     ('Say "hi"', False), ("a,b", False), ("x" * 101, False)])
def test_display_names_are_checked_before_they_are_stored(name, ok):
    from edgectl import device_name
    from edgectl.db import EdgeError
    if ok:
        assert device_name.check_name(name) == name
    else:
        with pytest.raises(EdgeError):
            device_name.check_name(name)
