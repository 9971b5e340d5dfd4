"""asterisk-pool/: what can be checked without an Asterisk (not packaged for
Debian 12): the configuration parses as Asterisk config files, the dialplan
reads exactly the headers the edge sends, never ends a ring with a cause the
edge would take for a dead member, bounds its ringing by the edge's timer and
runs no shell, the recording follows the legacy layout, the CDR columns
exist, the edge is trusted by network, the entrypoint is valid shell."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from edgecore import pool

ROOT = Path(__file__).resolve().parents[2]
ETC = ROOT / "asterisk-pool" / "etc" / "asterisk"

SECTION = re.compile(r"^\[([A-Za-z0-9_.-]+)\](\(!?[A-Za-z0-9_,-]*\))?$")
ASSIGN = re.compile(r"^([A-Za-z0-9_.-]+)\s*=>?\s*(.*)$")


def parse(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Asterisk config: [section] (optionally (template)), 'key = value' or
    'key => value', ';' comments. Raises on anything else."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = re.sub(r"(?<!\\);.*$", "", raw).strip()
        if not line:
            continue
        if m := SECTION.match(line):
            sections.append((m.group(1), []))
            continue
        m = ASSIGN.match(line)
        assert m and sections, f"{path.name}:{n}: not Asterisk config syntax: {raw!r}"
        sections[-1][1].append((m.group(1), m.group(2)))
    return sections


def balanced(text: str) -> bool:
    stack = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for ch in text:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack


@pytest.mark.parametrize("name", sorted(p.name for p in ETC.glob("*.conf")))
def test_every_file_is_asterisk_config(name):
    assert parse(ETC / name)


def dialplan() -> dict[str, list[tuple[str, str]]]:
    return {name: body for name, body in parse(ETC / "extensions.conf")}


def test_dialplan_lines_are_well_formed():
    for ctx, body in dialplan().items():
        for key, value in body:
            if key in ("exten", "same"):
                assert balanced(value), f"[{ctx}] unbalanced: {value}"
                assert re.match(r"^(\S+,)?(\d+|n)(\([a-z]+\))?,[A-Za-z]+\(", value) or \
                    re.match(r"^n(\([a-z]+\))?,[A-Za-z]+\(", value), f"[{ctx}] {value}"


def test_dialplan_reads_exactly_the_headers_the_edge_sends():
    text = (ETC / "extensions.conf").read_text()
    read = set(re.findall(r"PJSIP_HEADER\(read,([A-Za-z0-9-]+)\)", text))
    assert read == set(pool.ALL_HEADERS)


def test_every_goto_target_exists():
    plan = dialplan()
    exts = {v.split(",")[0] for body in plan.values() for k, v in body if k == "exten"}
    labels = set(re.findall(r"n\(([a-z]+)\)", (ETC / "extensions.conf").read_text()))
    for target in re.findall(r"Goto(?:If)?\([^)]*?([a-z]+),1", (ETC / "extensions.conf")
                             .read_text()):
        assert target in exts, target
    for target in re.findall(r"\?([a-z]+)\)", (ETC / "extensions.conf").read_text()):
        assert target in labels or target in exts, target


def test_recording_uses_the_legacy_layout():
    text = (ETC / "extensions.conf").read_text()
    assert "Set(RECFILE=${RECORD}-${UNIQUEID}.wav)" in text
    assert re.search(r"MixMonitor\(\$\{RECFILE\}", text)
    # what the edge sends + what the dialplan appends = the legacy file name
    from datetime import datetime, timezone
    prefix = pool.record_prefix("/monitor", "internal", "7001", "7002",
                                datetime(2025, 8, 9, 12, 0, tzinfo=timezone.utc))
    name = prefix + "-1754740800.42.wav"
    assert re.fullmatch(r"/monitor/\d{4}/\d{2}/\d{2}/(internal|rg)-\d+-\d+-\d+-[\d.]+\.wav",
                        name)


def hangup_sip_code(cause: int) -> int:
    """The final response chan_pjsip answers an unanswered caller with when
    its channel hangs up with this cause: chan_pjsip.c hangup_cause2sip
    (Asterisk 20/22), a cause it does not map being 603
    (res_pjsip_session.c ast_sip_session_terminate)."""
    return {1: 404, 2: 404, 3: 404, 34: 503, 42: 503, 18: 408, 19: 480, 20: 480, 21: 403,
            22: 410, 31: 480, 28: 484, 17: 486, 38: 500, 29: 501, 66: 503, 27: 502, 58: 488,
            127: 500}.get(cause, 603)


# every DIALSTATUS app_dial sets (Asterisk 20/22 documentation of Dial)
DIALSTATUSES = ("CHANUNAVAIL", "CONGESTION", "NOANSWER", "BUSY", "ANSWER", "CANCEL",
                "DONTCALL", "TORTURE", "INVALIDARGS")


def dial_causes() -> dict[str, int]:
    return {k.removeprefix("DIALCAUSE_"): int(v.split()[0])
            for k, v in dialplan()["globals"] if k.startswith("DIALCAUSE_")}


def test_a_ring_never_ends_with_a_cause_the_edge_takes_for_a_dead_member():
    causes = dial_causes()
    assert set(DIALSTATUSES) | {"DEFAULT"} <= set(causes)
    sip = {status: hangup_sip_code(cause) for status, cause in causes.items()}
    assert not {s: c for s, c in sip.items() if c in pool.MEMBER_DOWN_CODES}, sip
    assert sip["BUSY"] == 486 and sip["NOANSWER"] == 480
    assert sip["CHANUNAVAIL"] == 480 and sip["CONGESTION"] == 480
    assert sip["DEFAULT"] == 480
    # every hangup says its cause: a literal one, or the DIALSTATUS table's
    text = (ETC / "extensions.conf").read_text()
    for arg in re.findall(r"Hangup\((.*)\)\s*$", text, re.M):
        if arg.isdigit():
            assert hangup_sip_code(int(arg)) not in pool.MEMBER_DOWN_CODES, arg
        else:
            assert arg == '${IF($["${CAUSE}" = ""]?${DIALCAUSE_DEFAULT}:${CAUSE})}', arg
    assert re.findall(r"Set\(CAUSE=(.*)\)\s*$", text, re.M) == [
        "${GLOBAL(DIALCAUSE_${DIALSTATUS})}"]
    # every ring ends there
    exts = extensions("from-edge")
    for name in ("ringall", "sequential"):
        assert any("Dial(" in line for line in exts[name]) and exts[name][-1] == "Goto(done,1)"
    assert exts["done"][-1].startswith("Hangup(")


def extensions(context: str) -> dict[str, list[str]]:
    """extension -> its priorities' applications, in order ('same' lines
    belong to the extension above)."""
    out: dict[str, list[str]] = {}
    name = ""
    for key, value in dialplan()[context]:
        if key == "exten":
            name, _, value = value.partition(",")
        out.setdefault(name, []).append(value.split(",", 1)[1])
    return out


def test_ringing_is_bounded_by_the_total_the_edge_sends():
    text = (ETC / "extensions.conf").read_text()
    assert "Set(DEADLINE=$[${EPOCH} + ${RING_TOTAL}])" in text
    assert "Set(LEFT=$[${DEADLINE} - ${EPOCH}])" in text
    for dial in re.findall(r"Dial\((.*)\)\s*$", text, re.M):
        timeout = dial.split(",", 1)[1]
        # the smaller of the per-target timeout and what is left of the total
        assert timeout in ("${IF($[${RING_TOTAL} < ${RING_TIMEOUT}]?${RING_TOTAL}:"
                           "${RING_TIMEOUT})}",
                           "${IF($[${LEFT} < ${RING_TIMEOUT}]?${LEFT}:${RING_TIMEOUT})}"), dial
    # the sequential loop stops at the deadline, on an answer, or out of targets
    (cond,) = [v for v in re.findall(r"While\((.*)\)\s*$", text, re.M) if "DEADLINE" in v]
    assert '"${DIALSTATUS}" != "ANSWER"' in cond and "${EPOCH} < ${DEADLINE}" in cond


def test_loops_are_left_only_through_their_condition_and_no_shell_runs():
    text = (ETC / "extensions.conf").read_text()
    for loop in re.findall(r"While\(.*?EndWhile\(\)", text, re.S):
        assert not re.search(r"\bGoto(If)?\(|ExecIf\(", loop), loop
    # header values never reach a shell; MixMonitor makes its own directories
    assert not re.search(r"\b(Try)?System\(|SHELL\(", text)


def test_codecs_are_the_legacy_servers():
    endpoint = next(dict(b) for n, b in parse(ETC / "pjsip.conf")
                    if n == "edge" and dict(b)["type"] == "endpoint")
    assert endpoint["disallow"] == "all"
    assert endpoint["allow"].split(",") == ["ulaw", "alaw", "gsm", "g726", "g729", "h264"]


def test_pjsip_trusts_only_the_edge():
    sections = parse(ETC / "pjsip.conf")
    types = {(name, dict(body).get("type")) for name, body in sections}
    assert ("edge", "endpoint") in types and ("edge", "identify") in types
    assert ("edge", "aor") in types and ("transport-udp", "transport") in types
    endpoint = next(dict(b) for n, b in sections if n == "edge" and dict(b)["type"] ==
                    "endpoint")
    assert endpoint["context"] in dialplan()
    assert "auth" not in endpoint and "outbound_auth" not in endpoint
    assert not any(name == "anonymous" for name, _ in sections)
    identify = next(dict(b) for n, b in sections if n == "edge" and dict(b)["type"] ==
                    "identify")
    assert identify["match"] == "@EDGE_NETWORKS@"
    # anything else is refused before identification: deny all, then permit
    (acl,) = [b for _, b in sections if dict(b)["type"] == "acl"]
    assert [(k, v) for k, v in acl if k in ("deny", "permit")] == [
        ("deny", "0.0.0.0/0.0.0.0"), ("permit", "@EDGE_NETWORKS@")]


@pytest.mark.parametrize("value,ok", [
    ("172.30.0.0/24", True),
    ("10.0.0.5,10.0.1.0/24", True),
    ("fd00:30::/64", True),
    ("edge", False),                 # resolved once at load: later nodes refused
    ("172.30.0.0/24,edge", False),
    ("", False),
])
def test_entrypoint_trusts_networks_never_names(value, ok):
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    out = subprocess.run(["bash", "-c", 'source "$0"; check_networks "$1"', str(script), value],
                         capture_output=True, text=True, timeout=10)
    assert (out.returncode == 0) is ok, out.stderr
    assert len(out.stderr.splitlines()) == (0 if ok else 1)


def test_cdr_columns_exist():
    cols = set(re.findall(r"^\s+([a-z_]+)\s+\w", (ROOT / "sql" / "migrations" /
                                                 "0003_asterisk_cdr.sql").read_text(), re.M))
    set_in_dialplan = set(re.findall(r"CDR\(([a-z_]+)\)", (ETC / "extensions.conf")
                                     .read_text()))
    assert set_in_dialplan <= cols
    assert {"tenant", "accountcode", "uniqueid", "disposition", "billsec"} <= cols
    conf = dict(parse(ETC / "cdr_pgsql.conf")[0][1])
    assert conf["table"] == "asterisk_cdr"


def test_entrypoint_is_valid_shell_and_joins_and_drains():
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "INSERT INTO pool_members" in text and "ON CONFLICT (uri)" in text
    assert "state = 'draining'" in text and "core stop when convenient" in text
    # every placeholder of the config files is rendered
    placeholders = set(re.findall(r"@([A-Z_]+)@", "".join(
        p.read_text() for p in ETC.glob("*.conf"))))
    assert placeholders <= set(re.findall(r"@([A-Z_]+)@", text))
