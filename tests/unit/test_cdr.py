"""CDR records as acc writes them (db_flatstore lines) and the spool protocol
that ships them without loss: pure, with a fake clock, rotation and
database."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from edgecore import metrics
from edgectl import cdr

ANSWERED = ("1795405381|1795405381|0.206000|1-5817@127.0.0.1|20001|7001|7002|20001|"
            "1795405381745|1795405381747||200|OK||rtpengine||edge1|call")
REFUSED = ("1795405382|1795405382|0.000000|1-5818@127.0.0.1|20001|7001|7099||"
           "1795405382066||1795405382070|404|Not Found||direct||edge1|call")


def ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def test_answered_call_record():
    c = cdr.parse_line(ANSWERED + "\n")
    assert (c.call_id, c.tenant, c.caller, c.callee, c.callee_tenant) == \
        ("1-5817@127.0.0.1", "20001", "7001", "7002", "20001")
    assert (c.setup_at, c.answer_at) == (ts(1795405381745), ts(1795405381747))
    assert c.duration_ms == 206 and c.end_at == ts(1795405381747 + 206)
    assert (c.final_code, c.final_reason, c.media, c.kind) == (200, "OK", "rtpengine", "call")
    assert c.pool_member is None and c.recording is None


def test_refused_call_record_ends_at_its_final_reply():
    c = cdr.parse_line(REFUSED)
    assert c.answer_at is None and c.duration_ms == 0
    assert c.end_at == ts(1795405382070) and c.callee_tenant is None
    assert (c.final_code, c.final_reason) == (404, "Not Found")


def test_escaped_delimiter_and_pool_fields():
    line = ("1|2|3.5|abc|20001|7001|7050|20001|1000|2000|5500|200|OK \\| fine|"
            "sip:10.0.0.5:5060|webrtc|/monitor/2026/11/23/rg-7001-7050-20261123-|edge2|call")
    c = cdr.parse_line(line)
    assert c.final_reason == "OK | fine"
    assert c.pool_member == "sip:10.0.0.5:5060" and c.media == "webrtc"
    assert c.recording == "/monitor/2026/11/23/rg-7001-7050-20261123-"
    assert c.duration_ms == 3500


@pytest.mark.parametrize("line", [
    "", "a|b|c", ANSWERED.replace("|20001|7001", "||7001", 1),
    ANSWERED.replace("1795405381745", "soon"), ANSWERED.replace("|call", "|other"),
])
def test_bad_records_are_refused(line):
    with pytest.raises(cdr.BadRecord):
        cdr.parse_line(line)


def test_reply_classes():
    assert [metrics.reply_class(c) for c in (180, 200, 302, 404, 503, 603, 42)] == \
        ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "other"]


# -- the spool ------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class FakeDb:
    """psycopg-shaped: transaction(), cursor().executemany, close()."""

    def __init__(self, fail: bool = False):
        self.rows: dict[tuple[str, str], tuple[object, ...]] = {}
        self.fail = fail
        self.pending: list[tuple[object, ...]] = []

    def connect(self) -> "FakeDb":
        if self.fail:
            raise OSError("connection refused")
        return self

    class _Tx:
        def __init__(self, db: "FakeDb"):
            self.db = db

        def __enter__(self) -> None:
            self.db.pending = []

        def __exit__(self, exc_type, *a) -> bool:
            if exc_type is None:
                for r in self.db.pending:
                    self.db.rows.setdefault((str(r[0]), str(r[1])), r)
            return False

    def transaction(self) -> "FakeDb._Tx":
        return FakeDb._Tx(self)

    def cursor(self) -> "FakeDb":
        return self

    def executemany(self, sql: str, rows: list[tuple[object, ...]], returning: bool) -> None:
        assert "ON CONFLICT (call_id, node) DO NOTHING" in sql
        self.pending.extend(rows)
        self.rowcount = len(rows)

    def close(self) -> None:
        pass


def write(d: Path, name: str, *lines: str, mtime: float = 0.0) -> Path:
    p = d / name
    with open(p, "a") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.utime(p, (mtime, mtime))
    return p


def test_ship_moves_records_once_rotated_and_aged(tmp_path):
    clock, db = Clock(), FakeDb()
    rotated: list[bool] = []
    spool = cdr.Spool(tmp_path, lambda: rotated.append(True) or True, clock)
    write(tmp_path, "cdr_7.log", ANSWERED, REFUSED, mtime=clock.t)
    # first round: cut and rotated, but too fresh to read
    assert cdr.ship(spool, db.connect, min_age=1.0) == 0
    assert rotated and not list(tmp_path.glob("cdr_*.log")) and len(list(tmp_path.glob("*.ship"))) == 1
    assert spool.backlog() == 2
    clock.t += 2
    assert cdr.ship(spool, db.connect, min_age=1.0) == 2
    assert len(db.rows) == 2 and spool.backlog() == 0 and not list(tmp_path.iterdir())


def test_a_file_no_node_confirmed_rotating_is_never_shipped(tmp_path):
    clock, db = Clock(), FakeDb()
    answer = [False]
    spool = cdr.Spool(tmp_path, lambda: answer[0], clock)
    write(tmp_path, "cdr_7.log", ANSWERED)
    clock.t += 10
    assert cdr.ship(spool, db.connect, min_age=1.0) == 0
    assert [p.suffix for p in tmp_path.iterdir()] == [".pending"] and not db.rows
    answer[0] = True                          # the node answers again
    cdr.ship(spool, db.connect, min_age=0.0)
    assert len(db.rows) == 1 and not list(tmp_path.iterdir())


def test_database_down_keeps_every_record_then_ships_them_once(tmp_path):
    clock, db = Clock(), FakeDb(fail=True)
    spool = cdr.Spool(tmp_path, lambda: True, clock)
    write(tmp_path, "cdr_7.log", ANSWERED)
    with pytest.raises(OSError):
        cdr.ship(spool, db.connect, min_age=0.0)
    write(tmp_path, "cdr_7.log", REFUSED)     # acc keeps writing meanwhile
    with pytest.raises(OSError):
        cdr.ship(spool, db.connect, min_age=0.0)
    assert spool.backlog() == 2
    db.fail = False
    assert cdr.ship(spool, db.connect, min_age=0.0) == 2
    assert spool.backlog() == 0
    # a file shipped again (crash between COMMIT and unlink) adds nothing
    write(tmp_path, "cdr_8.log", ANSWERED)
    cdr.ship(spool, db.connect, min_age=0.0)
    assert len(db.rows) == 2


def test_unparsable_lines_are_kept_aside_not_lost(tmp_path):
    db = FakeDb()
    spool = cdr.Spool(tmp_path, lambda: True, Clock())
    write(tmp_path, "cdr_7.log", ANSWERED, "garbage|line")
    logged: list[str] = []
    assert cdr.ship(spool, db.connect, min_age=0.0, log=logged.append) == 1
    [bad] = list(tmp_path.glob("*.bad"))
    assert "garbage|line" in bad.read_text() and logged
