"""`edgectl status` and `/metrics` with 100,000 registered contacts: counted
from usrloc's statistics and the per-tenant counts the registrar step keeps
(edgestore.regcount), never from ``ul.dump`` -- which stops fitting a
JSON-RPC reply after a few thousand contacts (status said 0 registered and
every scrape lost the registration gauges)."""

from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from edgectl import loadkit
from edgectl.provision import default_auth_username
from testkit.ports import free_port
from harness.bulkreg import register_many
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient

# 100k registrations at full speed: run alone (make test's serial pass)
pytestmark = pytest.mark.serial

TENANTS, DEVICES_PER_TENANT, CONTACTS_PER_DEVICE = 20, 100, 50     # 100,000 contacts
FIRST_TENANT = 93000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    # 100k contacts in usrloc need ~150 MB of shared memory
    e = Edge(tmp_path_factory.mktemp("big"), sip={"max_contacts": CONTACTS_PER_DEVICE,
                                                  "shm_mb": 512},
             ops={"registrations_every": 0.0})
    e.start()
    try:
        yield e
    finally:
        e.stop()


def _devices(edge: Edge) -> list[tuple[str, str]]:
    shape = loadkit.Shape(TENANTS, DEVICES_PER_TENANT, FIRST_TENANT)
    loadkit.provision(edge.cfg, shape)
    edge.wait_synced(timeout=60)
    out = []
    for t in shape.tenant_ids():
        for i in range(DEVICES_PER_TENANT):
            x = str(loadkit.FIRST_EXTENSION + i)
            out.append((default_auth_username(t, x),
                        loadkit.password(loadkit.DEFAULT_PATTERN, t, x)))
    return out


def _location_contacts(edge: Edge) -> int:
    for line in edge.rpc("stats.get_statistics", "all"):
        if line.startswith("usrloc:location_contacts"):
            return int(line.split("=")[1])
    return -1


def test_status_and_metrics_count_100k_contacts(big: Edge):
    devices = _devices(big)
    t0 = time.monotonic()
    phones = ("127.0.0.1", free_port())          # one address for all (and the unregister)
    codes = register_many(big.sip, devices, CONTACTS_PER_DEVICE, timeout=300, local=phones)
    took = time.monotonic() - t0
    assert codes == {200: len(devices)}, codes
    total = TENANTS * DEVICES_PER_TENANT * CONTACTS_PER_DEVICE
    assert _location_contacts(big) == total
    print(f"registered {total} contacts ({len(devices)} REGISTERs) in {took:.1f}s")

    t0 = time.monotonic()
    d = json.loads(big.ctl_ok("status", "--json", "--top", "1000"))
    status_took = time.monotonic() - t0
    assert not d["errors"], d["errors"]
    assert d["registered_contacts"] == total
    assert d["registered_devices"] == TENANTS * DEVICES_PER_TENANT
    mine = {x["tenant"]: x for x in d["top_tenants"]
            if int(x["tenant"]) >= FIRST_TENANT}
    assert len(mine) == TENANTS
    assert all(x["devices"] == DEVICES_PER_TENANT and
               x["contacts"] == DEVICES_PER_TENANT * CONTACTS_PER_DEVICE
               for x in mine.values()), mine
    text = big.ctl_ok("status")
    assert f"registered devices: {TENANTS * DEVICES_PER_TENANT} ({total} contacts)" in text

    t0 = time.monotonic()
    m = big.metrics()
    scrape_took = time.monotonic() - t0
    print(f"status {status_took:.2f}s, /metrics {scrape_took:.2f}s at {total} contacts")
    assert m[("edge_ops_scrape_errors", frozenset())] == 0
    node = frozenset({("node", big.cfg.node.name)})
    assert m[("kamailio_usrloc_location_contacts", node)] == total
    for t in mine:
        labels = frozenset({("tenant", t)})
        assert m[("edge_registered_contacts", labels)] == DEVICES_PER_TENANT * CONTACTS_PER_DEVICE
        assert m[("edge_registered_devices", labels)] == DEVICES_PER_TENANT

    # unregistering a device's 50 contacts shows (the count is written just
    # after the reply)
    assert register_many(big.sip, devices[:1], CONTACTS_PER_DEVICE, expires=0,
                         local=phones) == {200: 1}
    t = f"{FIRST_TENANT:05d}"
    wait_for(lambda: big.metric("edge_registered_contacts", tenant=t) ==
             (DEVICES_PER_TENANT - 1) * CONTACTS_PER_DEVICE, timeout=10,
             what="the unregistered contacts to stop counting")
    assert big.metric("edge_registered_devices", tenant=t) == DEVICES_PER_TENANT - 1
    assert _location_contacts(big) == total - CONTACTS_PER_DEVICE


def test_expired_contacts_stop_counting(big: Edge):
    t = big.new_tenant("expiring")
    au, pw = big.new_device(t, "7001")
    big.wait_synced()
    with SipClient(big.sip) as c:
        _, r = c.register(au, pw, expires=2)
        assert r is not None and r.code == 200
    wait_for(lambda: big.metric("edge_registered_contacts", tenant=t) == 1, timeout=10,
             what="the contact to count")
    assert big.metric("edge_registered_devices", tenant=t) == 1
    # no event needed: the contact's expiry time passes
    wait_for(lambda: big.metric("edge_registered_contacts", tenant=t) == 0, timeout=15,
             what="the expired contact to stop counting")
    assert big.metric("edge_registered_devices", tenant=t) == 0
