"""kemi.security: screening, bans, and the brute-force bookkeeping."""

from __future__ import annotations

import pytest

from fakes import FakeWorker, use
from edgecore import guard
from kemi import htqueue, security
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP


class Redis:
    """Records the guard's function calls; scripted answers."""

    def __init__(self):
        self.calls = []
        self.answers = {"edge_auth_fail": [0, 0], "edge_trusted": 0}

    def fcall(self, fn, nkeys, *args):
        self.calls.append((fn, args))
        return self.answers.get(fn, 1)

    def pipeline(self, transaction=True):
        return Pipeline(self)


class Pipeline:
    """Queues the guard's calls; execute() is the one round trip."""

    def __init__(self, redis):
        self.redis, self.queued = redis, []

    def fcall(self, fn, nkeys, *args):
        self.queued.append((fn, nkeys, args))

    def execute(self):
        self.redis.round_trips = getattr(self.redis, "round_trips", 0) + 1
        return [self.redis.fcall(fn, n, *a) for fn, n, a in self.queued]


@pytest.fixture
def worker() -> FakeWorker:
    w = use(FakeWorker())
    w.redis = Redis()
    return w


def request(ksr, src="203.0.113.7", ua="Yealink SIP-T46S", length=500, bans=()):
    ksr.message("REGISTER", ua=ua, ml=length)
    ksr.results["kx.get_srcip"] = src
    ksr.results["htable.sht_get"] = lambda table, key: 1 if key in bans else None
    ksr.results["pike.pike_check_req"] = 1


def test_ordinary_request_passes(ksr, worker):
    request(ksr)
    assert security.screen(Request()) == CONTINUE


@pytest.mark.parametrize("ua", ["friendly-scanner", "sipvicious 0.3.4", "SIPCLI/v1.8",
                                "sundayddr", "VaxSIPUserAgent/3.1"])
def test_scanner_dropped_silently_and_banned_everywhere(ksr, worker, ua):
    request(ksr, ua=ua)
    assert security.screen(Request()) == STOP
    assert ksr.replies() == []                                       # no reply at all
    assert [c[0] for c in worker.redis.calls] == ["edge_ban"]       # shared ban
    assert worker.redis.calls[0][1][0] == "src:203.0.113.7"
    assert ksr.called("htable.sht_setxi")[0][1] == "src:203.0.113.7"


def test_banned_source_dropped_unless_trusted_identity(ksr, worker):
    """Issue 15 item 6: a banned source costs no round trip, whatever
    identity it claims; the trust that lets a phone behind it through is
    this node's `edgegood` table."""
    request(ksr, bans={"src:203.0.113.7", "000037001|203.0.113.7"})
    assert security.screen(Request()) == STOP and ksr.replies() == []
    ksr.pv["$au"] = "000037002"
    worker.redis.answers["edge_trusted"] = 1      # even if Redis would say trusted
    assert security.screen(Request()) == STOP
    ksr.pv["$au"] = "000037001"                   # authenticated on this node from here
    assert security.screen(Request()) == CONTINUE
    assert worker.redis.calls == []               # no I/O at all


def test_oversized_is_513(ksr, worker):
    request(ksr, length=20000)
    assert security.screen(Request()) == STOP
    assert ksr.replies() == [(513, "Message Too Large")]


def test_flood_bans_the_source(ksr, worker):
    request(ksr)
    ksr.results["pike.pike_check_req"] = -1
    assert security.screen(Request()) == STOP
    assert worker.redis.calls[0][0] == "edge_ban"


def test_exempt_and_pool_sources_are_never_screened(ksr):
    w = use(FakeWorker())
    w.cfg.security.exempt_sources = ["127.0.0.0/8"]
    from edgecore.guard import Exemptions
    w.exemptions = Exemptions(w.cfg.security.exempt_sources)
    request(ksr, src="127.0.0.1", ua="friendly-scanner", bans={"src:127.0.0.1"})
    assert security.screen(Request()) == CONTINUE
    request(ksr, ua="friendly-scanner")
    assert security.screen(Request(from_pool=True)) == CONTINUE


def test_failures_are_counted_and_bans_mirrored(ksr, worker):
    request(ksr)
    worker.redis.answers["edge_auth_fail"] = [1, 1]
    security.auth_failed("000037001")
    fn, args = worker.redis.calls[0]
    assert fn == "edge_auth_fail" and args[:2] == ("203.0.113.7", "000037001")
    assert args[3:7] == ("60", "20", "10", "600")
    # the slow-guessing windows: hour and day, each banning for its length
    assert args[7:] == ("3600", "60", "20", "3600", "86400", "150", "50", "86400")
    fields = {a[1] for a in ksr.called("htable.sht_setxi")}
    assert fields == {"src:203.0.113.7", "id:000037001"}


