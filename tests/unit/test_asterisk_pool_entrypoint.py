"""asterisk-pool/: the member's trust and its entrypoint, checked without an
Asterisk (not packaged for Debian 12): PJSIP trusts the edge by network only,
the CDR columns exist, the entrypoint is valid shell, renders a member outside
the image with its own system name, owns its state directories and passes
values to psql as variables."""

from __future__ import annotations

import grp
import os
import pwd
import re
import subprocess

import pytest

from harness.asterisk_conf import ETC, ROOT, dialplan, parse


def test_pjsip_trusts_only_the_edge():
    sections = parse(ETC / "pjsip.conf")
    types = {(name, dict(body).get("type")) for name, body in sections}
    assert ("edge", "endpoint") in types and ("edge", "identify") in types
    assert ("edge", "aor") in types and ("transport-udp", "transport") in types
    endpoint = next(dict(b) for n, b in sections if n == "edge" and dict(b)["type"] ==
                    "endpoint")
    assert endpoint["context"] in dialplan()
    assert "auth" not in endpoint and "outbound_auth" not in endpoint
    assert not any(name == "anonymous" for name, _ in sections)
    identify = next(dict(b) for n, b in sections if n == "edge" and dict(b)["type"] ==
                    "identify")
    assert identify["match"] == "@EDGE_NETWORKS@"
    # anything else is refused before identification: deny all, then permit
    (acl,) = [b for _, b in sections if dict(b)["type"] == "acl"]
    assert [(k, v) for k, v in acl if k in ("deny", "permit")] == [
        ("deny", "0.0.0.0/0.0.0.0"), ("permit", "@EDGE_NETWORKS@")]


@pytest.mark.parametrize("value,ok", [
    ("172.30.0.0/24", True),
    ("10.0.0.5,10.0.1.0/24", True),
    ("fd00:30::/64", True),
    ("edge", False),                 # resolved once at load: later nodes refused
    ("172.30.0.0/24,edge", False),
    ("", False),
])
def test_entrypoint_trusts_networks_never_names(value, ok):
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    out = subprocess.run(["bash", "-c", 'source "$0"; check_networks "$1"', str(script), value],
                         capture_output=True, text=True, timeout=10)
    assert (out.returncode == 0) is ok, out.stderr
    assert len(out.stderr.splitlines()) == (0 if ok else 1)


def test_cdr_columns_exist():
    cols = set(re.findall(r"^\s+([a-z_]+)\s+\w", (ROOT / "sql" / "migrations" /
                                                 "0003_asterisk_cdr.sql").read_text(), re.M))
    cols |= set(re.findall(r"ADD COLUMN ([a-z_]+)", (ROOT / "sql" / "migrations" /
                                                    "0006_call_view.sql").read_text()))
    cols |= set(re.findall(r"ADD COLUMN ([a-z_]+)", (ROOT / "sql" / "migrations" /
                                                    "0009_asterisk_call_key.sql").read_text()))
    set_in_dialplan = set(re.findall(r"CDR\(([a-z_]+)\)", (ETC / "extensions.conf")
                                     .read_text()))
    assert set_in_dialplan <= cols
    assert {"tenant", "accountcode", "uniqueid", "disposition", "billsec"} <= cols
    conf = dict(parse(ETC / "cdr_pgsql.conf")[0][1])
    assert conf["table"] == "asterisk_cdr"


def test_the_edge_contact_port_is_a_variable():
    aor = next(dict(b) for n, b in parse(ETC / "pjsip.conf")
               if n == "edge" and dict(b)["type"] == "aor")
    assert aor["contact"] == "sip:@EDGE_HOST@:@EDGE_PORT@"
    transport = next(dict(b) for n, b in parse(ETC / "pjsip.conf") if n == "transport-udp")
    assert transport["bind"] == "@POOL_BIND@:@POOL_PORT@"


