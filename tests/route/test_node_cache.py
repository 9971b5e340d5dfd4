"""The node-wide device cache (kemi/nodecache.py, filled and invalidated by
the timer process's poll, kemi/poller.py) and the workers' lookups through
it (kemi/context.py): a node that just started answers every device's first
REGISTER without a round trip; a change to one tenant makes that tenant's
entries stale before the new version is published, and re-fetches that
tenant only; what is not recorded per tenant resets the whole table."""

from __future__ import annotations

import pytest

from edgecore import readmodel as rm
from edgecore.config import Config
from kemi import context, nodecache, poller

A = rm.Tenant("00042", "Acme", domain="acme.example")
B = rm.Tenant("00043", "Bravo")
DEV = rm.Device("000427001", "00042", "7001", "b" * 32)
DEV2 = rm.Device("000427002", "00042", "7002", "d" * 32, name="Lobby")
OTHER = rm.Device("000437001", "00043", "7001", "e" * 32, max_calls=2)


class Model:
    """The read model in Redis as the node sees it: the poller's MGET, the
    change record (edge_changed), edge_tenant_devices and edge_device.
    Counts the FCALLs by function."""

    def __init__(self):
        self.gen, self.ver, self.epoch = 3, 10, "e1"
        self.tenants = {A.id: A, B.id: B}
        self.devices = {d.auth_username: d for d in (DEV, DEV2, OTHER)}
        self.changes = {A.id: 0, B.id: 0, "*": 10}
        self.fcalls: dict[str, int] = {}
        self.broken = False
        self.cid = 1                    # the poller's connection (CLIENT ID)

    def change(self, *tenants: str, record: bool = True) -> None:
        self.ver += 1
        if record:
            self.changes.update({t: self.ver for t in tenants}, **{"*": self.ver})

    # -- redis-py surface --------------------------------------------------------
    def client_id(self):
        return self.cid

    def mget(self, *keys):
        return [str(self.gen), str(self.ver), None, self.epoch]

    def zrange(self, key, lo, hi):
        assert key == f"e{self.gen}:tv"
        return list(self.changes)

    def zrangebyscore(self, key, lo, hi, withscores):
        assert key == f"e{self.gen}:tv" and lo.startswith("(")
        return [(m, float(s)) for m, s in self.changes.items() if s > int(lo[1:])]

    def fcall(self, fn, nkeys, *args):
        self.fcalls[fn] = self.fcalls.get(fn, 0) + 1
        if fn == "edge_device":
            d = self.devices.get(args[0])
            t = self.tenants.get(d.tenant) if d else None
            return [d.encode() if d else None, t.encode() if t else None]
        assert fn == "edge_tenant_devices"
        if self.broken:
            raise ConnectionError("Redis went away")
        return [[self.tenants[t].encode() if t in self.tenants else False,
                 [d.encode() for d in self.devices.values() if d.tenant == t]] for t in args]


@pytest.fixture
def node(ksr):
    """The node's shared table through the double's htable functions, its
    poller state fresh, no registration notes queued."""
    table: dict[str, str] = {}
    ksr.results["htable.sht_get"] = lambda t, k: table.get(k) if t == "edgecache" else None
    ksr.results["htable.sht_sets"] = lambda t, k, v: table.__setitem__(k, v) or 1
    ksr.results["htable.sht_rm"] = lambda t, k: table.pop(k, None) and 1 or 1
    ksr.results["htable.sht_reset"] = lambda t: table.clear() or 1
    ksr.results["htable.sht_iterator_start"] = 1
    ksr.results["htable.sht_iterator_next"] = -1
    nodecache._s = nodecache._State()
    poller._state.update(last=None, seen=None)
    return table


def start(ksr, model: Model, n: int = 3) -> list[context.Worker]:
    """A node: its timer process (one poll) and n workers."""
    context.WORKER = context.Worker(Config(), model)
    poller.poll()
    return [context.Worker(Config(), model,
                           version=lambda: int(ksr.pv["$shv(edge_cache)"])) for _ in range(n)]


def test_a_started_node_answers_every_device_without_a_round_trip(ksr, node):
    model = Model()
    workers = start(ksr, model)
    assert ksr.pv["$shv(edge_fill)"] == 0                       # every tenant fetched
    assert model.fcalls == {"edge_tenant_devices": 1}           # in one round trip
    for w in workers:
        assert w.device("000427001") == (DEV, A)
        assert w.device("000427002") == (DEV2, A)
        assert w.device("000437001") == (OTHER, B)
    assert "edge_device" not in model.fcalls
    assert set(node) == {"d:000427001", "d:000427002", "d:000437001", "t:00042", "t:00043",
                         nodecache.SENTINEL}


