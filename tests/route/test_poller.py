"""kemi.poller: the node-wide read-model version the worker caches trust."""

from __future__ import annotations

import redis

from fakes import FakeWorker, use
from kemi import poller


class Client:
    def __init__(self, reply=None, error=None):
        self.reply, self.error = reply, error

    def mget(self, *keys):
        if self.error:
            raise self.error
        return self.reply


def test_version_published_when_model_present(ksr):
    w = use(FakeWorker())
    w.redis = Client(reply=["3", "17"])
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
    w.redis = Client(reply=[None, None])
    poller.poll()
    assert ksr.pv["$shv(edge_ver)"] == -1
