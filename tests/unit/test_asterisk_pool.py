"""asterisk-pool/: what can be checked without an Asterisk (not packaged for
Debian 12): the configuration parses as Asterisk config files, the dialplan
reads exactly the headers the edge sends, never ends a ring with a cause the
edge would take for a dead member, bounds its ringing by the edge's timer and
runs no shell, the recording follows the legacy layout, the modules are an
explicit list with what each requires (the member's trust, CDR columns and
entrypoint: test_asterisk_pool_entrypoint.py)."""

from __future__ import annotations

import re

import pytest

from edgecore import pool

from harness.asterisk_conf import ETC, balanced, dialplan, extensions, parse


@pytest.mark.parametrize("name", sorted(p.name for p in ETC.glob("*.conf")))
def test_every_file_is_asterisk_config(name):
    # a file of comments only (acl.conf, pjproject.conf) is a valid, empty one
    assert parse(ETC / name) or (ETC / name).read_text().strip().startswith(";")


# Read at boot by Asterisk's core (and res_pjproject) whatever modules.conf
# loads; a real Asterisk 22.10.1 member without them logged "Unable to load
# config file" ERRORs (cel, features, acl, udptl, pjproject), ccss.conf and
# indications.conf WARNINGs (no tone zone) and an AMI NOTICE at every boot.
CORE_CONFIGS = ("acl", "ccss", "cel", "features", "indications", "manager", "pjproject",
                "stasis", "udptl")


def test_the_configs_the_core_reads_at_boot_are_shipped():
    assert not [n for n in CORE_CONFIGS if not (ETC / f"{n}.conf").exists()]
    assert ("enable", "no") in dict(parse(ETC / "cel.conf"))["general"]
    assert ("enabled", "no") in dict(parse(ETC / "manager.conf"))["general"]
    zones = dict(parse(ETC / "indications.conf"))
    country = dict(zones["general"])["country"]
    assert {"ring", "busy", "congestion"} <= dict(zones[country]).keys()



def test_dialplan_lines_are_well_formed():
    for ctx, body in dialplan().items():
        for key, value in body:
            if key in ("exten", "same"):
                assert balanced(value), f"[{ctx}] unbalanced: {value}"
                assert re.match(r"^(\S+,)?(\d+|n)(\([a-z]+\))?,[A-Za-z]+\(", value) or \
                    re.match(r"^n(\([a-z]+\))?,[A-Za-z]+\(", value), f"[{ctx}] {value}"


def test_dialplan_reads_exactly_the_headers_the_edge_sends():
    text = (ETC / "extensions.conf").read_text()
    read = set(re.findall(r"PJSIP_HEADER\(read,([A-Za-z0-9-]+)\)", text))
    assert read == set(pool.ALL_HEADERS)


def test_every_goto_target_exists():
    plan = dialplan()
    exts = {v.split(",")[0] for body in plan.values() for k, v in body if k == "exten"}
    labels = set(re.findall(r"n\(([a-z]+)\)", (ETC / "extensions.conf").read_text()))
    for target in re.findall(r"Goto(?:If)?\([^)]*?([a-z]+),1", (ETC / "extensions.conf")
                             .read_text()):
        assert target in exts, target
    for target in re.findall(r"\?([a-z]+)\)", (ETC / "extensions.conf").read_text()):
        assert target in labels or target in exts, target


LEGACY_NAME = re.compile(r"/monitor/\d{4}/\d{2}/\d{2}/(internal|rg)-(\d+)-(\d+)-(\d+)-([\d.]+)\.wav")


def test_recording_uses_the_legacy_layout_with_the_edges_unique_id():
    text = (ETC / "extensions.conf").read_text()
    # the member records into exactly the file the edge named: no UNIQUEID
    # (<epoch>.<counter>, the counter restarting at 0 on every member)
    code = re.sub(r";.*", "", text)
    assert "Set(RECFILE=${RECORD})" in code and "UNIQUEID" not in code
    from datetime import datetime, timezone
    now = datetime(2025, 8, 9, 12, 0, tzinfo=timezone.utc)
    name = pool.record_file("/monitor", "internal", "7001", "7002", now, 2**48 - 1)
    m = LEGACY_NAME.fullmatch(name)
    assert m, name
    # split on '-' as the legacy parsers do: exactly the five fields
    assert name.rsplit("/", 1)[1].removesuffix(".wav").split("-") == [
        "internal", "7001", "7002", "1754740800", f"1754740800.{2**48 - 1}"]


