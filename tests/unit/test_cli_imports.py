"""edgectl's start-up cost: building the parser (every call does, `--help`
included) imports no command's heavy dependencies -- the API server's
(FastAPI, uvicorn, pydantic), the stores' drivers (psycopg, redis), the
password hashing (argon2), the legacy importer. Each handler imports what it
needs when it runs. Checked in a fresh interpreter: this process has them all
loaded already."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("fastapi", "uvicorn", "pydantic", "psycopg", "redis", "argon2",
         "edgectl.service", "edgectl.db", "edgectl.api", "edgectl.legacy.parse",
         "edgectl.legacy.store", "edgectl.legacy.verify")

PROBE = """
import json, sys
from edgectl import cli
cli.build_parser().parse_args(sys.argv[1:])
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_after(*argv: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize("argv", [
    ("device", "add", "00001", "7001", "--password", "secret-pw"),
    ("user", "add", "ops", "--password", "-", "--role", "provider_admin"),
    ("api", "run"),
    ("import", "list"),
    ("db", "migrate"),
])
def test_building_the_parser_imports_no_heavy_module(argv):
    assert loaded_after(*argv) == []
