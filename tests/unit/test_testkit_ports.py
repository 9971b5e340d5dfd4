"""Under pytest-xdist the workers' private stacks pick ports from disjoint
blocks: a port one worker picked and has not bound yet (a stack starts
seconds after its config is made) is never picked by the other."""

from __future__ import annotations

from testkit import ports


def test_each_worker_picks_ports_from_its_own_blocks(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    picked = {}
    for worker in (0, 1):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw{worker}")
        picked[worker] = [ports.free_port(nodes=ports.MAX_LOCAL_NODES) for _ in range(20)]
        spans = [p + ports.NODE_PORT_STEP * k for p in picked[worker]
                 for k in range(ports.MAX_LOCAL_NODES)]
        assert {(p // 100) % 2 for p in spans} == {worker}
    assert not set(picked[0]) & set(picked[1])


def test_outside_xdist_every_block_is_used(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert ports.worker_share() == (0, 1)
    assert {(ports.free_port() // 100) % 2 for _ in range(60)} == {0, 1}


def test_following_ports_are_free_and_never_handed_out_again():
    """A program that binds port + 1 by itself (baresip's SIP/TLS transport)."""
    import socket

    for _ in range(20):
        p = ports.free_port(following=1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", p + 1))          # free when handed out
        s.close()
        assert p + 1 in ports._HANDED_OUT and p not in {ports.free_port() for _ in range(5)}