def test_unknown_identities_cost_a_round_trip_and_are_not_kept(ksr, node):
    model = Model()
    for w in start(ksr, model):
        assert w.device("999997001") == (None, None)
    assert model.fcalls["edge_device"] == 3 and len(node) == 6


def test_a_password_change_refetches_that_tenant_only(ksr, node):
    model = Model()
    first, second = start(ksr, model, 2)
    assert first.device("000427001")[0].ha1 == "b" * 32
    assert first.device("000437001") == (OTHER, B)
    other_entry = node["d:000437001"]
    model.devices["000427001"] = rm.Device("000427001", "00042", "7001", "c" * 32)
    model.change(A.id)
    calls = ksr.calls.copy()
    poller.poll()
    fetched = [a for n, a in ksr.calls[len(calls):] if n == "htable.sht_sets"]
    assert {a[1] for a in fetched} == {"d:000427001", "d:000427002", "t:00042"}
    assert node["d:000437001"] == other_entry                   # B untouched
    assert first.device("000427001")[0].ha1 == "c" * 32
    assert second.device("000427001")[0].ha1 == "c" * 32
    assert first.device("000437001") == (OTHER, B)
    assert "edge_device" not in model.fcalls


def test_a_changed_tenant_is_stale_before_the_new_version_is_published(ksr, node):
    """Fetching it again fails (Redis gone right after the version was read):
    no worker answers from the old entry under the new version -- the lookup
    goes to Redis, which answers with the new password."""
    model = Model()
    (w,) = start(ksr, model, 1)
    assert w.device("000427001")[0].ha1 == "b" * 32
    model.devices["000427001"] = rm.Device("000427001", "00042", "7001", "c" * 32)
    model.change(A.id)
    model.broken = True
    poller.poll()
    assert "t:00042" not in node
    assert w.device("000427001")[0].ha1 == "c" * 32
    assert model.fcalls["edge_device"] == 1
    assert ksr.pv["$shv(edge_fill)"] == 1                       # fetched on a later poll
    model.broken = False
    poller.poll()
    assert ksr.pv["$shv(edge_fill)"] == 0 and "t:00042" in node


def test_a_removed_device_stops_answering_and_leaves_the_table(ksr, node):
    model = Model()
    (w,) = start(ksr, model, 1)
    assert w.device("000427002") == (DEV2, A)
    del model.devices["000427002"]
    model.change(A.id)
    poller.poll()
    assert w.device("000427002") == (None, None)
    assert "d:000427002" not in node and "d:000427001" in node


def test_a_removed_tenant_leaves_the_table(ksr, node):
    model = Model()
    (w,) = start(ksr, model, 1)
    del model.tenants[B.id]
    del model.devices["000437001"]
    model.change(B.id)
    poller.poll()
    assert w.device("000437001") == (None, None)
    assert set(node) == {"d:000427001", "d:000427002", "t:00042", nodecache.SENTINEL}


def test_a_device_moved_between_tenants_answers_with_its_new_tenant(ksr, node):
    model = Model()
    (w,) = start(ksr, model, 1)
    moved = rm.Device("000427002", "00043", "7002", "d" * 32)
    model.devices["000427002"] = moved
    model.change(A.id, B.id)
    poller.poll()
    assert w.device("000427002") == (moved, B)
    assert "edge_device" not in model.fcalls


@pytest.mark.parametrize("how", ["unrecorded", "epoch", "generation", "backwards"])
def test_what_is_not_recorded_per_tenant_resets_the_whole_table(ksr, node, how):
    """A writer that records no tenants, a full rebuild (new epoch and
    generation), a version counter set back: every entry goes before the
    new version is published, and every tenant is fetched again."""
    model = Model()
    (w,) = start(ksr, model, 1)
    assert w.device("000437001") == (OTHER, B)
    model.devices["000437001"] = rm.Device("000437001", "00043", "7001", "f" * 32)
    if how == "unrecorded":
        model.change(B.id, record=False)
    elif how == "epoch":
        model.epoch, model.ver = "e2", 1
    elif how == "generation":
        model.gen += 1
        model.change()
    else:
        model.ver = 5
    model.broken = True
    poller.poll()
    assert set(node) == {nodecache.SENTINEL}                   # reset before publishing
    assert w.device("000437001")[0].ha1 == "f" * 32            # from Redis
    model.broken = False
    poller.poll()
    assert len(node) == 6 and w.device("000437001")[0].ha1 == "f" * 32


