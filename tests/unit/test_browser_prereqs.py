"""The browser tests fail (never skip) without their tools: what
harness.browser.missing_tools reports."""

from __future__ import annotations

import os
from pathlib import Path

from harness import browser


def webphone(tmp: Path, bundle: bool = True, playwright: bool = True) -> Path:
    (tmp / "src").mkdir(parents=True)
    (tmp / "src" / "app.js").write_text("// source\n")
    if playwright:
        (tmp / "node_modules" / "playwright-core").mkdir(parents=True)
        (tmp / "node_modules" / "playwright-core" / "package.json").write_text("{}")
    if bundle:
        (tmp / "public").mkdir()
        (tmp / "public" / "app.js").write_text("// bundle\n")
    return tmp


def test_nothing_missing_on_a_bootstrapped_host(tmp_path, monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: f"/usr/bin/{name}")
    chromium = tmp_path / "chromium"
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    assert browser.missing_tools(str(chromium), webphone(tmp_path / "w")) == []


def test_each_missing_tool_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: None)
    out = browser.missing_tools(str(tmp_path / "no-chromium"),
                                webphone(tmp_path / "w", bundle=False, playwright=False))
    assert [m.split(" ")[0] for m in out] == ["chromium", "node", "playwright-core", "the"]
    assert "webphone/public/app.js" in out[-1].replace(str(tmp_path / "w"), "webphone")


def test_a_bundle_older_than_its_source_is_stale(tmp_path, monkeypatch):
    monkeypatch.setattr(browser.shutil, "which", lambda name: f"/usr/bin/{name}")
    w = webphone(tmp_path / "w")
    os.utime(w / "public" / "app.js", (1, 1))
    chromium = tmp_path / "chromium"
    chromium.write_text("")
    chromium.chmod(0o755)
    (out,) = browser.missing_tools(str(chromium), w)
    assert out.startswith("an up-to-date web phone bundle")