def test_recordings_of_calls_in_the_same_second_on_two_members_never_collide():
    """Two members (or one restarted) used to name two calls of the same
    second alike; the edge draws a 48-bit token per call instead."""
    import random
    from datetime import datetime, timezone
    now = datetime(2025, 8, 9, 12, 0, tzinfo=timezone.utc)
    rng = random.Random(16)
    names = {pool.record_file("/monitor", "rg", "7001", "7050", now,
                              rng.getrandbits(pool.RECORD_TOKEN_BITS)) for _ in range(10000)}
    assert len(names) == 10000


def test_no_recording_is_started_before_an_answer():
    """MixMonitor runs on the answering leg (Dial U(), before the bridge),
    never on the caller's channel while it rings: an unanswered call leaves
    no (header-only) file."""
    exts = extensions("from-edge")
    assert not any("MixMonitor" in line for lines in exts.values() for line in lines)
    text = (ETC / "extensions.conf").read_text()
    assert "Set(DIALOPTS=${DIALOPTS}U(edge-record^${RECFILE}))" in text
    for dial in re.findall(r"Dial\((.*)\)\s*$", text, re.M):
        assert dial.endswith(",${DIALOPTS}"), dial
    record = extensions("edge-record")["s"]
    assert record == ["MixMonitor(${ARG1},b)", "Return()"]


def test_the_member_presents_the_edges_caller_identity_and_links_its_legs():
    text = (ETC / "extensions.conf").read_text()
    assert "Set(CALLERID(num)=${IF($[\"${CALLER_ID}\" = \"\"]?${CALLER}:${CALLER_ID})})" in text
    assert "Set(CALLERID(name)=${CALLER_NAME})" in text
    assert extensions("edge-leg")["s"] == ["Set(PJSIP_HEADER(add,X-Edge-Call)=${EDGE_CALL})",
                                           "Return()"]
    assert "Set(_EDGE_CALL=${PJSIP_HEADER(read,X-Edge-Call)})" in text
    endpoint = next(dict(b) for n, b in parse(ETC / "pjsip.conf")
                    if n == "edge" and dict(b)["type"] == "endpoint")
    assert endpoint["send_pai"] == "yes" and endpoint["trust_id_outbound"] == "yes"


def hangup_sip_code(cause: int) -> int:
    """The final response chan_pjsip answers an unanswered caller with when
    its channel hangs up with this cause: chan_pjsip.c hangup_cause2sip
    (Asterisk 20/22), a cause it does not map being 603
    (res_pjsip_session.c ast_sip_session_terminate)."""
    return {1: 404, 2: 404, 3: 404, 34: 503, 42: 503, 18: 408, 19: 480, 20: 480, 21: 403,
            22: 410, 31: 480, 28: 484, 17: 486, 38: 500, 29: 501, 66: 503, 27: 502, 58: 488,
            127: 500}.get(cause, 603)


# every DIALSTATUS app_dial sets (Asterisk 20/22 documentation of Dial)
DIALSTATUSES = ("CHANUNAVAIL", "CONGESTION", "NOANSWER", "BUSY", "ANSWER", "CANCEL",
                "DONTCALL", "TORTURE", "INVALIDARGS")


def dial_causes() -> dict[str, int]:
    return {k.removeprefix("DIALCAUSE_"): int(v.split()[0])
            for k, v in dialplan()["globals"] if k.startswith("DIALCAUSE_")}


def test_a_ring_never_ends_with_a_cause_the_edge_takes_for_a_dead_member():
    causes = dial_causes()
    assert set(DIALSTATUSES) | {"DEFAULT"} <= set(causes)
    sip = {status: hangup_sip_code(cause) for status, cause in causes.items()}
    assert not {s: c for s, c in sip.items() if c in pool.MEMBER_DOWN_CODES}, sip
    assert sip["BUSY"] == 486 and sip["NOANSWER"] == 480
    assert sip["CHANUNAVAIL"] == 480 and sip["CONGESTION"] == 480
    assert sip["DEFAULT"] == 480
    # every hangup says its cause: a literal one, or the DIALSTATUS table's
    text = (ETC / "extensions.conf").read_text()
    for arg in re.findall(r"Hangup\((.*)\)\s*$", text, re.M):
        if arg.isdigit():
            assert hangup_sip_code(int(arg)) not in pool.MEMBER_DOWN_CODES, arg
        else:
            assert arg == '${IF($["${CAUSE}" = ""]?${DIALCAUSE_DEFAULT}:${CAUSE})}', arg
    assert re.findall(r"Set\(CAUSE=(.*)\)\s*$", text, re.M) == [
        "${GLOBAL(DIALCAUSE_${DIALSTATUS})}"]
    # every ring ends there
    exts = extensions("from-edge")
    for name in ("ringall", "sequential"):
        assert any("Dial(" in line for line in exts[name]) and exts[name][-1] == "Goto(done,1)"
    assert exts["done"][-1].startswith("Hangup(")



