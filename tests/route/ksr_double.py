"""A test double behind the generated KSR stub (kemi/stubs/KSR.py).

Every KSR call is recorded. Results come from, in order: a programmed result
(``double.results["auth.pv_auth_check"] = -2``, or a callable), the emulated
pseudo-variables ($rm, $au, $def(...), $shv(...)...), then a neutral default
chosen from the stub's own return annotation (bool -> False, xval -> None).

An int-returning call has no neutral answer when the step branches on it (1
is success, negative a failure): one the test did not program is an
:class:`UnprogrammedCall`, raised at the call and reported again when the
test ends (a step may catch the exception), so a route test states every
Kamailio result its step depends on. Only the :data:`ACTIONS` -- calls whose
result no KEMI code reads (a test checks) -- answer 1, "done".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import KSR

ROOT = Path(__file__).resolve().parents[2]


def kamailio_defines() -> dict[str, str]:
    """#!define / #!trydef values of kamailio/defaults.cfg (the flags' one source)."""
    out = {}
    for line in (ROOT / "kamailio" / "defaults.cfg").read_text().splitlines():
        m = re.match(r"#!(?:try)?def(?:ine)?\s+(\w+)\s+(.*)$", line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


# int-returning KSR calls whose result the KEMI code never reads (it acts and
# goes on): answered 1 unless programmed. tests/route/test_ksr_double.py
# checks that no code under kemi/ reads one of these results.
ACTIONS = frozenset({
    "auth.consume_credentials", "dialog.dlg_manage", "dialog.dlg_set_timeout",
    "dialog.set_dlg_profile", "dialog.unset_dlg_profile", "dialog.var_rm", "dialog.var_sets",
    "dispatcher.ds_mark_dst_state", "dmq.handle_message", "hdr.append", "hdr.remove",
    "htable.sht_inc", "htable.sht_iterator_end", "htable.sht_iterator_rm", "htable.sht_rm",
    "htable.sht_seti", "htable.sht_sets", "htable.sht_setxi",
    "nathelper.fix_nated_register", "nathelper.handle_ruri_alias",
    "nathelper.set_contact_alias", "registrar.reg_free_contacts", "rr.add_rr_param",
    "rr.record_route", "rtpengine.rtpengine_delete0", "sl.send_reply", "sl.sl_reply_error",
    "textops.remove_hf_re", "textops.set_body", "textopsx.msg_apply_changes",
    "tm.t_on_branch", "tm.t_on_failure", "tm.t_on_reply", "tm.t_reply", "tm.t_set_fr",
    "tm.t_uac_send", "uac.uac_replace_from", "uac.uac_replace_from_uri", "xhttp.xhttp_reply",
})


class UnprogrammedCall(AssertionError):
    """An int-returning KSR call the test did not program."""


def _returns_int(name: str) -> bool:
    obj: Any = KSR
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj.__annotations__.get("return") == "int"


class KsrDouble:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.results: dict[str, Any] = {}
        self.pv: dict[str, Any] = {}
        self.defines = kamailio_defines()
        self.flags: set[int] = set()
        self.bflags: set[int] = set()
        self.reply_headers: list[str] = []
        self.unprogrammed: list[tuple[str, tuple[Any, ...]]] = []

    # -- the message under test ----------------------------------------------
    def message(self, method: str, **pvs: Any) -> "KsrDouble":
        self.pv["$rm"] = method
        for k, v in pvs.items():
            self.pv["$" + k] = v
        return self

    # -- dispatch --------------------------------------------------------------
    def __call__(self, name: str, args: tuple[Any, ...]) -> Any:
        self.calls.append((name, args))
        if name in self.results:
            r = self.results[name]
            return r(*args) if callable(r) else r
        if name == "pv.get":
            spec = args[0]
            m = re.match(r"\$def\((\w+)\)$", spec)
            if m:
                return self.defines.get(m.group(1))
            return self.pv.get(spec)
        if name == "kx.get_method":
            return self.pv.get("$rm")
        if name == "pv.is_null":
            return self.pv.get(args[0]) is None
        if name in ("pv.seti", "pv.sets"):
            self.pv[args[0]] = args[1]
            return True
        if name.startswith("is_") and name[3:].isupper():       # is_INVITE() ...
            return self.pv.get("$rm") == name[3:]
        if name == "setflag":
            self.flags.add(args[0])
            return True
        if name == "setbflag":
            self.bflags.add(args[0])
            return True
        if name == "isflagset":
            return args[0] in self.flags
        if name == "hdr.append_to_reply":
            self.reply_headers.append(args[0])
            return 1
        if name == "auth.auth_challenge":
            return 1
        if name in ACTIONS:
            return 1
        if _returns_int(name):
            self.unprogrammed.append((name, args))
            raise UnprogrammedCall(f"KSR.{name}{args!r}: not programmed "
                                   f"(ksr.results[{name!r}] = ...)")
        return None

    # -- what happened ---------------------------------------------------------
    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [a for n, a in self.calls if n == name]

    def replies(self) -> list[tuple[int, str]]:
        """Final replies the steps sent (sl/tm), and challenges as 401/407."""
        out = []
        for n, a in self.calls:
            if n in ("sl.send_reply", "sl.sl_send_reply", "tm.t_reply", "tm.t_send_reply"):
                out.append((a[0], a[1]))
            elif n == "auth.auth_challenge":
                out.append((401 if self.pv.get("$rm") == "REGISTER" else 407, "challenge"))
        return out


def install() -> KsrDouble:
    d = KsrDouble()
    KSR._install(d)
    return d


Factory = Callable[[], KsrDouble]
