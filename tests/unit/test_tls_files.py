"""The TLS/WSS listeners' certificate: production's [tls] certificate and
private_key are the files Kamailio is started with (no self-signed one made);
a missing or half-configured pair is one clear error before anything starts.
Through the real CLI (``edgectl node run kamailio --print``: prepare the node,
print its command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def node_command(tmp: Path, tls: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp / "edge.toml"
    cfg.write_text(f'[paths]\nrun_dir = "{tmp / "run"}"\n[node]\nfeatures = ["websocket"]\n'
                   f"[tls]\n{tls}")
    env = {k: v for k, v in os.environ.items() if k != "EDGE_CONFIG"}
    return subprocess.run([sys.executable, "-m", "edgectl", "--config", str(cfg), "node", "run",
                           "kamailio", "--print"], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)


def pair(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "prod" / "edge.example.crt", tmp / "prod" / "edge.example.key"
    cert.parent.mkdir()
    cert.write_text("-----BEGIN CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    return cert, key


def test_configured_files_are_the_listeners(tmp_path):
    cert, key = pair(tmp_path)
    out = node_command(tmp_path, f'certificate = "{cert}"\nprivate_key = "{key}"\n')
    assert out.returncode == 0, out.stderr
    args = out.stdout.split()
    assert f'TLS_CERT="{cert}"' in args and f'TLS_KEY="{key}"' in args
    assert not (tmp_path / "run" / "tls").exists()         # no self-signed one made


def test_without_tls_settings_a_self_signed_pair_is_made(tmp_path):
    out = node_command(tmp_path, "")
    assert out.returncode == 0, out.stderr
    made = tmp_path / "run" / "tls"
    assert f'TLS_CERT="{made / "edge.crt"}"' in out.stdout.split()
    assert (made / "edge.key").stat().st_mode & 0o077 == 0


def test_a_missing_file_is_one_clear_error(tmp_path):
    cert, key = pair(tmp_path)
    key.unlink()
    out = node_command(tmp_path, f'certificate = "{cert}"\nprivate_key = "{key}"\n')
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and f"TLS file not found: {key}" in out.stderr
    assert not (tmp_path / "run" / "tls").exists()


def test_half_a_pair_is_one_clear_error(tmp_path):
    cert, _ = pair(tmp_path)
    out = node_command(tmp_path, f'certificate = "{cert}"\n')
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1
    assert "[tls] certificate and private_key" in out.stderr, out.stderr
    assert not (tmp_path / "run" / "tls").exists()        # not silently self-signed