def test_ringing_is_bounded_by_the_total_the_edge_sends():
    text = (ETC / "extensions.conf").read_text()
    assert "Set(DEADLINE=$[${EPOCH} + ${RING_TOTAL}])" in text
    assert "Set(LEFT=$[${DEADLINE} - ${EPOCH}])" in text
    for dial in re.findall(r"Dial\((.*)\)\s*$", text, re.M):
        timeout = dial.split(",", 1)[1].removesuffix(",${DIALOPTS}")
        # the smaller of the per-target timeout and what is left of the total
        assert timeout in ("${IF($[${RING_TOTAL} < ${RING_TIMEOUT}]?${RING_TOTAL}:"
                           "${RING_TIMEOUT})}",
                           "${IF($[${LEFT} < ${RING_TIMEOUT}]?${LEFT}:${RING_TIMEOUT})}"), dial
    # the sequential loop stops at the deadline, on an answer, or out of targets
    (cond,) = [v for v in re.findall(r"While\((.*)\)\s*$", text, re.M) if "DEADLINE" in v]
    assert '"${DIALSTATUS}" != "ANSWER"' in cond and "${EPOCH} < ${DEADLINE}" in cond


def test_loops_are_left_only_through_their_condition_and_no_shell_runs():
    text = (ETC / "extensions.conf").read_text()
    for loop in re.findall(r"While\(.*?EndWhile\(\)", text, re.S):
        assert not re.search(r"\bGoto(If)?\(|ExecIf\(", loop), loop
    # header values never reach a shell; MixMonitor makes its own directories
    assert not re.search(r"\b(Try)?System\(|SHELL\(", text)


# codec (pjsip.conf allow) -> the translator module that decodes it for
# MixMonitor and for a bridge to a leg in another codec (Asterisk 20/22)
TRANSLATORS = {"ulaw": "codec_ulaw", "alaw": "codec_alaw", "gsm": "codec_gsm",
               "g726": "codec_g726", "g729": None}


def test_codecs_offered_are_only_those_the_member_can_bridge_and_record():
    endpoint = next(dict(b) for n, b in parse(ETC / "pjsip.conf")
                    if n == "edge" and dict(b)["type"] == "endpoint")
    assert endpoint["disallow"] == "all"
    allow = endpoint["allow"].split(",")
    assert allow == ["ulaw", "alaw", "gsm", "g726", "h264"]
    # g729 (no translator ships with Asterisk) is never offered: a g729-only
    # caller gets 488 from the member instead of a call that drops
    assert "g729" not in allow
    loaded = loaded_modules()
    for codec in allow:
        if codec != "h264":                  # video: passed through, never recorded
            assert TRANSLATORS[codec] in loaded, codec
    # h264's SDP format attributes (profile-level-id, packetization-mode)
    assert "res_format_attr_h264" in loaded
    assert "format_wav" in loaded            # MixMonitor's .wav
    # a device putting the call on hold: the hold goes on to the other party
    # (moh_passthrough), no MOH module with no MOH files (a real Asterisk
    # 22.10.1 disabled it: "No music on hold classes configured")
    assert "res_musiconhold" not in loaded
    assert ("moh_passthrough", "yes") in next(
        body for name, body in parse(ETC / "pjsip.conf")
        if name == "edge" and ("type", "endpoint") in body)


def loaded_modules() -> set[str]:
    (name, body), = parse(ETC / "modules.conf")
    assert name == "modules"
    return {v.removesuffix(".so") for k, v in body if k == "load"}


# dialplan application / function -> the module that provides it (Asterisk 20/22)
PROVIDERS = {"Dial": "app_dial", "MixMonitor": "app_mixmonitor", "While": "app_while",
             "EndWhile": "app_while", "Return": "app_stack", "CDR": "func_cdr",
             "CALLERID": "func_callerid", "IF": "func_logic", "SET": "func_logic",
             "SHIFT": "func_strings", "GLOBAL": "func_global",
             "PJSIP_HEADER": "res_pjsip_header_funcs", "CHANNEL": "func_channel"}
# built into the core (pbx_builtins / pbx_variables): no module
BUILTIN = {"NoOp", "Set", "GotoIf", "Goto", "Hangup", "EPOCH"}


