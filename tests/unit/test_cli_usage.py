"""edgectl argument errors: one line on stderr, exit 2, before any I/O."""

from __future__ import annotations

import pytest

from edgectl import cli


@pytest.mark.parametrize("argv", [
    ["tenant", "add", "00003"],                       # --name missing
    ["range", "add", "00003", "7000"],                # LAST missing
    ["device", "add", "00003", "7001"],               # no credential
    ["device", "add", "00003", "7001", "--password", "x", "--ha1", "y"],
    ["frobnicate"],
    ["tenant", "add", "00003", "--name", "x", "--max-calls", "many"],
])
def test_usage_errors_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgectl") and "error:" in err


def test_help_for_every_command(capsys):
    parser = cli.build_parser()
    groups = parser._subparsers._group_actions[0].choices     # type: ignore[union-attr]
    seen = 0
    for name, sub in groups.items():
        actions = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for action in (actions[0].choices if actions else {None: sub}):
            argv = [name] + ([action] if action else []) + ["--help"]
            with pytest.raises(SystemExit) as exc:
                cli.main(argv)
            assert exc.value.code == 0
            assert "usage: edgectl" in capsys.readouterr().out
            seen += 1
    assert seen >= 20


def test_bad_config_file_is_one_line(tmp_path, capsys):
    p = tmp_path / "c.toml"
    p.write_text("[sip]\nport = 1\n")
    assert cli.main(["--config", str(p), "tenant", "list"]) == 1
    err = capsys.readouterr().err
    assert err == "edgectl: error: unknown setting sip.port\n"