def test_a_table_emptied_from_outside_is_filled_again(ksr, node):
    model = Model()
    (w,) = start(ksr, model, 1)
    node.clear()                                # kamcmd htable.flush edgecache
    poller.poll()
    assert len(node) == 6 and model.fcalls == {"edge_tenant_devices": 2}
    assert w.device("000427001") == (DEV, A) and "edge_device" not in model.fcalls


def test_redis_unreachable_is_503_whatever_the_table_holds(ksr, node):
    model = Model()
    (w,) = start(ksr, model, 1)
    ksr.pv["$shv(edge_cache)"] = -1
    from edgecore.cache import Unavailable
    with pytest.raises(Unavailable):
        w.device("000427001")


def test_a_large_model_is_fetched_in_chunks_across_polls(ksr, node, monkeypatch):
    model = Model()
    model.tenants = {f"{i:05d}": rm.Tenant(f"{i:05d}") for i in range(1, 401)}
    model.devices = {f"{t}7001": rm.Device(f"{t}7001", t, "7001", "a" * 32)
                     for t in model.tenants}
    model.changes = {**{t: 0 for t in model.tenants}, "*": 10}
    monkeypatch.setattr(nodecache, "CHUNK_DEVICES", 50)
    clock = iter([0.0, 0.0, 1.0])        # deadline, one chunk, past the budget
    monkeypatch.setattr(nodecache, "monotonic", lambda: next(clock))
    start(ksr, model, 1)
    assert 0 < ksr.pv["$shv(edge_fill)"] < 400                  # one chunk in this poll
    monkeypatch.setattr(nodecache, "monotonic", lambda: 0.0)
    poller.poll()
    assert ksr.pv["$shv(edge_fill)"] == 0 and len(node) == 801


def test_packed_device_round_trips():
    for dev in (DEV, DEV2, rm.Device("a", "00001", "55000001", "0" * 32, max_calls=3),
                rm.Device("0000155000001", "00001", "55000001", "0123456789abcdef" * 2,
                          name="Gate", global_number=True),
                rm.Device("x", "00001", "7001", "ABCDEF" * 5 + "00"),
                rm.Device("x", "00001", "7001", "ab" * 32)):
        assert rm.Device.unpack(dev.pack()) == dev
    assert rm.Device.unpack("not a device") is None and rm.Device.unpack(None) is None


def test_packed_device_is_compact():
    """Shared memory per registered device: the default auth username
    (tenant id + extension) is not repeated, the HA1 is base64, trailing
    empty fields go: 35 characters, where they were 58."""
    dev = rm.Device("0000155000", "00001", "55000", "0123456789abcdef" * 2)
    assert dev.pack() == "\x1f00001\x1f55000\x1fASNFZ4mrze8BI0VniavN7w"


def test_untag():
    assert rm.untag(7, rm.tagged(7, '{"a": "x|y"}')) == '{"a": "x|y"}'
    assert rm.untag("7", rm.tagged(7, "{}")) == "{}"
    assert rm.untag(8, rm.tagged(7, "{}")) is None
    assert rm.untag(7, None) is None and rm.untag(7, "garbage") is None


def test_a_counter_set_back_and_past_between_two_polls_on_a_new_connection(ksr, node):
    """Redis fails over to a replica that missed the last change (version 11
    -> 10, same epoch and generation), and before the node's next poll the
    writer applies a password change in A (11 on the new primary) and a
    change in B (12): the node handled changes up to 11 and would ask for
    B's only. Its poll runs on a new connection (the old server is gone):
    the node's device cache is filled again, A's new password answers.
    (Found by review.)"""
    model = Model()
    model.change(B.id)                                   # v11 on the old primary, seen
    workers = start(ksr, model, 1)
    poller.poll()
    assert workers[0].device("000427001")[0].ha1 == "b" * 32
    ver0 = ksr.pv["$shv(edge_cache)"]
    model.ver = 10                                       # failover: replica at v10
    model.changes = {A.id: 0, B.id: 0, "*": 10}
    model.devices["000427001"] = rm.Device("000427001", "00042", "7001", "c" * 32)
    model.change(A.id)                                   # v11 on the new primary
    model.change(B.id)                                   # v12
    model.cid += 1                                       # the poller reconnected
    poller.poll()
    assert ksr.pv["$shv(edge_cache)"] != ver0            # workers drop their caches too
    fresh = context.Worker(Config(), model, version=lambda: int(ksr.pv["$shv(edge_cache)"]))
    assert fresh.device("000427001")[0].ha1 == "c" * 32, "old password still accepted"
    assert workers[0].device("000427001")[0].ha1 == "c" * 32
