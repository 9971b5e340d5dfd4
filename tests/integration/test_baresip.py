"""A real phone (baresip) registers through the edge with digest auth, and
unregisters when it shuts down."""

from __future__ import annotations

from harness.baresip import Baresip
from testkit.edge import Edge, wait_for


def test_baresip_registers_and_unregisters(edge: Edge):
    t = edge.new_tenant("Baresip")
    au, pw = edge.new_device(t, "7001")
    edge.wait_synced()
    phone = Baresip(edge.sip, au, pw)
    try:
        wait_for(lambda: edge.contacts(t, "7001"), timeout=10, what="baresip registered")
        (c,) = edge.contacts(t, "7001")
        assert "baresip" in c["User-Agent"].lower()
        assert f":{phone.port}" in c["Address"]
        wait_for(lambda: "200 OK" in phone.output(), what="baresip saw 200")
        phone.stop()                                  # sends REGISTER Expires: 0
        wait_for(lambda: not edge.contacts(t, "7001"), timeout=5, what="unregistered")
    finally:
        phone.close()


def test_baresip_wrong_password_is_not_registered(edge: Edge):
    t = edge.new_tenant("BaresipBad")
    au, _ = edge.new_device(t, "7001")
    edge.wait_synced()
    with Baresip(edge.sip, au, "not-the-password") as phone:
        wait_for(lambda: "401" in phone.output() or "Unauthorized" in phone.output()
                 or "failed" in phone.output().lower(), timeout=10, what="baresip refused")
        assert not edge.contacts(t, "7001")
