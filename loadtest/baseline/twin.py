"""The yardstick's own request route in Python KEMI: loadtest/baseline/kamailio.cfg's
routing, statement for statement, run by app_python3 (``-A WITH_KEMI``).

Not the edge: the native baseline's work with nothing added -- the same
modules, the same static htable of credentials, the same Kamailio calls in the
same order. Measured beside the native baseline (``make bench``, the "Python
floor" rows), the ratio is what interpreting the route in Python costs by
itself: the most any Python KEMI edge doing at least the baseline's work can
reach, whatever it leaves out of its own steps.

Keep it a translation: a change to the cfg's request_route, branch_route,
onreply_route or failure_route belongs here too (tests/integration/test_loadkit.py
runs the baseline's test against both).
"""

from __future__ import annotations

import os
import re

import KSR

CONTINUE, STOP = 1, -255
# the cfg's defines
FLT_NATS, FLB_NATB, FLB_NATSIPPING, FLB_MEDIA, FLT_CALL = 5, 6, 7, 8, 12
MEDIA_BASE = "replace-origin replace-session-connection ICE=remove"
MEDIA_NATED = "replace-origin replace-session-connection ICE=remove SIP-source-address"
DUMMY_HA1 = "0" * 32
ALLOW = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, PRACK, REGISTER\r\n"
NUMERIC_HOST = re.compile(r"^[0-9.]+$")
REALM = os.environ.get("BASELINE_REALM", "sipedge")     # the cfg's REALM (loadtest/baseline)


def _pv(name: str) -> str:
    v = KSR.pv.get(name)
    return "" if v is None else str(v)


