"""edgecore.config: one source of settings, and Kamailio's defaults agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgecore import config
from edgectl.stack import kamailio_defines

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_override(tmp_path):
    p = tmp_path / "site.toml"
    p.write_text('[sip]\nudp_port = 5080\n[redis]\nsocket_timeout = 1\n[node]\naliases = ["x.example"]\n')
    cfg = config.load(p)
    assert cfg.sip.udp_port == 5080 and cfg.sip.tcp_port == 5060
    assert cfg.redis.socket_timeout == 1.0
    assert cfg.node.aliases == ["x.example"]


def test_env_var_names_the_file(tmp_path, monkeypatch):
    p = tmp_path / "e.toml"
    p.write_text('[auth]\nrealm = "other"\n')
    monkeypatch.setenv(config.ENV_VAR, str(p))
    assert config.load().auth.realm == "other"


@pytest.mark.parametrize("text,err", [
    ("[sip]\nudp_prot = 1\n", "unknown setting sip.udp_prot"),
    ("[sip]\nudp_port = \"x\"\n", "sip.udp_port must be int"),
    ("[sip]\nudp_port = true\n", "sip.udp_port must be int"),
    ("sip = 3\n", "sip must be a table"),
    ("[sip\n", "config file"),
    ("[sip]\nmemory_manager = \"dl\"\n", "sip.memory_manager must be one of tlsf, qm, fm"),
])
def test_bad_config_is_one_clear_error(tmp_path, text, err):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(config.ConfigError, match=re.escape(err)):
        config.load(p)


def test_missing_file():
    with pytest.raises(config.ConfigError, match="not found"):
        config.load("/nonexistent/edge.toml")


def test_dumps_round_trips():
    cfg = config.Config()
    cfg.node.aliases = ["a.example", 'q"uote']
    cfg.sip.udp_port = 5999
    again = config.from_dict(__import__("tomllib").loads(config.dumps(cfg)))
    assert again == cfg


def test_dumps_escapes_control_characters_and_quotes():
    """A string TOML forbids raw (control characters) or must escape (quotes,
    backslashes) is written so it reads back the same."""
    cfg = config.Config()
    cfg.node.domain = 'tab\there "q" back\\slash nul\x00 bell\x07 del\x7f\nnext'
    cfg.security.scanner_user_agents = ["esc\x1b[0m", "cr\rlf\n", "\u2028 sep", "'single'"]
    cfg.paths.run_dir = "C:\\run\\edge"
    again = config.from_dict(__import__("tomllib").loads(config.dumps(cfg)))
    assert again == cfg


def test_defines_quote_strings_only():
    d = kamailio_defines.kamailio_defines(config.Config())
    assert d["LISTEN_IP"] == "127.0.0.1" and d["UDP_PORT"] == "5060"
    assert d["EDGE_DOMAIN"] == '"edge.local"'
    cfg = config.Config()
    cfg.node.domain = 'bad"domain'
    with pytest.raises(config.ConfigError):
        kamailio_defines.kamailio_defines(cfg)


def test_kamailio_trydef_defaults_match_python_defaults():
    """kamailio/defaults.cfg and edgecore.config must not disagree: a node
    started by hand behaves like one started by the launcher (paths aside)."""
    trydefs = {}
    for line in (ROOT / "kamailio" / "defaults.cfg").read_text().splitlines():
        m = re.match(r"#!trydef\s+(\w+)\s+(.*)$", line.strip())
        if m:
            trydefs[m.group(1)] = m.group(2).strip()
    rendered = kamailio_defines.kamailio_defines(config.Config())
    paths = {"RPC_SOCKET", "CTL_SOCKET", "RPC_FIFO", "RPC_REPLY_DIR", "KEMI_SCRIPT", "TLS_CERT", "TLS_KEY",  # per deployment
             "CDR_DB_URL", "DS_LIST_FILE"}
    assert set(trydefs) == set(rendered) | set(kamailio_defines.SECRET_ENV)
    for name, value in rendered.items():
        if name not in paths:
            assert trydefs[name] == value, name
    assert trydefs["AUTH_SECRET"] == f'"{config.Auth().nonce_secret}"'


def test_secrets_are_never_defines_and_the_default_is_refused_off_loopback():
    """Issue 15 item 16: the nonce secret and the database URL are not on
    Kamailio's command line; the published secret is refused off loopback."""
    cfg = config.Config()
    cfg.postgres.dsn = "postgresql://edge:s3cret-db-pw@127.0.0.1:5432/edge"
    cfg.auth.nonce_secret = "a-very-private-nonce-secret"
    rendered = " ".join(kamailio_defines.kamailio_defines(cfg).values())
    assert "a-very-private-nonce-secret" not in rendered and "s3cret-db-pw" not in rendered
    assert kamailio_defines.kamailio_secrets(cfg) == {
        "EDGE_NONCE_SECRET": "a-very-private-nonce-secret"}
    assert kamailio_defines.kamailio_secrets(config.Config())   # loopback: the default is fine
    for published in (config.Auth().nonce_secret, "CHANGE-ME: a long random string"):
        cfg.sip.listen_ip, cfg.auth.nonce_secret = "0.0.0.0", published
        with pytest.raises(config.ConfigError, match="published default"):
            kamailio_defines.kamailio_secrets(cfg)
