"""kemi.context.Worker: device lookups through the worker's cache, the node's
shared table (a Kamailio htable, here the KSR double's) and Redis -- how
many round trips each worker makes, and that a new read-model version makes
the shared entries stale at once."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from edgecore.config import Config
from kemi import context

TENANT = rm.Tenant("00042", "Acme", domain="acme.example")
DEVICE = rm.Device("000427001", "00042", "7001", "b" * 32)


class Redis:
    """edge_device answers from a dict; counts the FCALLs."""

    def __init__(self):
        self.devices = {DEVICE.auth_username: (DEVICE, TENANT)}
        self.fcalls = 0

    def fcall(self, fn, nkeys, authuser):
        assert fn == "edge_device"
        self.fcalls += 1
        dev, ten = self.devices.get(authuser, (None, None))
        return [dev.encode() if dev else None, ten.encode() if ten else None]


@pytest.fixture
def node(ksr):
    """The node's shared table, through the double's htable functions."""
    table: dict[tuple[str, str], str] = {}
    ksr.results["htable.sht_get"] = lambda t, k: table.get((t, k))
    ksr.results["htable.sht_sets"] = lambda t, k, v: table.__setitem__((t, k), v) or 1
    return table


def workers(redis: Redis, version: list[int], n: int = 3) -> list[context.Worker]:
    return [context.Worker(Config(), redis, version=lambda: version[0]) for _ in range(n)]


def test_one_fetch_per_node_not_per_worker(node):
    redis, version = Redis(), [5]
    for w in workers(redis, version):
        assert w.device("000427001") == (DEVICE, TENANT)
        assert w.device("000427001") == (DEVICE, TENANT)
    assert redis.fcalls == 1
    assert node[(context.NODE_CACHE, "d:000427001")] == rm.tagged(5, DEVICE.pack())
    assert node[(context.NODE_CACHE, "t:00042")] == rm.tagged(5, TENANT.encode())


def test_a_new_version_makes_the_node_entries_stale(node):
    """A password change (new HA1) reaches every worker after the version
    bump, though the node's table still holds the old answer."""
    redis, version = Redis(), [5]
    first, second = workers(redis, version, 2)
    assert first.device("000427001")[0].ha1 == "b" * 32
    changed = rm.Device("000427001", "00042", "7001", "c" * 32)
    redis.devices[changed.auth_username] = (changed, TENANT)
    version[0] = 6
    assert second.device("000427001")[0].ha1 == "c" * 32
    assert first.device("000427001")[0].ha1 == "c" * 32       # from the node: one fetch
    assert redis.fcalls == 2


def test_unknown_identities_are_not_kept_by_the_node(node):
    redis, version = Redis(), [5]
    for w in workers(redis, version):
        assert w.device("999997001") == (None, None)
    assert redis.fcalls == 3 and not node


def test_packed_device_round_trips():
    for dev in (DEVICE, rm.Device("a", "00001", "55000001", "0" * 32, max_calls=3)):
        assert rm.Device.unpack(dev.pack()) == dev
    assert rm.Device.unpack("not a device") is None and rm.Device.unpack(None) is None


def test_untag():
    assert rm.untag(7, rm.tagged(7, '{"a": "x|y"}')) == '{"a": "x|y"}'
    assert rm.untag(8, rm.tagged(7, "{}")) is None
    assert rm.untag(7, None) is None and rm.untag(7, "garbage") is None
