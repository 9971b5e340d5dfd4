"""Registration on the live edge: provisioning changes take effect without a
restart, and replies reveal nothing about which identities exist."""

from __future__ import annotations

import time
from typing import Any

from harness.calls import ack_for
from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient, authorization, digest_params


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

        # the bound: registrable within a second (design: NOTIFY and
        # the follower's apply take milliseconds, plus one node poll)
        wait_for(registered, timeout=1.0, interval=0.02, what="live-added device registers")
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
    # nor over TLS, nor the HTTPS page and the WebSocket handshake of the WSS port
    for head in (_tls_options(edge), _https(edge, "GET / HTTP/1.1"),
                 _https(edge, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip")):
        low = head.lower()
        assert head.split(" ", 2)[1] in ("200", "101"), head
        assert "kamailio" not in low and "5.6" not in low and "\nserver:" not in low, head


def _tls_socket(edge: Edge, port: int) -> Any:
    import socket
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE     # the self-signed local cert
    return ctx.wrap_socket(socket.create_connection((edge.cfg.sip.listen_ip, port), timeout=5))


def _tls_options(edge: Edge) -> str:
    with _tls_socket(edge, edge.cfg.sip.tls_port) as s:
        me = s.getsockname()
        s.sendall((f"OPTIONS sip:{edge.cfg.sip.listen_ip}:{edge.cfg.sip.tls_port};transport=tls "
                   f"SIP/2.0\r\nVia: SIP/2.0/TLS {me[0]}:{me[1]};branch=z9hG4bKtls1;rport\r\n"
                   "From: <sip:p@x>;tag=1\r\nTo: <sip:p@x>\r\nCall-ID: tls-probe\r\n"
                   "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode())
        return s.recv(65535).decode(errors="replace").split("\r\n\r\n")[0]


def _https(edge: Edge, request: str) -> str:
    with _tls_socket(edge, edge.cfg.sip.wss_port) as s:
        s.sendall(f"{request}\r\nHost: {edge.cfg.sip.listen_ip}\r\n\r\n".encode())
        return s.recv(65535).decode(errors="replace").split("\r\n\r\n")[0]


def _fcalls(edge: Edge) -> int:
    """Redis function calls served so far (the read model's lookups and the
    security bookkeeping all go through FCALL)."""
    stats = edge.redis().info("commandstats")
    return int(stats.get("cmdstat_fcall", {}).get("calls", 0))


def test_at_most_one_redis_round_trip_per_request(edge: Edge):
    """A device's first registration costs no lookup (the node's device cache,
    filled by its timer process: kemi/nodecache.py), only -- after its 200,
    once per identity and address -- the trust write of the brute-force
    defence; a re-registration costs nothing; an INVITE its one lookup of
    caller, callee and policy."""
    t = edge.new_tenant("Trips")
    au, pw = edge.new_device(t, "7001")
    edge.new_device(t, "7002")
    edge.wait_synced()
    with SipClient(edge.sip) as c:
        before = _fcalls(edge)
        first, second = c.register(au, pw)             # 2 requests: 401, 200 (no lookup)
        assert first.code == 401 and second.code == 200
        wait_for(lambda: _fcalls(edge) - before == 1, timeout=2, what="the trust write")
        time.sleep(0.3)
        assert _fcalls(edge) - before == 1                # and nothing else
        # a worker's first exchange of this device may write the trust again
        # (the node notes it once its write is sent), every later one costs nothing
        deltas = []
        for _ in range(10):
            n = _fcalls(edge)
            assert c.register(au, pw)[1].code == 200
            wait_for(lambda: _fcalls(edge) - n in (0, 1), timeout=2, what="a whole exchange")
            deltas.append(_fcalls(edge) - n)
        assert set(deltas) <= {0, 1} and deltas.count(1) <= edge.cfg.sip.children - 1, deltas
        settled = _fcalls(edge)
        # an INVITE to a known callee that is not registered: 407, then the
        # call's one lookup (caller, callee, policy in one FCALL), then 480
        ruri, me = f"sip:7002@{edge.target}", f"sip:{au}@{edge.target}"
        invite = c.build("INVITE", ruri, me, ruri, contact=f"<sip:{au}@{c.local[0]}:{c.local[1]}>")
        challenge = c.request(invite)
        assert challenge.code == 407
        auth = authorization(challenge.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                             header="Proxy-Authorization")
        invite = c.build("INVITE", ruri, me, ruri, [auth],
                         contact=f"<sip:{au}@{c.local[0]}:{c.local[1]}>")
        assert c.request(invite).code == 480
        c.send_raw(ack_for(invite))                    # ends tm's retransmissions of the 480
    # its lookup, plus the trust write after it on a worker that had not yet
    # seen this identity from this address
    assert _fcalls(edge) - settled in (1, 2)


def test_a_restarted_node_registers_every_device_without_a_lookup(fresh_edge: Edge):
    """Ops restart a node: its timer fills the node's device cache from the
    read model before any device registers again (kemi/nodecache.py), so a
    first REGISTER costs no lookup -- only, written by the timer, the trust
    note of the brute-force defence (one per device) -- and a wrong password
    still fails."""
    e = fresh_edge
    t = e.new_tenant("Cold")
    devices = [e.new_device(t, ext) for ext in ("7001", "7002", "7003")]
    e.wait_synced()
    e.stack.kamailio.stop()
    e.stack.kamailio.start()
    e.wait_synced()                                   # ... and the device cache filled
    before = _fcalls(e)
    with SipClient(e.sip) as c:
        for au, pw in devices:
            assert c.register(au, pw)[1].code == 200
        assert c.register(devices[0][0], "wrong")[1].code != 200
    wait_for(lambda: _fcalls(e) - before >= 3, timeout=5, what="the trust notes")
    time.sleep(0.3)
    # 3 trust notes (and the failure's count, unless its source is exempt);
    # a lookup per device would make 6 or more
    assert _fcalls(e) - before in (3, 4)
