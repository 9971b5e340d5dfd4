"""Test layers: tests/unit (pure), tests/route (KEMI steps against the KSR
stub), tests/integration (real daemons on ephemeral loopback ports)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
