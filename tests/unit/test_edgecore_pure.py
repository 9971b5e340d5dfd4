"""edgecore is the pure core (issue 18): records, decisions and the config
schema. Whatever talks to Redis, PostgreSQL, DNS, the network or other
processes lives in edgestore/ (Redis) or the control plane (edgectl/). This
reads every edgecore module's imports -- at module level and inside
functions -- and fails on one that does I/O."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "edgecore"

# top-level modules whose import means I/O (network, resolver, databases,
# processes, shared files, metrics exporters), or a way around this check
IO_MODULES = frozenset({
    "redis", "hiredis", "psycopg", "psycopg_pool", "socket", "ssl", "select", "selectors",
    "asyncio", "mmap", "subprocess", "multiprocessing", "signal", "fcntl", "dns", "urllib",
    "http", "requests", "httpx", "uvicorn", "fastapi", "prometheus_client", "sqlite3",
    "shutil", "tempfile", "importlib", "edgestore", "edgectl", "kemi", "KSR",
})

# no exception: the KEMI workers' counters live in Kamailio's shared memory
# (edgecore/metrics.py names them, kemi/counters.py increments them)
ALLOWED: dict[str, set[str]] = {}


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__"):
            out.add("__import__")
    return out


def test_edgecore_imports_nothing_that_does_io():
    found = {}
    for path in sorted(CORE.glob("*.py")):
        bad = (imports(path) & (IO_MODULES | {"__import__"})) - ALLOWED.get(path.name, set())
        if bad:
            found[path.name] = sorted(bad)
    assert found == {}


def test_the_check_sees_imports_inside_functions(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("import json\n\ndef f():\n    from redis.exceptions import ResponseError\n"
                 "    import socket\n")
    assert imports(p) == {"json", "redis", "socket"}


def test_edgecore_holds_no_file_but_its_modules():
    """edge.lua (the Redis function library) is the store's."""
    assert {p.suffix for p in CORE.iterdir() if p.is_file()} == {".py"}
