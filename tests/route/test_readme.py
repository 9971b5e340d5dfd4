"""The README's request-path table is the request route: every step of
``kemi/edge.py``'s REQUEST_STEPS, in the order they run, each with the
module that defines it -- and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from kemi import edge

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `([a-z_]+)\.([a-z_]+)` \| `(kemi/[a-z_]+\.py)`")


def table_rows() -> list[tuple[str, str, str]]:
    text = README.read_text()
    section = text[text.index("### Request path and its cost"):]
    section = section[:section.index("\n\n", section.index("\n|"))]
    return [m.groups() for m in map(ROW.match, section.splitlines()) if m]


def test_the_request_path_table_lists_request_steps_in_order():
    steps = [(s.__module__.rpartition(".")[2], s.__name__) for s in edge.REQUEST_STEPS]
    rows = table_rows()
    assert [(mod, fn) for mod, fn, _ in rows] == steps
    for mod, _, path in rows:
        assert path == f"kemi/{mod}.py"
