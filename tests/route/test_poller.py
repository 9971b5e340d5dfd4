"""kemi.poller: the node-wide read-model version the worker caches trust."""

from __future__ import annotations

import pytest
import redis

from fakes import FakeWorker, use
from kemi import nodecache, poller


@pytest.fixture(autouse=True)
def empty_registration_queue(ksr):
    """The node's edgeregq table, empty (kemi/registrations.py flush); its
    device cache empty and unfilled (tests/route/test_node_cache.py)."""
    ksr.results["htable.sht_iterator_start"] = 1
    ksr.results["htable.sht_iterator_next"] = -1
    ksr.results["htable.sht_reset"] = 1
    ksr.results["htable.sht_get"] = "1"       # the device cache's sentinel: not emptied
    nodecache._s = nodecache._State()


class Client:
    def __init__(self, reply=None, error=None, bans=None):
        self.reply, self.error, self.ban_entries = reply, error, bans or {}

    def client_id(self):
        if self.error:
            raise self.error
        return 5

    def mget(self, *keys):
        if self.error:
            raise self.error
        return self.reply

    def hgetall(self, key):
        return self.ban_entries if key == "edge:bans" else {}

    def zrange(self, key, lo, hi):          # the model's tenants: none
        return []

    def zrangebyscore(self, key, lo, hi, withscores):
        return []


def test_version_published_when_model_present(ksr):
    w = use(FakeWorker())
    w.redis = Client(reply=["3", "17", None, "e1"])
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == 17


def test_redis_down_publishes_minus_one_and_logs_once(ksr):
    w = use(FakeWorker())
    w.redis = Client(error=redis.ConnectionError("refused"))
    poller._state["last"] = True
    poller.poll()
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == -1
    assert len(ksr.called("err")) == 1


def test_empty_redis_is_no_model(ksr):
    w = use(FakeWorker())
    w.redis = Client(reply=[None, None, None, None])
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == -1


def test_bans_from_redis_are_mirrored_and_lifted(ksr):
    import time
    w = use(FakeWorker())
    poller._bans.update(ver=None, fields=set())
    until = time.time() + 100
    w.redis = Client(reply=["3", "17", "1", "e1"], bans={"src:203.0.113.9": str(until),
                                                   "id:000037001": str(until),
                                                   "src:198.51.100.1": str(time.time() - 5)})
    poller.poll()
    set_ = {a[1] for a in ksr.called("htable.sht_setxi")}
    assert set_ == {"src:203.0.113.9", "id:000037001"}           # expired one ignored
    assert all(90 <= a[3] <= 101 for a in ksr.called("htable.sht_setxi"))
    ksr.calls.clear()
    poller.poll()                                                   # same version: nothing
    assert not ksr.called("htable.sht_setxi")
    w.redis = Client(reply=["3", "17", "2", "e1"], bans={"id:000037001": str(until)})
    poller.poll()                                                   # one lifted
    assert ksr.called("htable.sht_rm") == [("edgeban", "src:203.0.113.9")]


def test_a_bad_ban_entry_is_skipped_and_the_node_keeps_serving(ksr):
    """Issue 15 item 7: an entry that does not parse (bad expiry, unknown
    kind) is logged and skipped; the good ones are mirrored and the published
    read-model version stays the model's, never -1."""
    import time
    w = use(FakeWorker())
    poller._bans.update(ver=None, fields=set())
    until = time.time() + 100
    w.redis = Client(reply=["3", "17", "5", "e1"], bans={"src:203.0.113.9": str(until),
                                                   "src:203.0.113.10": "never",
                                                   "zz:whatever": str(until)})
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == 17
    assert {a[1] for a in ksr.called("htable.sht_setxi")} == {"src:203.0.113.9"}
    assert len(ksr.called("err")) == 2                    # one line per bad entry


def test_failing_to_mirror_bans_keeps_the_model_version(ksr):
    w = use(FakeWorker())
    poller._bans.update(ver=None, fields=set())

    class Broken(Client):
        def hgetall(self, key):
            raise redis.ResponseError("WRONGTYPE")

    w.redis = Broken(reply=["3", "17", "6", "e1"])
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == 17
    assert poller._bans["ver"] is None                    # retried next poll


def test_cache_version_never_repeats_when_redis_goes_backwards(ksr):
    """Issue 15 item 13: the workers' caches compare a node counter that
    changes with the model's (epoch, version) and never returns to a value;
    a counter that went back to 17 under another epoch is a new version."""
    w = use(FakeWorker())
    poller._state["seen"] = None
    seen = []
    for epoch, ver in (("e1", "17"), ("e1", "17"), ("e1", "18"), ("e2", "1"), ("e2", "17"),
                       ("e2", "17")):
        w.redis = Client(reply=["3", ver, None, epoch])
        poller.poll()
        seen.append(ksr.pv["$shv(edge_cache)"])
        assert ksr.pv["$shv(edge_ver)"] == int(ver)
    assert seen[0] == seen[1] and seen[4] == seen[5]
    assert len({seen[0], seen[2], seen[3], seen[4]}) == 4 and seen == sorted(seen)
    poller._state["seen"] = None               # app_python.reload: module state lost
    poller.poll()
    assert ksr.pv["$shv(edge_cache)"] > seen[-1]
    w.redis = Client(error=redis.ConnectionError("refused"))
    poller.poll()
    assert ksr.pv["$shv(edge_cache)"] == -1


def test_the_notes_process_writes_the_registration_counts_noted_since_the_last(ksr):
    """... and the trust of identities at addresses (kemi/security.py), in a
    timer process of its own: the version poll writes none."""
    w = use(FakeWorker())
    w.cfg.node.features = [*w.cfg.node.features, "antiflood"]
    w.antiflood = True
    w.redis = Client(reply=["3", "17", None, "e1"])
    poller.poll()
    assert not ksr.called("htable.sht_iterator_start")
    poller.flush_notes()
    assert ksr.called("htable.sht_iterator_start") == [("edgeregq", "edgeregq"),
                                                       ("edgetrustq", "edgetrustq")]
    assert ksr.called("htable.sht_iterator_end") == [("edgeregq",), ("edgetrustq",)]
    ksr.calls.clear()
    w.redis = Client(error=redis.ConnectionError("refused"))
    poller.poll()
    poller.flush_notes()                    # Redis down: the notes wait in the table
    assert not ksr.called("htable.sht_iterator_start")
