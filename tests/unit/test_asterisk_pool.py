"""asterisk-pool/: what can be checked without an Asterisk (not packaged for
Debian 12): the configuration parses as Asterisk config files, the dialplan
reads exactly the headers the edge sends, the recording follows the legacy
layout, the CDR columns exist, the entrypoint is valid shell."""

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
    assert identify["match"] == "@EDGE_ADDRESSES@"


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
