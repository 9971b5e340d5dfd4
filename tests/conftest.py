"""Test layers: tests/unit (pure), tests/route (KEMI steps against the KSR
stub), tests/integration (real daemons on ephemeral loopback ports)."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# The suite starts hundreds of Python processes: each `edgectl` a test runs
# as an operator would, the stacks' sync, ops and API daemons, Kamailio's
# embedded interpreter. With PYTHONDONTWRITEBYTECODE set (as it is on the
# machines the suite runs on) every one of them compiled the project's
# modules again, about 0.1 s of CPU each. They keep the bytecode instead, in
# a cache outside the source tree (PYTHONPYCACHEPREFIX; Python checks each
# entry against its source's mtime, so a stale one is never used).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
    os.environ.setdefault("PYTHONPYCACHEPREFIX",
                          os.path.join(tempfile.gettempdir(), f"sipedge-pycache-{os.getuid()}"))
