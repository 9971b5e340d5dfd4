"""Route tests: the KEMI steps run against the generated KSR stub, whose
calls land in a recording double. `import KSR` resolves to kemi/stubs/KSR.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

STUBS = Path(__file__).resolve().parents[2] / "kemi" / "stubs"
if str(STUBS) not in sys.path:
    sys.path.insert(0, str(STUBS))

import KSR  # noqa: E402

from ksr_double import KsrDouble, install  # noqa: E402

install()          # kemi.ksrconst reads $def(...) at import time


@pytest.fixture
def ksr() -> Iterator[KsrDouble]:
    d = install()
    try:
        yield d
        assert not d.unprogrammed, f"unprogrammed KSR calls: {d.unprogrammed}"
    finally:
        KSR._install(None)
        install()
