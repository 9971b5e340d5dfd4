"""CDR shipping: from the nodes' acc spool files to PostgreSQL, losing none.

Kamailio's acc module writes one CDR per dialog (answered, failed or timed
out) through db_flatstore into ``<spool>/cdr_<process>.log`` -- a local file,
flushed per record, so a CDR exists the moment the call ends whatever
PostgreSQL is doing (kamailio/features/cdr.cfg). Shipping, every
``ops.ship_interval`` seconds:

1. each live spool file is renamed ``*.pending``, then every node is told to
   reopen its files (RPC ``flatstore.k_rotate``: each process reopens before
   its next write). Only once a node confirmed is a pending file renamed
   ``*.ship``: no process will write to it again, so it can be deleted after
   shipping without losing a late record.
2. each ``*.ship`` file older than one interval is parsed and inserted in ONE
   transaction (``ON CONFLICT (call_id, node) DO NOTHING``), and deleted only
   after COMMIT. PostgreSQL down: the files wait, nothing is lost; a crash
   between COMMIT and unlink re-ships rows that are already there, harmlessly.

Parsing (:func:`parse_line`) is pure and unit-tested.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence

# acc's core CDR fields (start_time, end_time, duration), then cdr_extra in
# the order of kamailio/features/cdr.cfg
CORE_FIELDS = ("start_time", "end_time", "duration")
EXTRA_FIELDS = ("call_id", "tenant", "caller", "callee", "callee_tenant", "setup_ms",
                "answer_ms", "end_ms", "code", "reason", "member", "media", "recording",
                "node", "kind", "resolved", "caller_id", "caller_name", "unrecorded",
                "parent_call_id")
FIELDS = CORE_FIELDS + EXTRA_FIELDS
NEW_FIELDS = 5                     # the fields added with migration 0006 (the last five)
SPOOL_GLOB = "cdr_*.log"
DELIMITER, ESCAPE = "|", "\\"      # db_flatstore's defaults


class BadRecord(ValueError):
    pass


@dataclass(frozen=True)
class Cdr:
    call_id: str
    node: str
    kind: str
    tenant: str
    caller: str
    callee: str
    callee_tenant: str | None
    setup_at: datetime
    answer_at: datetime | None
    end_at: datetime
    duration_ms: int
    final_code: int
    final_reason: str
    pool_member: str | None
    media: str
    recording: str | None
    resolved: str | None = None
    caller_id: str | None = None
    caller_name: str | None = None
    unrecorded: bool = False
    parent_call_id: str | None = None

    def row(self) -> tuple[object, ...]:
        return (self.call_id, self.node, self.kind, self.tenant, self.caller, self.callee,
                self.callee_tenant, self.setup_at, self.answer_at, self.end_at,
                self.duration_ms, self.final_code, self.final_reason, self.pool_member,
                self.media, self.recording, self.resolved, self.caller_id, self.caller_name,
                self.unrecorded, self.parent_call_id)


COLUMNS = ("call_id", "node", "kind", "tenant", "caller", "callee", "callee_tenant", "setup_at",
           "answer_at", "end_at", "duration_ms", "final_code", "final_reason", "pool_member",
           "media", "recording", "resolved", "caller_id", "caller_name", "unrecorded",
           "parent_call_id")


def split_record(line: str) -> list[str]:
    """Fields of one db_flatstore line (delimiter escaped with a backslash)."""
    out, cur, i = [], [], 0
    while i < len(line):
        ch = line[i]
        if ch == ESCAPE and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if ch == DELIMITER:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _ms(value: str, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    except ValueError:
        raise BadRecord(f"{what} is not a time in ms: {value!r}") from None


def parse_line(line: str) -> Cdr:
    values = split_record(line.rstrip("\n"))
    if len(values) == len(FIELDS) - NEW_FIELDS:
        values += [""] * NEW_FIELDS      # spooled by a node before migration 0006
    if len(values) != len(FIELDS):
        raise BadRecord(f"{len(values)} fields, expected {len(FIELDS)}")
    f = dict(zip(FIELDS, values))
    if not f["call_id"] or not f["tenant"] or f["kind"] not in ("call", "pool_leg"):
        raise BadRecord("not a call the edge recorded (no call_id/tenant/kind)")
    setup = _ms(f["setup_ms"], "setup")
    answer = _ms(f["answer_ms"], "answer") if f["answer_ms"] else None
    try:
        duration_ms = round(float(f["duration"] or 0) * 1000) if answer else 0
        code = int(f["code"]) if f["code"] else 0
    except ValueError:
        raise BadRecord(f"bad duration/code: {f['duration']!r}/{f['code']!r}") from None
    if answer is not None:
        end = datetime.fromtimestamp(answer.timestamp() + duration_ms / 1000, tz=timezone.utc)
    else:
        end = _ms(f["end_ms"], "end") if f["end_ms"] else setup
    if not code:
        # a dialog that ended without a final reply the edge saw (expired)
        code = 408
    return Cdr(call_id=f["call_id"], node=f["node"], kind=f["kind"], tenant=f["tenant"],
               caller=f["caller"], callee=f["callee"], callee_tenant=f["callee_tenant"] or None,
               setup_at=setup, answer_at=answer, end_at=end, duration_ms=duration_ms,
               final_code=code, final_reason=f["reason"], pool_member=f["member"] or None,
               media=f["media"] or "direct",
               # a file exists only for an answered call (the member starts
               # recording on the leg that answers): none named otherwise
               recording=(f["recording"] or None) if answer else None,
               resolved=f["resolved"] or None, caller_id=f["caller_id"] or None,
               caller_name=f["caller_name"] or None, unrecorded=f["unrecorded"] == "1",
               parent_call_id=f["parent_call_id"] or None)


def parse_file(path: Path) -> tuple[list[Cdr], list[str]]:
    """(records, problems): a bad line is reported, never silently dropped
    with the file's good lines -- the caller keeps it (``*.bad``)."""
    cdrs, bad = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cdrs.append(parse_line(line))
        except BadRecord as exc:
            bad.append(f"{path.name}:{n}: {exc}: {line}")
    return cdrs, bad