def test_entrypoint_renders_a_member_outside_the_image(tmp_path):
    """A plain host, not root's /etc/asterisk: the configuration and an
    asterisk.conf naming its directories land in AST_ETC_DIR, every
    placeholder filled, the edge's port as given."""
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    etc = tmp_path / "m1" / "etc"
    env = {"PATH": "/usr/bin:/bin", "AST_ETC_DIR": str(etc), "EDGE_HOST": "127.0.0.1",
           **ME, "EDGE_PORT": "5999", "EDGE_NETWORKS": "127.0.0.0/8", "POOL_BIND": "127.0.0.31",
           "POOL_PORT": "5061"}
    out = subprocess.run(["bash", "-c", 'source "$0"; mkdir -p "$AST_ETC_DIR"; '
                          'for f in "$TEMPLATES"/*.conf; do render "$f"; done; ast_conf',
                          str(script)], env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    rendered = {p.name: p.read_text() for p in etc.glob("*.conf")}
    assert set(rendered) == {p.name for p in ETC.glob("*.conf")} | {"asterisk.conf"}
    assert not any("@" in re.sub(r";.*", "", t).replace("@EDGE", "") and
                   re.search(r"@[A-Z_]+@", t) for t in rendered.values())
    assert "contact = sip:127.0.0.1:5999" in rendered["pjsip.conf"]
    assert "bind = 127.0.0.31:5061" in rendered["pjsip.conf"]
    conf = dict(dict(parse(etc / "asterisk.conf"))["directories"])
    assert conf["astetcdir"] == str(etc)
    assert conf["astrundir"] == str(tmp_path / "m1" / "state" / "run")
    assert (tmp_path / "m1" / "state" / "run").is_dir()


def test_entrypoint_is_valid_shell_and_joins_and_drains():
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "INSERT INTO pool_members" in text and "ON CONFLICT (uri)" in text
    assert "state = 'draining'" in text and "core stop when convenient" in text
    # every placeholder of the config files is rendered
    placeholders = set(re.findall(r"@([A-Z_]+)@", "".join(
        p.read_text() for p in ETC.glob("*.conf"))))
    assert placeholders <= set(re.findall(r"@([A-Z_]+)@", text))


# the account a rendering test's member runs as (as root, the state is chowned)
ME = {"AST_USER": pwd.getpwuid(os.geteuid()).pw_name,
      "AST_GROUP": grp.getgrgid(os.getegid()).gr_name}


def render_member(tmp_path, **extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    etc = tmp_path / "m1" / "etc"
    env = {"PATH": "/usr/bin:/bin", "AST_ETC_DIR": str(etc), "EDGE_HOST": "127.0.0.1",
           "EDGE_NETWORKS": "127.0.0.0/8", "POOL_BIND": "127.0.0.31", "POOL_PORT": "5061",
           **ME, **extra}
    out = subprocess.run(["bash", "-c", 'source "$0"; mkdir -p "$AST_ETC_DIR"; ast_conf',
                          str(script)], env=env, capture_output=True, text=True, timeout=10)
    return out, etc


def test_each_member_names_its_system_so_call_ids_never_collide(tmp_path):
    """UNIQUEID/LINKEDID are <epoch>.<counter> per instance unless asterisk.conf
    sets systemname: two members' calls shared ids (asterisk_call grouped them)."""
    names = set()
    for address in ("127.0.0.31", "127.0.0.32"):
        out, etc = render_member(tmp_path / address, POOL_ADDRESS=address)
        assert out.returncode == 0, out.stderr
        sections = dict(parse(etc / "asterisk.conf"))
        names.add(dict(sections["options"])["systemname"])
    assert names == {"127-0-0-31-5061", "127-0-0-32-5061"}
    out, etc = render_member(tmp_path / "named", AST_SYSTEMNAME="pool-a")
    assert dict(dict(parse(etc / "asterisk.conf"))["options"])["systemname"] == "pool-a"
    out, etc = render_member(tmp_path / "bad", AST_SYSTEMNAME="a b;c")
    assert out.returncode != 0 and len(out.stderr.splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_as_root_the_state_directories_belong_to_the_asterisk_user(tmp_path):
    out, etc = render_member(tmp_path, AST_USER="nobody", AST_GROUP="nogroup")
    assert out.returncode == 0, out.stderr
    state = tmp_path / "m1" / "state"
    for d in (state, *(state / n for n in ("run", "log", "spool", "db"))):
        assert d.stat().st_uid == 65534, d


def test_pool_membership_sql_takes_values_as_psql_variables(tmp_path):
    """join/leave: the member's URI (from POOL_ADDRESS) reaches psql as a
    variable, never spliced into the statement: a quote in it is data."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "psql.log"
    (bin_dir / "psql").write_text(f'#!/bin/bash\nprintf "%s\\n" "$@" >> {log}\n'
                                  f'echo --- >> {log}\ncat >> {log}\necho === >> {log}\n')
    (bin_dir / "psql").chmod(0o755)
    script = ROOT / "asterisk-pool" / "entrypoint.sh"
    evil = "sip:x');DROP TABLE pool_members;--"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MEMBER": evil, "POOL_WEIGHT": "2"}
    out = subprocess.run(["bash", "-c", 'source "$0"; join_pool; AST_PID=$$; '
                          'ast() { :; }; wait() { :; }; leave_pool', str(script)],
                         env=env, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    calls = log.read_text().split("===\n")[:-1]
    assert len(calls) == 3
    for call in calls:
        args, statement = call.split("---\n")
        assert "DROP TABLE" not in statement and ":'member'" in statement
        assert f"member={evil}" in args.splitlines()
    out = subprocess.run(["bash", "-c", 'source "$0"; join_pool', str(script)],
                         env={**env, "POOL_WEIGHT": "1; DROP TABLE x"},
                         capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and len(out.stderr.splitlines()) == 1
