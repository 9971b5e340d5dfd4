"""edgectl.logs: size-based rotation of logs whose writers never reopen them
(copy, then empty in place), and the [log] settings."""

from __future__ import annotations

import os

import pytest

from edgecore import config as edgeconfig
from edgectl import logs


def test_a_log_under_its_size_is_left_alone(tmp_path):
    p = tmp_path / "kamailio-edge1.log"
    p.write_bytes(b"x" * 100)
    assert not logs.rotate(p, 100, 3)
    assert p.read_bytes() == b"x" * 100 and not logs.rotated(p, 1).exists()
    assert not logs.rotate(tmp_path / "absent.log", 100, 3)


def test_rotation_keeps_the_newest_copies_and_the_writer_writes_on(tmp_path):
    p = tmp_path / "rtpengine.log"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND)     # as the launcher opens it
    try:
        for gen in range(4):
            os.write(fd, f"gen{gen} ".encode() * 50)
            assert logs.rotate(p, 100, 2)
            assert p.stat().st_size == 0
            assert logs.rotated(p, 1).read_bytes() == f"gen{gen} ".encode() * 50
        assert logs.rotated(p, 2).read_bytes().startswith(b"gen2 ")
        assert not logs.rotated(p, 3).exists()                  # keep = 2
        os.write(fd, b"after\n")                                # same descriptor, no hole
        assert p.read_bytes() == b"after\n"
    finally:
        os.close(fd)


def test_keep_zero_drops_the_content(tmp_path):
    p = tmp_path / "redis.log"
    p.write_bytes(b"y" * 5000)
    assert logs.rotate(p, 4096, 0)
    assert p.stat().st_size == 0 and not logs.rotated(p, 1).exists()


def test_rotate_all_takes_every_log_of_the_run_dir(tmp_path):
    cfg = edgeconfig.Config()
    cfg.paths.run_dir = str(tmp_path)
    cfg.log.max_bytes, cfg.log.keep = 4096, 1
    d = logs.log_dir(cfg)
    d.mkdir()
    (d / "big.log").write_bytes(b"z" * 5000)
    (d / "small.log").write_bytes(b"z" * 10)
    assert logs.rotate_all(cfg) == [d / "big.log"]


@pytest.mark.parametrize("bad", [{"max_bytes": 10}, {"keep": -1}, {"check_every": 0},
                                 {"rtpengine_level": 9}])
def test_bad_log_settings_are_refused(bad):
    with pytest.raises(edgeconfig.ConfigError, match="log."):
        edgeconfig.from_dict({"log": bad})


def test_rtpengine_gets_the_configured_level():
    from edgectl.stack import Rtpengine

    cfg = edgeconfig.Config()
    assert "--log-level=4" in Rtpengine(cfg).command()          # no per-call notices
    cfg.log.rtpengine_level = 5
    assert "--log-level=5" in Rtpengine(cfg).command()


def test_a_daemon_started_again_starts_a_log_past_its_size_afresh(tmp_path):
    from edgectl.stack import Service

    cfg = edgeconfig.Config()
    cfg.paths.run_dir = str(tmp_path)
    cfg.log.max_bytes, cfg.log.keep = 4096, 1

    class Echo(Service):
        def command(self) -> list[str]:
            return ["sh", "-c", "echo started; exec sleep 30"]

        def ready(self) -> bool:
            return b"started" in self.log_path.read_bytes()

    svc = Echo(cfg, "echo", "sleep")
    svc.log_path.parent.mkdir(parents=True)
    svc.log_path.write_bytes(b"old\n" * 2000)
    svc.start()
    try:
        assert svc.log_path.read_bytes() == b"started\n"
        assert logs.rotated(svc.log_path, 1).read_bytes() == b"old\n" * 2000
    finally:
        svc.stop()
