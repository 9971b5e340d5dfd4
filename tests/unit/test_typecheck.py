"""mypy over kemi/, edgecore/, edgectl/ and scripts/, with `import KSR`
resolved to the generated stub (pyproject: mypy_path = kemi/stubs): a KEMI
call with the wrong arity or argument type fails here, not in production."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_clean():
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_catches_a_wrong_ksr_call(tmp_path):
    bad = tmp_path / "bad_step.py"
    bad.write_text("import KSR\n\ndef step() -> int:\n    return KSR.auth.auth_challenge('r')\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                          str(ROOT / "pyproject.toml"), str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "auth_challenge" in out.stdout, out.stdout
