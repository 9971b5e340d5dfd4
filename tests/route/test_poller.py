"""kemi.poller: the node-wide read-model version the worker caches trust."""

from __future__ import annotations

import redis

from fakes import FakeWorker, use
from kemi import poller


class Client:
    def __init__(self, reply=None, error=None, bans=None):
        self.reply, self.error, self.ban_entries = reply, error, bans or {}

    def mget(self, *keys):
        if self.error:
            raise self.error
        return self.reply

    def hgetall(self, key):
        return self.ban_entries if key == "edge:bans" else {}


def test_version_published_when_model_present(ksr):
    w = use(FakeWorker())
    w.redis = Client(reply=["3", "17", None])
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
    w.redis = Client(reply=[None, None, None])
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == -1


def test_bans_from_redis_are_mirrored_and_lifted(ksr):
    import time
    w = use(FakeWorker())
    poller._bans.update(ver=None, fields=set())
    until = time.time() + 100
    w.redis = Client(reply=["3", "17", "1"], bans={"src:203.0.113.9": str(until),
                                                   "id:000037001": str(until),
                                                   "src:198.51.100.1": str(time.time() - 5)})
    poller.poll()
    set_ = {a[1] for a in ksr.called("htable.sht_setxi")}
    assert set_ == {"src:203.0.113.9", "id:000037001"}           # expired one ignored
    assert all(90 <= a[3] <= 101 for a in ksr.called("htable.sht_setxi"))
    ksr.calls.clear()
    poller.poll()                                                   # same version: nothing
    assert not ksr.called("htable.sht_setxi")
    w.redis = Client(reply=["3", "17", "2"], bans={"id:000037001": str(until)})
    poller.poll()                                                   # one lifted
    assert ksr.called("htable.sht_rm") == [("edgeban", "src:203.0.113.9")]
