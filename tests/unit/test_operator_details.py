"""What a new operator meets first: the `make up` banner (web phone, secure
ports, cross-tenant dialling, edgectl on PATH) and `make status` on a stack
that is not running (a plain answer, exit 0 -- not a make error)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from edgecore.config import Config
from edgectl import banner

ROOT = Path(__file__).resolve().parents[2]


def test_banner_names_the_web_phone_the_secure_ports_and_cross_tenant_dialling():
    cfg = Config()
    text = "\n".join(banner.lines(cfg, Path("/srv/edge")))
    s = cfg.sip
    assert f"https://{s.listen_ip}:{s.wss_port}/" in text
    assert f"{s.listen_ip}:{s.tls_port}" in text and f"wss://{s.listen_ip}:{s.wss_port}/ws" in text
    assert "TENANT*EXT (00004*7001)" in text
    assert ". /srv/edge/.venv/bin/activate" in text


def test_banner_without_browsers_names_no_web_phone():
    cfg = Config()
    cfg.node.features = [f for f in cfg.node.features if f != "websocket"]
    text = "\n".join(banner.lines(cfg))
    assert "https://" not in text and "wss://" not in text and "TENANT*EXT" in text


def test_make_status_of_a_stopped_stack_is_not_a_make_error(tmp_path):
    conf = tmp_path / "edge.toml"
    conf.write_text(f'[paths]\nrun_dir = "{tmp_path / "run"}"\n')
    out = subprocess.run(["make", "-s", "status"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "EDGE_CONFIG": str(conf)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "not running" and "Error" not in out.stderr
