"""asterisk-pool/etc/asterisk read as Asterisk reads it (sections, 'key =
value' / 'key => value', ';' comments), for the unit tests of the pool's
configuration and its entrypoint."""

from __future__ import annotations

import re
from pathlib import Path

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


def dialplan() -> dict[str, list[tuple[str, str]]]:
    return {name: body for name, body in parse(ETC / "extensions.conf")}


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
