"""Redis unreachable mid-run: every credentialed request is answered 503 with
Retry-After -- never an authenticated pass, never a dead or stuck worker --
and service resumes by itself when Redis is back."""

from __future__ import annotations

import os
import signal

from testkit.edge import Edge, wait_for
from testkit.sipmsg import SipClient, authorization


def _register(edge: Edge, au: str, pw: str) -> int:
    with SipClient(edge.sip, timeout=3) as c:
        first, second = c.register(au, pw)
        r = second or first
        assert r is not None, "no reply at all"
        if r.code == 503:
            assert r.header("retry-after") == str(edge.cfg.redis.retry_after)
        return r.code


def test_redis_down_then_back(fresh_edge: Edge):
    e = fresh_edge
    t = e.new_tenant("Outage")
    au, pw = e.new_device(t, "7001")
    e.wait_synced()
    pids = e.kamailio_pids()
    assert _register(e, au, pw) == 200            # now also in the workers' caches

    e.stack.redis.stop()
    # until the node's poller notices (one cache.poll_ms), a worker may still
    # check a cached HA1; from then on the workers trust no cache: the known
    # (cached) device, an unknown identity, a wrong password all get 503
    wait_for(lambda: e.node_model_version() == -1, timeout=3, what="the node to see Redis down")
    for _ in range(10):
        assert _register(e, au, pw) == 503
        assert _register(e, f"{t}7999", "whatever-pw") == 503
        assert _register(e, au, "wrong-password") == 503
    # a call too: challenged as always, then 503 -- never relayed on a guess
    with SipClient(e.sip, timeout=3) as c:
        ruri = f"sip:7002@{e.target}"
        r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri))
        assert r is not None and r.code == 407
        auth = authorization(r.header("proxy-authenticate") or "", "INVITE", ruri, au, pw,
                             header="Proxy-Authorization")
        r = c.request(c.build("INVITE", ruri, f"sip:{au}@x", ruri, [auth]))
        assert r is not None and r.code == 503
        assert r.header("retry-after") == str(e.cfg.redis.retry_after)
    assert e.kamailio_pids() == pids
    # the operator's rebuild is refused with one line, not a traceback
    out = e.ctl("sync")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "cannot reach Redis at redis://" in out.stderr, out.stderr

    e.stack.redis.start()                          # same port, data saved on shutdown
    wait_for(lambda: _register(e, au, pw) == 200, timeout=5, what="service back")
    assert e.kamailio_pids() == pids
    assert "unexpected error" not in e.log()


def test_redis_hung_is_bounded(fresh_edge: Edge):
    """A Redis that accepts nothing (SIGSTOP) costs a request at most the
    configured socket timeouts, then 503; workers do not pile up."""
    e = fresh_edge
    t = e.new_tenant("Hung")
    au, pw = e.new_device(t, "7001")
    e.wait_synced()
    pid = e.stack.redis.pid
    assert pid
    os.kill(pid, signal.SIGSTOP)
    try:
        codes = [_register(e, f"{t}70{i:02d}", "pw-unknown-x") for i in range(5)]
        assert set(codes) == {503}
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: _register(e, au, pw) == 200, timeout=5, what="service back")


def test_redis_back_empty_is_rebuilt_and_serves(fresh_edge: Edge):
    e = fresh_edge
    t = e.new_tenant("Lost")
    au, pw = e.new_device(t, "7001")
    e.wait_synced()
    e.stack.redis.kill()                            # crash: nothing saved
    for f in (e.cfg.run_dir / "redis").glob("*.rdb"):
        f.unlink()
    assert _register(e, au, pw) == 503
    e.stack.redis.start()
    # the sync follower notices the empty Redis and rebuilds the model
    wait_for(lambda: _register(e, au, pw) == 200, timeout=10, what="model rebuilt")
