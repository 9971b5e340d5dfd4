"""The media pool as Kamailio's dispatcher module loads it: a list file.

The pool is provisioned in PostgreSQL (``pool_members``, and the
``dispatcher`` view that maps it to dispatcher's columns: set, destination,
flags, priority, attributes). A node does not read it from there: dispatcher
loading from a database makes Kamailio refuse to start while that database is
down, and a node that cannot (re)start during a PostgreSQL outage stops
routing. The control plane renders the view into a list file instead
(``<run_dir>/dispatcher.list``, kamailio/features/pool.cfg ``list_file``) and
has the nodes reload it (``dispatcher.reload``); a node starting while
PostgreSQL is down loads the last file written.

Pure: :func:`render` and :func:`parse` turn rows into text and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

HEADER = ("# dispatcher destinations: rendered from PostgreSQL (view `dispatcher`) by\n"
          "# edgectl; do not edit -- provision with `edgectl pool ...`\n"
          "# setid destination flags priority attributes\n")


class BadDestination(ValueError):
    pass


@dataclass(frozen=True)
class Destination:
    setid: int
    uri: str
    flags: int
    priority: int
    attrs: str


def _field(value: str, what: str) -> str:
    if not value or any(ch.isspace() for ch in value) or value.startswith("#"):
        raise BadDestination(f"{what} {value!r} cannot be a dispatcher list field")
    return value


def render(rows: Iterable[Destination]) -> str:
    """The list file of these destinations (dispatcher's line format: fields
    separated by a space, attributes last; an empty pool is a file with no
    destination)."""
    lines = [HEADER]
    for d in rows:
        attrs = _field(d.attrs, "attributes") if d.attrs else ""
        line = f"{d.setid} {_field(d.uri, 'destination')} {d.flags} {d.priority}"
        lines.append(f"{line} {attrs}\n" if attrs else line + "\n")
    return "".join(lines)


def parse(text: str) -> list[Destination]:
    """The destinations of a list file (what a node would load)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        setid, uri = int(parts[0]), parts[1]
        flags = int(parts[2]) if len(parts) > 2 else 0
        priority = int(parts[3]) if len(parts) > 3 else 0
        out.append(Destination(setid, uri, flags, priority, parts[4] if len(parts) > 4 else ""))
    return out
