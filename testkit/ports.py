"""Free loopback ports for private stacks (tests, benchmarks): free for both
UDP and TCP, and never handed out twice by one process, so two private
stacks, or two nodes of one, never pick the same port."""

from __future__ import annotations

from edgectl.stack.topology import NODE_PORT_STEP

# ports this process handed out (with their node copies): never handed out
# again, so two private stacks, or two nodes of one, never pick the same one
_HANDED_OUT: set[int] = set()
# node ports of a private cluster (edgectl stack up --nodes, at most this many)
MAX_LOCAL_NODES = 3


def _bindable(host: str, port: int) -> bool:
    import socket

    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind((host, port))
        u.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        t.close()
        u.close()


def worker_share() -> tuple[int, int]:
    """(this pytest-xdist worker's index, number of workers); (0, 1) outside
    xdist. The workers hand out ports from disjoint blocks of 100, so one
    never picks a port another picked and has not bound yet."""
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:]
    return int(worker or 0), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def free_port(host: str = "127.0.0.1", kind: int = 0, nodes: int = 1, following: int = 0) -> int:
    """An ephemeral port free for both UDP and TCP on host; ``nodes`` > 1:
    so are the ports the further nodes of a local cluster listen on (the
    port + NODE_PORT_STEP * k); ``following``: so are that many ports after
    it (a program that binds port + 1 by itself); and none of them was
    handed out before (by this process, or by another pytest-xdist worker:
    worker_share)."""
    import socket

    worker, workers = worker_share()
    for _ in range(400):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind((host, 0))
        port = int(t.getsockname()[1])
        t.close()
        span = [port + NODE_PORT_STEP * k for k in range(nodes)]
        span += [port + k for k in range(1, following + 1)]
        if any(p in _HANDED_OUT or p > 65535 or (p // 100) % workers != worker for p in span):
            continue
        if all(_bindable(host, p) for p in span):
            _HANDED_OUT.update(span)
            return port
    raise RuntimeError("no free port")
