"""PostgreSQL -> Redis: atomic full rebuilds, incremental changes, recovery."""

from __future__ import annotations

import threading

import pytest

from edgecore import readmodel as rm
from edgectl.db import EdgeError
from edgestore import readmodel as rmstore
from testkit.edge import Edge, wait_for


def test_full_rebuild_is_atomic_for_readers(edge: Edge):
    t = edge.new_tenant("Atomic")
    au, _ = edge.new_device(t, "7001")
    edge.wait_synced()
    r = edge.redis()
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        c = edge.redis()
        while not stop.is_set():
            try:
                dev, ten = rmstore.fetch_device(c, au)
                seen.append("ok" if dev and ten and dev.tenant == t else "missing")
            except Exception as exc:           # NOMODEL or anything else
                seen.append(f"error {exc}")
        c.close()

    th = threading.Thread(target=reader)
    th.start()
    gens = set()
    try:
        for _ in range(5):
            out = edge.ctl_ok("sync")
            assert "read model generation" in out
            gens.add(int(r.get(rmstore.GEN_KEY)))
    finally:
        stop.set()
        th.join()
    assert len(gens) == 5                  # every rebuild is a new generation
    assert len(seen) > 50
    assert set(seen) == {"ok"}, [s for s in seen if s != "ok"][:5]
    # the old generations are gone: only the current one holds keys
    current = int(r.get(rmstore.GEN_KEY))
    prefixes = {k.split(":")[0] for k in r.scan_iter(match="e[0-9]*:*", count=1000)}
    assert prefixes == {f"e{current}"}
    r.close()


def test_incremental_changes_reach_redis(edge: Edge):
    t = edge.new_tenant("Incr", ranges=(("7000", "7099"), ("61000000", "61000999")))
    au, _ = edge.new_device(t, "7001")
    r = edge.redis()
    try:
        wait_for(lambda: rmstore.fetch_device(r, au)[0] is not None, what="device in Redis")
        gen = int(r.get(rmstore.GEN_KEY))
        assert r.zscore(rmstore.k_ranges(gen, 8), rmstore.range_member("61000000", "61000999", t))
        assert rm.Target.decode(r.get(rmstore.k_number(gen, t, "7001"))).auth_username == au
        # a change of tenant flags is visible
        edge.ctl_ok("tenant", "set", t, "--global-access")
        wait_for(lambda: rmstore.fetch_tenant(r, t).global_access, what="tenant flag in Redis")
        # removal deletes exactly what the tenant owned
        edge.ctl_ok("tenant", "remove", t, "--cascade")
        wait_for(lambda: rmstore.fetch_device(r, au)[0] is None, what="device gone")
        assert r.get(rmstore.k_tenant(gen, t)) is None
        assert r.zscore(rmstore.k_ranges(gen, 8),
                        rmstore.range_member("61000000", "61000999", t)) is None
        assert not r.exists(rmstore.k_owned(gen, t))
        assert not list(r.scan_iter(match=f"e{gen}:*{t}*"))
    finally:
        r.close()


def test_version_bumps_on_every_change(edge: Edge):
    v0 = edge.model_version()
    edge.new_tenant("Ver")
    wait_for(lambda: edge.model_version() > v0, what="version bump")


def test_each_change_records_its_tenants_for_the_nodes_caches(edge: Edge):
    """What a node's device cache re-fetches (kemi/nodecache.py): the tenants
    changed since a version, and every change's version under "*"; a tenant's
    devices in one round trip."""
    t = edge.new_tenant("Recorded")
    edge.wait_synced()
    v0 = edge.model_version()
    au, _ = edge.new_device(t, "7001")
    edge.wait_synced()
    r = edge.redis()
    try:
        gen = int(r.get(rmstore.GEN_KEY))
        changes = rmstore.changes_since(r, gen, v0)
        assert changes[t] > v0 and changes["*"] >= edge.model_version() > v0
        assert t in rmstore.all_tenants(r, gen)
        [(ten, devs)] = rmstore.fetch_tenant_devices(r, [t])
        assert rm.Tenant.decode(ten).id == t
        assert [rm.Device.decode(d).auth_username for d in devs] == [au]
        assert rmstore.fetch_tenant_devices(r, ["99999"]) == [(None, [])]
    finally:
        r.close()


def test_redis_restarted_empty_is_rebuilt(fresh_edge: Edge):
    e = fresh_edge
    t = e.new_tenant("Empty")
    au, _ = e.new_device(t, "7001")
    e.wait_synced()
    r = e.redis()
    r.flushall()                             # as if Redis came back with no data
    r.close()
    r = e.redis()
    wait_for(lambda: r.get(rmstore.GEN_KEY) is not None, timeout=10, what="rebuild")
    assert rmstore.fetch_device(r, au)[0] is not None
    r.close()


def test_changes_made_with_psql_propagate(edge: Edge):
    """Propagation is the schema's NOTIFY, not something edgectl does."""
    t = edge.new_tenant("Psql")
    edge.new_device(t, "7001")
    edge.wait_synced()
    with edge.db() as c:
        c.execute("UPDATE tenants SET name = 'Renamed by psql' WHERE id = %s", (t,))
    r = edge.redis()
    try:
        wait_for(lambda: rmstore.fetch_tenant(r, t).name == "Renamed by psql", what="rename")
    finally:
        r.close()


def test_rebuild_speed_is_reported(edge: Edge):
    out = edge.ctl_ok("sync")
    assert " tenants, " in out and " devices, " in out and out.rstrip().endswith("s")


def test_wait_synced_is_readiness_not_a_delay(edge: Edge):
    """The kit's wait for the read model compares the last change's time
    with the follower's applied mark: with the follower stopped, a device
    provisioned in PostgreSQL is never reported synced however long one
    waits; started again, the follower applies it and the wait returns with
    the device in Redis and the node on that version."""
    edge.wait_synced()
    edge.stack.sync.stop()
    r = edge.redis()
    try:
        t = edge.new_tenant("Follower away")
        au, _ = edge.new_device(t, "7001")
        with pytest.raises(EdgeError, match="not propagated"):
            edge.wait_synced(timeout=1.0)
        assert rmstore.fetch_device(r, au)[0] is None
    finally:
        edge.stack.sync.start()
    try:
        edge.wait_synced(timeout=30)
        dev, _ = rmstore.fetch_device(r, au)
        assert dev is not None and dev.tenant == t
        assert edge.node_model_version() >= edge.model_version() >= 0
    finally:
        r.close()


def test_a_legacy_namespace_change_is_a_provisioning_change(edge: Edge):
    """A change to the legacy tables alone (a namespace and its address)
    moves provisioning_changed like any provisioning change: the sync-lag
    gauge and wait_synced see it, and it reaches the read model."""
    edge.wait_synced()
    before = edge.sync_marks()[0]
    r = edge.redis()
    try:
        with edge.db() as c:
            c.execute("INSERT INTO legacy_namespaces (name, realm) VALUES ('kitns', 'kit.test')")
            c.execute("INSERT INTO legacy_namespace_addresses (address, namespace) "
                      "VALUES ('kitns.test', 'kitns')")
        assert edge.sync_marks()[0] > before
        edge.wait_synced(timeout=30)
        ns = rmstore.fetch_namespaces(r).get("kitns.test")
        assert ns is not None and (ns.name, ns.realm) == ("kitns", "kit.test")
    finally:
        with edge.db() as c:
            c.execute("DELETE FROM legacy_namespaces WHERE name = 'kitns'")
        edge.wait_synced(timeout=30)
        assert "kitns.test" not in rmstore.fetch_namespaces(r)
        r.close()