class Twin:
    def __init__(self) -> None:
        self.au = self.tenant = self.ext = ""

    def child_init(self, rank: int) -> int:
        return 0

    def ksr_request_route(self, msg: object) -> int:
        self.au = self.tenant = self.ext = ""
        if KSR.maxfwd.process_maxfwd(10) < 0:
            if KSR.is_ACK():
                return 1
            KSR.sl.sl_send_reply(483, "Too Many Hops")
            return 1
        if KSR.sanity.sanity_check(17895, 7) < 0:
            return 1
        KSR.force_rport()
        if KSR.nathelper.nat_uac_test(19) > 0:
            KSR.setflag(FLT_NATS)
            if KSR.is_REGISTER():
                KSR.nathelper.fix_nated_register()
            elif KSR.siputils.is_first_hop() > 0:
                KSR.nathelper.set_contact_alias()
        if KSR.is_OPTIONS() and KSR.is_myself_ruri() and KSR.pv.is_null("$rU"):
            KSR.hdr.append_to_reply(ALLOW)
            KSR.sl.sl_send_reply(200, "OK")
            return 1
        if KSR.is_CANCEL():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return 1
        if KSR.siputils.has_totag() > 0:
            self.within_dialog()
            return 1
        if not KSR.is_method_in("RIOA"):
            KSR.hdr.append_to_reply(ALLOW)
            KSR.sl.sl_send_reply(405, "Method Not Allowed")
            return 1
        if KSR.tmx.t_precheck_trans() > 0:
            KSR.tm.t_check_trans()
            return 1
        KSR.tm.t_check_trans()
        if self.auth() == STOP:
            return 1
        if KSR.is_REGISTER():
            self.registrar()
            return 1
        if KSR.is_INVITE():
            self.call()
            return 1
        KSR.sl.sl_send_reply(404, "Not Found")
        return 1

    def auth(self) -> int:
        if KSR.auth.has_credentials(REALM) < 0:
            KSR.auth.auth_challenge(REALM, 1)
            return STOP
        au = _pv("$au")
        ha1 = KSR.htable.sht_get("creds", au)
        if ha1 is None:
            KSR.auth.pv_auth_check(REALM, DUMMY_HA1, 1, 0)
            KSR.auth.auth_challenge(REALM, 1)
            return STOP
        rc = KSR.auth.pv_auth_check(REALM, str(ha1), 1, 0)
        if rc < 0:
            KSR.auth.auth_challenge(REALM, 17 if rc == -4 else 1)
            return STOP
        KSR.auth.consume_credentials()
        self.au, self.tenant, self.ext = au, au[:5], au[5:]
        return CONTINUE

    def registrar(self) -> None:
        tu = _pv("$tU")
        if tu != self.au and tu != self.ext:
            KSR.sl.sl_send_reply(403, "Forbidden - Not Your Identity")
            return
        if not KSR.is_myself(_pv("$tu")) and not NUMERIC_HOST.match(_pv("$td")):
            KSR.sl.sl_send_reply(403, "Forbidden - Domain Not Served")
            return
        if KSR.isflagset(FLT_NATS):
            KSR.setbflag(FLB_NATB)
            KSR.setbflag(FLB_NATSIPPING)
        if KSR.registrar.save_uri("location", 0, f"sip:{self.ext}@{self.tenant}") < 0:
            KSR.sl.sl_reply_error()

    def call(self) -> None:
        fu = _pv("$fU")
        if fu != self.au and fu != self.ext:
            KSR.sl.sl_send_reply(403, "Forbidden - Not Your Identity")
            return
        KSR.dialog.dlg_manage()
        KSR.setflag(FLT_CALL)
        ru = _pv("$rU")
        for k, v in (("cid", _pv("$ci")), ("tenant", self.tenant), ("caller", self.ext),
                     ("callee", ru), ("ctenant", self.tenant), ("setup", _pv("$TV(Sn)")),
                     ("media", "direct"), ("node", "baseline"), ("kind", "call")):
            KSR.pv.sets(f"$dlg_var({k})", v)
        if KSR.htable.sht_get("creds", self.tenant + ru) is None:
            self.refuse(404, "Not Found")
            return
        rc = KSR.registrar.lookup_uri("location", f"sip:{ru}@{self.tenant}")
        if rc < 0:
            if rc == -2:
                self.refuse(405, "Method Not Allowed")
            else:
                self.refuse(480, "Temporarily Unavailable")
            return
        KSR.hdr.remove("Route")
        KSR.rr.record_route()
        self.relay()

    def refuse(self, code: int, reason: str) -> None:
        KSR.pv.sets("$dlg_var(end)", _pv("$TV(Sn)"))
        KSR.pv.sets("$dlg_var(code)", str(code))
        KSR.pv.sets("$dlg_var(reason)", reason)
        KSR.tm.t_newtran()
        KSR.tm.t_reply(code, reason)

    def relay(self) -> None:
        if KSR.is_method_in("IUB"):
            KSR.tm.t_on_branch("ksr_branch_manage")
            KSR.tm.t_on_reply("ksr_onreply_manage")
        if KSR.is_INVITE():
            KSR.tm.t_on_failure("ksr_failure_manage")
        if KSR.tm.t_relay() < 0:
            KSR.sl.sl_reply_error()

    def within_dialog(self) -> None:
        if KSR.rr.loose_route() > 0:
            if KSR.dialog.is_known_dlg() < 0:
                if not KSR.is_ACK():
                    KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")
                return
            if _pv("$du") == "":
                KSR.nathelper.handle_ruri_alias()
            if KSR.rr.check_route_param("ma=1") > 0:
                KSR.setbflag(FLB_MEDIA)
                if KSR.is_BYE() or KSR.textops.has_body_type("application/sdp") > 0:
                    KSR.rtpengine.rtpengine_manage(MEDIA_NATED if KSR.isflagset(FLT_NATS)
                                                   else MEDIA_BASE)
            if KSR.is_ACK():
                KSR.tm.t_relay()
                return
            self.relay()
            return
        if KSR.is_ACK():
            if KSR.tm.t_check_trans() > 0:
                KSR.tm.t_relay()
            return
        KSR.sl.sl_send_reply(481, "Call/Transaction Does Not Exist")

    def ksr_branch_manage(self, msg: object) -> int:
        if KSR.siputils.has_totag() > 0 or not KSR.is_INVITE():
            return 1
        if not KSR.isflagset(FLT_NATS) and not KSR.isbflagset(FLB_NATB):
            return 1
        ok = KSR.rtpengine.rtpengine_manage(MEDIA_NATED if KSR.isflagset(FLT_NATS) else MEDIA_BASE)
        if ok < 0:
            KSR.pv.seti("$avp(edge_media_lost)", 1)
            KSR.set_drop()
            return 1
        KSR.setbflag(FLB_MEDIA)
        KSR.pv.seti("$avp(edge_media)", 1)
        KSR.rr.add_rr_param(";ma=1")
        return 1

    def ksr_onreply_manage(self, msg: object) -> int:
        rs = KSR.pv.get("$rs")
        rs = int(rs) if rs is not None else 0
        if (200 <= rs < 300 and KSR.isflagset(FLT_CALL) and KSR.is_INVITE()
                and KSR.pv.is_null("$avp(edge_answered)")):
            KSR.pv.seti("$avp(edge_answered)", 1)
            now = _pv("$TV(Sn)")
            if KSR.pv.is_null("$dlg_var(answer)"):
                KSR.pv.sets("$dlg_var(answer)", now)
            KSR.pv.sets("$dlg_var(end)", now)
            KSR.pv.sets("$dlg_var(code)", str(rs))
            KSR.pv.sets("$dlg_var(reason)", _pv("$rr"))
        if 100 < rs < 300:
            if KSR.isbflagset(FLB_MEDIA) and KSR.textops.has_body_type("application/sdp") > 0:
                KSR.rtpengine.rtpengine_manage(MEDIA_NATED if KSR.isbflagset(FLB_NATB) else MEDIA_BASE)
            if KSR.isbflagset(FLB_NATB):
                KSR.nathelper.set_contact_alias()
        return 1

    def ksr_failure_manage(self, msg: object) -> int:
        if KSR.isflagset(FLT_CALL):
            KSR.pv.sets("$dlg_var(end)", _pv("$TV(Sn)"))
            KSR.pv.sets("$dlg_var(code)", _pv("$T_reply_code"))
            KSR.pv.sets("$dlg_var(reason)", _pv("$T_reply_reason"))
        if not KSR.pv.is_null("$avp(edge_media)"):
            KSR.rtpengine.rtpengine_delete("")
        return 1


def mod_init() -> Twin:
    return Twin()