def test_modules_are_an_explicit_list_that_covers_the_dialplan():
    (_, body), = parse(ETC / "modules.conf")
    assert ("autoload", "no") in body
    loaded = loaded_modules()
    # no module the pool does not use: DUNDi binds 0.0.0.0:4520, the pgsql
    # config/CEL backends log connection errors, a second CDR backend
    assert not loaded & {"pbx_dundi", "res_config_pgsql", "cel_pgsql", "cdr_adaptive_odbc",
                         "chan_sip", "cdr_csv", "cdr_custom"}
    assert {m for m in loaded if m.startswith("cdr_")} == {"cdr_pgsql"}
    assert {"pbx_config", "chan_pjsip", "res_pjsip", "res_pjsip_session", "res_rtp_asterisk",
            "res_pjsip_sdp_rtp", "res_pjsip_endpoint_identifier_ip", "res_pjsip_acl",
            "res_pjsip_rfc3326", "res_pjsip_caller_id", "bridge_simple"} <= loaded
    text = (ETC / "extensions.conf").read_text()
    # applications and functions (not Dial options: b() U(), nor labels n(x))
    used = {m for m in re.findall(r"\b([A-Za-z_]+)\(", re.sub(r";.*", "", text))
            if len(m) > 1} - BUILTIN
    assert used <= set(PROVIDERS), used - set(PROVIDERS)
    for name in used:
        assert PROVIDERS[name] in loaded, (name, PROVIDERS[name])


# AST_MODULE_INFO .requires of each module the pool loads, identical in the
# asterisk/asterisk branches 20 and 22 (modules not named here require
# nothing). With autoload = no, a module whose requirement is not loaded is
# declined -- chan_pjsip without res_pjsip_pubsub: no channel driver at all.
REQUIRES = {
    "chan_pjsip": {"res_pjsip", "res_pjsip_session", "res_pjsip_pubsub"},
    "res_pjsip": {"dnsmgr", "res_pjproject", "res_sorcery_config", "res_sorcery_memory",
                  "res_sorcery_astdb"},
    "res_pjproject": {"res_sorcery_config"},
    "res_rtp_asterisk": {"res_pjproject"},
    "res_pjsip_session": {"res_pjsip"},
    "res_pjsip_pubsub": {"res_pjsip"},
    "res_pjsip_acl": {"res_pjsip"},
    "res_pjsip_endpoint_identifier_ip": {"res_pjsip"},
    "res_pjsip_authenticator_digest": {"res_pjsip"},
    "res_pjsip_outbound_authenticator_digest": {"res_pjsip"},
    "res_pjsip_header_funcs": {"res_pjsip", "res_pjsip_session"},
    "res_pjsip_caller_id": {"res_pjsip", "res_pjsip_session"},
    "res_pjsip_rfc3326": {"res_pjsip", "res_pjsip_session"},
    "res_pjsip_sdp_rtp": {"res_pjsip", "res_pjsip_session"},
    "res_pjsip_nat": {"res_pjsip", "res_pjsip_session"},
    "func_cdr": {"cdr"},
    "cdr_pgsql": {"cdr"},
}
# every module of the 20/22 source the list may name, with no .requires
NO_REQUIRES = {"pbx_config", "app_dial", "app_stack", "app_while", "app_mixmonitor",
               "func_channel", "func_callerid", "func_logic", "func_strings", "func_global",
               "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb",
               "bridge_simple", "bridge_native_rtp", "bridge_builtin_features",
               "res_timing_timerfd", "res_format_attr_h264",
               "codec_ulaw", "codec_alaw", "codec_a_mu", "codec_gsm", "codec_g726",
               "format_wav"}
# built into the asterisk binary (main/*.c AST_MODULE_INFO): always loaded
CORE = {"cdr", "dnsmgr", "extconfig", "cel", "ccss", "features", "http", "indications",
        "manager", "named_acl", "udptl", "dsp", "enum", "logger", "plc", "sounds"}


def test_every_module_listed_has_what_it_requires():
    loaded = loaded_modules()
    # only modules whose requirements are known (and that exist in 20/22:
    # res_pjsip_options was folded into res_pjsip in Asterisk 16)
    assert loaded <= set(REQUIRES) | NO_REQUIRES, loaded - set(REQUIRES) - NO_REQUIRES
    assert "res_pjsip_options" not in loaded
    for module in loaded:
        missing = REQUIRES.get(module, set()) - loaded - CORE
        assert not missing, (module, missing)
