"""Registration on the live edge: provisioning changes take effect without a
restart, and replies reveal nothing about which identities exist."""

from __future__ import annotations

import time

from harness.edge import Edge, wait_for
from harness.sipmsg import SipClient, digest_params


def test_device_added_live_registers_without_restart(edge: Edge):
    t = edge.new_tenant("Live")
    pids = edge.kamailio_pids()
    au, pw = f"{t}7001", "live-added-password"
    with SipClient(edge.sip) as c:
        _, second = c.register(au, pw)
        assert second is not None and second.code == 401      # not provisioned yet
        edge.ctl_ok("device", "add", t, "7001", "--password", pw)
        added = time.monotonic()

        def registered() -> bool:
            _, r = c.register(au, pw)
            return r is not None and r.code == 200

        # design bound: NOTIFY (ms) + follower apply (ms) + node poll (100 ms here)
        wait_for(registered, timeout=2.0, interval=0.02, what="live-added device registers")
        latency = time.monotonic() - added
    print(f"device registrable {latency * 1000:.0f} ms after `edgectl device add` returned")
    assert edge.contacts(t, "7001")
    assert edge.kamailio_pids() == pids, "Kamailio was restarted or lost a worker"


def test_password_change_and_removal_apply_live(edge: Edge):
    t = edge.new_tenant("Change")
    au, old = edge.new_device(t, "7001", "the-old-password")
    edge.wait_synced()
    with SipClient(edge.sip) as c:
        assert c.register(au, old)[1].code == 200
        edge.ctl_ok("device", "passwd", t, "7001", "--password", "the-new-password")
        edge.wait_synced()
        assert c.register(au, old)[1].code == 401
        assert c.register(au, "the-new-password")[1].code == 200
        edge.ctl_ok("device", "remove", t, "7001")
        edge.wait_synced()
        assert c.register(au, "the-new-password")[1].code == 401


def _challenge(edge: Edge, user: str, password: str | None) -> tuple[int, dict[str, str], int]:
    with SipClient(edge.sip) as c:
        first, second = c.register(user, password)
        assert first is not None
        final = second or first
        p = digest_params(final.header("www-authenticate") or "Digest x=y")
        p.pop("nonce", None)
        return final.code, p, len(final.raw)


def test_unknown_user_gets_exactly_the_wrong_password_challenge(edge: Edge):
    t = edge.new_tenant("Enum")
    au, _ = edge.new_device(t, "7001")
    edge.wait_synced()
    known = _challenge(edge, au, "wrong-password-1")
    unknown = _challenge(edge, f"{t}7999", "wrong-password-1")
    first_known = _challenge(edge, au, None)
    first_unknown = _challenge(edge, f"{t}7999", None)
    assert known[0] == unknown[0] == 401
    assert known[1] == unknown[1] == first_known[1] == first_unknown[1]
    assert known[1]["realm"] == edge.cfg.auth.realm and known[1]["qop"] == "auth"


def test_replies_do_not_name_the_software(edge: Edge):
    with SipClient(edge.sip) as c:
        r = c.request(c.build("OPTIONS", f"sip:{edge.target}", "sip:probe@x", "sip:probe@x"))
    assert r is not None and r.code == 200
    raw = r.raw.lower()
    assert "kamailio" not in raw and "5.6" not in raw
    assert r.header("server") is None