# -- the spool protocol ---------------------------------------------------------------

class Spool:
    """One spool directory, shared by the nodes that write into it."""

    def __init__(self, directory: Path, rotate: Callable[[], bool],
                 clock: Callable[[], float] = time.time):
        self.dir = directory
        self.rotate = rotate           # True once every writer will reopen its files
        self.clock = clock

    def cut(self) -> int:
        """Step 1: detach the live files from their writers."""
        live = [p for p in self.dir.glob(SPOOL_GLOB) if p.stat().st_size > 0]
        for p in live:
            # unique: a cut never overwrites an earlier cut's file
            p.rename(p.with_name(f"{p.name}.{self.clock():.6f}-{uuid.uuid4().hex[:8]}.pending"))
        pending = sorted(self.dir.glob("*.pending"))
        if pending and self.rotate():
            for p in pending:
                p.rename(p.with_suffix(".ship"))
        return len(pending)

    def ready(self, min_age: float) -> list[Path]:
        """Files no writer holds any more, old enough for a record written
        just before the rotation to be complete."""
        now = self.clock()
        return sorted(p for p in self.dir.glob("*.ship") if now - p.stat().st_mtime >= min_age)

    def backlog(self) -> int:
        """Records written and not yet in PostgreSQL (the CDR lag)."""
        n = 0
        for pattern in (SPOOL_GLOB, "*.pending", "*.ship"):
            for p in self.dir.glob(pattern):
                with open(p, "rb") as fh:
                    n += sum(1 for line in fh if line.strip())
        return n


def insert(conn: object, cdrs: Sequence[Cdr]) -> int:
    """Rows in one statement batch; returns how many were new."""
    if not cdrs:
        return 0
    cols = ", ".join(COLUMNS)
    marks = ", ".join(["%s"] * len(COLUMNS))
    cur = conn.cursor()  # type: ignore[attr-defined]
    cur.executemany(f"INSERT INTO edge_cdr ({cols}) VALUES ({marks}) "
                    "ON CONFLICT (call_id, node) DO NOTHING", [c.row() for c in cdrs],
                    returning=False)
    return max(cur.rowcount, 0)


def ship(spool: Spool, connect: Callable[[], object], min_age: float,
         log: Callable[[str], None] = lambda s: None) -> int:
    """One shipping round; returns the CDRs committed. A database error
    leaves every file in place (raised to the caller, retried next round)."""
    spool.cut()
    files = spool.ready(min_age)
    if not files:
        return 0
    parsed: list[tuple[Path, list[Cdr]]] = []
    for p in files:
        cdrs, bad = parse_file(p)
        for b in bad:
            log(f"cdr: unparsable record kept in {p.name}.bad: {b}")
        if bad:
            with open(p.with_suffix(".bad"), "a", encoding="utf-8") as fh:
                fh.write("\n".join(bad) + "\n")
        parsed.append((p, cdrs))
    conn = connect()
    try:
        with conn.transaction():  # type: ignore[attr-defined]
            n = sum(insert(conn, cdrs) for _, cdrs in parsed)
    finally:
        conn.close()  # type: ignore[attr-defined]
    for p, _ in parsed:
        p.unlink()
    return n


def backlog(root: Path) -> int:
    """CDRs not yet in PostgreSQL, over every node's spool under root."""
    if not root.is_dir():
        return 0
    return sum(Spool(d, lambda: False).backlog() for d in root.iterdir() if d.is_dir())


def all_spool_files(directory: Path) -> Iterable[Path]:
    for pattern in (SPOOL_GLOB, "*.pending", "*.ship", "*.bad"):
        yield from directory.glob(pattern)


def spool_bytes(directory: Path) -> int:
    return sum(os.path.getsize(p) for p in all_spool_files(directory))