def test_locked_identity_only_from_its_trusted_sources(ksr, worker):
    request(ksr, bans={"id:000037001"})
    ksr.pv["$au"] = "000037001"
    assert security.identity_locked("000037001") is True
    worker.redis.answers["edge_trusted"] = 1
    assert security.identity_locked("000037001") is False
    assert security.identity_locked("000037002") is False      # not locked at all


def test_success_noted_for_the_timer_once_per_refresh(ksr, worker, monkeypatch):
    """A worker makes no round trip for a success: the pair is noted in the
    node's `edgetrustq` table, at most once per trust_refresh on the node --
    the pair's one `edgegood` entry (shared by the node's workers) says when
    it was noted, and every success refreshes the entry -- and the timer
    process writes a poll's notes in one pipelined round trip
    (security.flush_trust)."""
    table = shared_tables(ksr, monkeypatch)
    clock = [1_800_000_000.0]
    monkeypatch.setattr(security.time, "time", lambda: clock[0])
    pair = "000037001|203.0.113.7"
    security.auth_succeeded("000037001")
    security.auth_succeeded("000037001")
    assert worker.redis.calls == []                             # no round trip
    stamp = 1_800_000_000 - guard.TRUST_EPOCH
    assert table == {(security.GOOD_TABLE, pair): stamp,
                     (security.TRUST_QUEUE, pair): "1800000000.000"}
    assert security.flush_trust() == 1                          # the timer's poll
    assert [(c[0], c[1][:2]) for c in worker.redis.calls] == [
        ("edge_auth_ok", ("000037001", "203.0.113.7"))]
    assert worker.redis.round_trips == 1
    refresh = worker.cfg.security.trust_refresh
    clock[0] += refresh - 1
    security.auth_succeeded("000037001")            # another worker of the node
    assert security.flush_trust() == 0 and worker.redis.round_trips == 1
    assert ksr.called("htable.sht_seti")[-1][1:] == (pair, stamp)     # refreshed, same stamp
    clock[0] += 1                                   # trust_refresh since the note
    security.auth_succeeded("000037001")
    assert security.flush_trust() == 1 and worker.redis.round_trips == 2
    assert table == {(security.GOOD_TABLE, pair): stamp + refresh}
    # a failure from that source revokes its trust in Redis: the next
    # success records it again
    security.auth_failed("000037001")
    assert not table
    security.auth_succeeded("000037001")
    assert security.flush_trust() == 1
    assert [c[0] for c in worker.redis.calls].count("edge_auth_ok") == 3


def test_a_failure_drops_a_success_not_yet_written(ksr, worker, monkeypatch):
    """The success noted before a failure from that source is never written
    after it: the failure revoked that source's trust in Redis."""
    shared_tables(ksr, monkeypatch)
    security.auth_succeeded("000037001")
    security.auth_failed("000037001")
    assert security.flush_trust() == 0
    assert [c[0] for c in worker.redis.calls] == ["edge_auth_fail"]


def shared_tables(ksr, monkeypatch) -> dict[tuple[str, str], object]:
    """A request, and the node's htables as one dict (table, key) -> value;
    the timer's drain of a queue takes that table's entries out."""
    request(ksr)
    table: dict[tuple[str, str], object] = {}
    ksr.results["htable.sht_get"] = lambda t, k: table.get((t, k))
    ksr.results["htable.sht_seti"] = lambda t, k, v: table.__setitem__((t, k), v) or 1
    ksr.results["htable.sht_sets"] = lambda t, k, v: table.__setitem__((t, k), v) or 1
    ksr.results["htable.sht_rm"] = lambda t, k: table.pop((t, k), None) and 1
    monkeypatch.setattr(htqueue, "drain", lambda t, it: [
        (k, str(table.pop((tt, k)))) for tt, k in list(table) if tt == t])
    return table


def test_the_timer_writes_each_success_with_its_own_time_and_drops_old_ones(ksr, worker,
                                                                          monkeypatch):
    """Redis refuses a success older than a failure of that pair it already
    has (edge.lua): so the timer writes the time of the success, not its
    own -- and a note older than TRUST_NOTE_MAX_AGE not at all (Redis keeps a
    failure's time for a bounded while)."""
    shared_tables(ksr, monkeypatch)
    clock = [1_800_000_000.0]
    monkeypatch.setattr(security.time, "time", lambda: clock[0])
    security.auth_succeeded("000037001")
    clock[0] += 0.15                                 # the next poll
    assert security.flush_trust() == 1
    (call,) = worker.redis.calls
    assert call[0] == "edge_auth_ok" and float(call[1][2]) == 1_800_000_000.0
    security.auth_failed("000037001")                # trust revoked; noted again later
    security.auth_succeeded("000037001")
    clock[0] += security.TRUST_NOTE_MAX_AGE + 1      # a backlog
    assert security.flush_trust() == 1
    assert [c[0] for c in worker.redis.calls].count("edge_auth_ok") == 1
