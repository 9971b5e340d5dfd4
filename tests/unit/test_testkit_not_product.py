"""The test kit (testkit/) is shared by tests/ and loadtest/ and is not part
of the product: nothing the edge runs imports it, and the helpers that left
the product for it (free_port, ephemeral_config, scratch_redis) are gone
from the launcher."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("edgecore", "edgestore", "edgectl", "kemi")
IMPORTS_KIT = re.compile(r"^\s*(?:from|import)\s+testkit\b", re.M)


def test_no_product_module_imports_the_test_kit():
    found = [str(p.relative_to(ROOT)) for pkg in PRODUCT for p in sorted((ROOT / pkg).rglob("*.py"))
             if IMPORTS_KIT.search(p.read_text())]
    assert found == []


def test_the_launcher_has_no_test_helpers():
    import edgectl.stack as stack

    for name in ("free_port", "ephemeral_config", "scratch_redis", "wait_synced"):
        assert not hasattr(stack, name), name
        assert not hasattr(stack.Stack, name), name
