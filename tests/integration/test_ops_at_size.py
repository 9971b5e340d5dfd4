"""`edgectl status` and `/metrics` with 100,000 registered contacts: counted
from usrloc's statistics and the per-tenant counts the registrar step keeps
(edgestore.regcount), never from ``ul.dump`` -- which stops fitting a
JSON-RPC reply after a few thousand contacts (status said 0 registered and
every scrape lost the registration gauges). The API's registrations listing
at the same size: one tenant's contacts, paged, from the per-tenant data the
registrar step keeps (edgestore.regcount), never another tenant's."""

from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from edgectl import loadkit
from edgectl.provision import default_auth_username
from harness.adminapi import is_problem, login, new_user
from harness.bulkreg import register_many
from testkit.edge import Edge, wait_for
from testkit.ports import free_port
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
             ops={"registrations_every": 0.0},
             api={"serve": True, "logins_per_minute": 1000})
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


@pytest.fixture(scope="module")
def registered(big: Edge) -> tuple[list[tuple[str, str]], tuple[str, int]]:
    """The 100,000 contacts: (devices, the phones' one address)."""
    devices = _devices(big)
    t0 = time.monotonic()
    phones = ("127.0.0.1", free_port())          # one address for all (and the unregister)
    codes = register_many(big.sip, devices, CONTACTS_PER_DEVICE, timeout=300, local=phones)
    took = time.monotonic() - t0
    assert codes == {200: len(devices)}, codes
    total = TENANTS * DEVICES_PER_TENANT * CONTACTS_PER_DEVICE
    assert _location_contacts(big) == total
    print(f"registered {total} contacts ({len(devices)} REGISTERs) in {took:.1f}s")
    return devices, phones


def test_a_tenant_admin_lists_its_registrations_paged_at_size(
        big: Edge, registered: tuple[list[tuple[str, str]], tuple[str, int]]):
    _, (host, port) = registered
    a, b = f"{FIRST_TENANT + 1:05d}", f"{FIRST_TENANT + 2:05d}"
    mine = DEVICES_PER_TENANT * CONTACTS_PER_DEVICE
    name, pw, _ = new_user(big, "tenant_admin", a)
    with login(big, name, pw) as ta:
        items, pages, t0 = [], [], time.monotonic()
        while True:
            t1 = time.monotonic()
            page = ta.get("/registrations", params={"limit": 500, "offset": len(items)})
            pages.append(time.monotonic() - t1)
            assert page.status_code == 200, page.text
            got = page.json()
            assert got["total"] == mine and got["offset"] == len(items)
            if not got["items"]:
                break
            items += got["items"]
        print(f"{mine} contacts of one tenant listed in {len(pages)} pages of 500 in "
              f"{time.monotonic() - t0:.2f}s (slowest page {max(pages) * 1000:.0f} ms) with "
              f"{TENANTS * mine} contacts on the node")
        assert len(items) == mine and {i["tenant"] for i in items} == {a}
        exts = sorted({i["extension"] for i in items})
        assert len(exts) == DEVICES_PER_TENANT
        assert [i["extension"] for i in items] == sorted(i["extension"] for i in items)
        by_ext: dict[str, set[str]] = {}
        for i in items:
            by_ext.setdefault(i["extension"], set()).add(i["contact"])
            assert i["transport"] == "udp" and 0 < i["expires"] <= 600, i
        user = default_auth_username(a, exts[0])
        assert by_ext[exts[0]] == {f"sip:{user}-{k}@{host}:{port};transport=udp"
                                   for k in range(CONTACTS_PER_DEVICE)}
        assert all(len(v) == CONTACTS_PER_DEVICE for v in by_ext.values())
        # what usrloc holds for that device, field for field
        held = big.rpc("ul.lookup", "location", f"{exts[0]}@{a}")["Contacts"]
        held = {c["Contact"]["Address"]: c["Contact"] for c in held}
        for i in items[:CONTACTS_PER_DEVICE]:
            ct = held[i["contact"]]
            for field, shown in (("User-Agent", "user_agent"), ("Received", "received")):
                assert i[shown] == (None if ct.get(field) in (None, "", "[not set]")
                                    else ct[field]), (i, ct)
        # a filter by extension, and the tenant's devices online at a glance
        one = ta.get("/registrations", params={"q": exts[0], "limit": 500}).json()
        assert one["total"] == CONTACTS_PER_DEVICE
        assert ta.get(f"/tenants/{a}/overview").json()["devices_online"] == DEVICES_PER_TENANT
    # another tenant's admin sees none of them, and cannot ask for them
    name, pw, _ = new_user(big, "tenant_admin", b)
    with login(big, name, pw) as tb:
        is_problem(tb.get("/registrations", params={"tenant": a}), 404)
        theirs = tb.get("/registrations", params={"limit": 500}).json()
        assert theirs["total"] == mine and {i["tenant"] for i in theirs["items"]} == {b}
        assert not {i["contact"] for i in theirs["items"]} & {i["contact"] for i in items}


def test_status_and_metrics_count_100k_contacts(
        big: Edge, registered: tuple[list[tuple[str, str]], tuple[str, int]]):
    devices, phones = registered
    total = TENANTS * DEVICES_PER_TENANT * CONTACTS_PER_DEVICE

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
