"""Step: screening of every request before any other work, and the brute-force
bookkeeping of the auth step.

* oversized requests get 513;
* scanners recognised by User-Agent (friendly-scanner, sipvicious, ...) are
  dropped without a reply, and their source is banned;
* banned sources are dropped without a reply, decided from this node's own
  tables with no I/O at all (the flood that earned a ban must not drive
  Redis) -- except a request of an identity that recently authenticated on
  this node from that same address and has not failed from it since: a
  legitimate phone behind the attacker's NAT keeps working, and the attacker
  still needs a valid identity *and* its password;
* a source exceeding the request rate (pike) is banned.

Bans live in Redis (edgestore.guard), so every edge node enforces a ban any
node decided; each node checks its htable copy (no round trip per request).
Failed authentications are counted per source and per identity in a sliding
window, and again over an hour and a day against slow guessing (one round
trip, on the failure path only); an identity past a limit is locked except
from the sources it is trusted from, a source past one is banned, each for
its window's length. Guesses at a locked
identity are not checked but still count against their source.

The trade-off, stated: an attacker behind a phone's own NAT who guesses *that
phone's* password revokes the trust of that address for it (the first
failure does), so the phone is locked out for ``ban_time`` -- account lockout
in exchange for a password that cannot be brute-forced. Attacks on other
identities from the same NAT, or on this identity from elsewhere, leave the
phone working. Configured exempt sources and pool members are never banned.
"""

from __future__ import annotations

import time

import KSR

from edgecore import guard
from edgestore import guard as guardstore
from kemi import context, counters, htqueue
from kemi.context import Request
from kemi.ksrconst import CONTINUE, STOP
from kemi.replies import send

BAN_TABLE = "edgeban"
# (identity, source) pairs that authenticated on this node within
# security.trusted_for (refreshed by every success, removed by a failure):
# what lets a phone behind a banned address through without a round trip.
# An entry's value is when this node last wrote the pair's trust to Redis
# (guard.trust_stamp), so that write is made at most once per
# security.trust_refresh per node -- one shared-memory item per pair, not two
GOOD_TABLE = "edgegood"
# (identity, source) pairs that authenticated, not yet recorded as trusted in
# Redis: the node's timer process writes them (flush_trust), all of a poll's
# in one round trip -- never a worker's round trip on a first registration
TRUST_QUEUE = "edgetrustq"


def _trust_key(authuser: str, src: str) -> str:
    return f"{authuser.lower()}|{src}"


def enabled() -> bool:
    return context.worker().antiflood


def banned(kind: str, value: str) -> bool:
    return KSR.htable.sht_get(BAN_TABLE, guard.ban_field(kind, value)) is not None


def note_ban(kind: str, value: str, seconds: int) -> None:
    """Mirror a ban into this node's table at once (other nodes get it from
    Redis within a poll interval)."""
    KSR.htable.sht_setxi(BAN_TABLE, guard.ban_field(kind, value), 1, seconds)


def _ban_source(src: str, reason: str) -> None:
    w = context.worker()
    secs = w.cfg.security.ban_time
    note_ban("src", src, secs)
    try:
        guardstore.ban(w.redis, "src", src, guard.ban_until(time.time(), secs), reason)
    except Exception as exc:          # Redis down: this node's ban still holds
        KSR.warn(f"security: ban of {src} not shared: {exc}\n")
    counters.inc("bans", "source", reason.replace(" ", "_"))
    KSR.notice(f"security: banned {src} for {secs}s: {reason}\n")


def screen(req: Request) -> int:
    if not enabled() or req.from_pool or req.from_peer:
        return CONTINUE
    w = context.worker()
    sec = w.cfg.security
    src = req.source()
    if int(KSR.pv.get("$ml") or 0) > sec.max_message_size:
        return STOP if KSR.is_ACK() else send(513, "Message Too Large")
    if src in w.exemptions:
        return CONTINUE
    if context.pv_str("$ua") in w.scanners:
        if not banned("src", src):
            _ban_source(src, "scanner user agent")
        return STOP
    if banned("src", src) and not _trusted_locally(src):
        # the flood that earned the ban costs this node no I/O at all
        return STOP
    if KSR.pike.pike_check_req() < 0:
        _ban_source(src, "request flood")
        return STOP
    return CONTINUE


def _claimed_identity() -> str:
    """Who the request says it is: the digest username, else the user part of
    To (REGISTER) or From -- a phone's first REGISTER carries no credentials."""
    return (context.pv_str("$au")
            or context.pv_str("$tU" if KSR.is_REGISTER() else "$fU"))


def _trusted_locally(src: str) -> bool:
    """A banned source's request passes only when the identity it claims
    authenticated on this node from that source lately and has not failed
    from it since (this node's `edgegood` table: no round trip). A phone
    behind a banned address keeps working on the node it uses; the trust it
    earned on another node is not consulted for a banned source."""
    au = _claimed_identity()
    return bool(au) and KSR.htable.sht_get(GOOD_TABLE, _trust_key(au, src)) is not None


def _trusted_here(src: str) -> bool:
    """A request from a banned source passes only when the identity it claims
    recently authenticated from that source (and has not failed from it
    since). Claiming someone else's identity earns at most one checked guess:
    the failure revokes the trust."""
    au = _claimed_identity()
    if not au:
        return False
    w = context.worker()
    try:
        return guardstore.trusted(w.redis, au, src, time.time(), w.cfg.security.trusted_for)
    except Exception:
        return False


def identity_locked(authuser: str) -> bool:
    """The identity is locked and this source is not one it is trusted from."""
    if not enabled() or not banned("id", authuser):
        return False
    src = str(KSR.kx.get_srcip())
    return not (_trusted_locally(src) or _trusted_here(src))


def malformed_identity(authuser: str) -> bool:
    """The digest username carries control bytes (guard.malformed_identity):
    logged on one line at INFO (the internet sends such things all day),
    counted against the source like a wrong guess, never looked up."""
    if not guard.malformed_identity(authuser):
        return False
    KSR.info("security: digest username with control bytes %r from %s refused\n"
             % (authuser[:64], KSR.kx.get_srcip()))
    auth_failed("", checked=False)
    return True


def auth_failed(authuser: str, checked: bool = True) -> None:
    """Count a failed authentication against the source and, when the
    credentials were checked, against the identity."""
    if not enabled():
        return
    w = context.worker()
    sec = w.cfg.security
    src = str(KSR.kx.get_srcip())
    if src in w.exemptions:
        return
    now = time.time()
    if checked:         # a success noted before must not be written after this failure
        KSR.htable.sht_rm(TRUST_QUEUE, _trust_key(authuser, src))
    try:
        src_until, id_until = guardstore.auth_failed(
            w.redis, src, authuser if checked else "", now, sec.window,
            sec.source_failures, sec.identity_failures, sec.ban_time, sec.long_windows)
    except Exception as exc:
        KSR.warn(f"security: failure not counted: {exc}\n")
        return
    if checked:         # Redis revoked the pair's trust: the next success records it anew
        KSR.htable.sht_rm(GOOD_TABLE, _trust_key(authuser, src))
    if src_until:
        secs = guard.ban_seconds_left(src_until, now)
        note_ban("src", src, secs)
        counters.inc("bans", "source", "failed_authentications")
        KSR.notice(f"security: banned {src} for {secs}s: failed authentications\n")
    if id_until:
        secs = guard.ban_seconds_left(id_until, now)
        note_ban("id", authuser, secs)
        counters.inc("bans", "identity", "failed_authentications")
        KSR.notice(f"security: locked identity {authuser} for {secs}s\n")


def auth_succeeded(authuser: str, src: str = "") -> None:
    """Remember that this identity authenticates from this source: noted in
    the node's `edgetrustq` table and written to Redis by its timer process
    (flush_trust, within one poll interval), at most once per
    security.trust_refresh per node -- this node's `edgegood` entry, shared
    by its workers, says when it was noted."""
    if not enabled():
        return
    src = src or str(KSR.kx.get_srcip())
    key = _trust_key(authuser, src)
    w = context.worker()
    sec, now = w.cfg.security, time.time()
    raw = KSR.htable.sht_get(GOOD_TABLE, key)
    stamp = None if raw is None else int(raw)
    if stamp is not None and not guard.trust_due(stamp, now, sec.trust_refresh):
        KSR.htable.sht_seti(GOOD_TABLE, key, stamp)    # refreshes its expiry, no I/O
        return
    KSR.htable.sht_seti(GOOD_TABLE, key, guard.trust_stamp(now))
    KSR.htable.sht_sets(TRUST_QUEUE, key, f"{now:.3f}")


# A success note older than this is dropped, not written: Redis keeps a
# failure's time against late successes for 120 s (edge.lua TRUST_FAIL_KEEP)
TRUST_NOTE_MAX_AGE = 60


def flush_trust() -> int:
    """Timer process: the trust noted since the last poll, written in one
    pipelined round trip, each with the time of its success: Redis refuses a
    success older than a failure of that pair it already has (a failure on
    any node, written at once, may overtake a success queued here). Redis
    down: dropped (the pair's next success after trust_refresh notes it
    again); so is a note older than TRUST_NOTE_MAX_AGE (a backlog). Returns
    the notes taken."""
    notes = htqueue.drain(TRUST_QUEUE, TRUST_QUEUE)
    if not notes:
        return 0
    w = context.worker()
    oldest = time.time() - TRUST_NOTE_MAX_AGE
    try:
        pipe = w.redis.pipeline(transaction=False)
        for key, at in notes:
            if float(at) < oldest:
                continue
            authuser, _, src = key.rpartition("|")
            guardstore.auth_succeeded(pipe, authuser, src, float(at), w.cfg.security.trusted_for)
        pipe.execute()
    except Exception as exc:
        KSR.warn(f"security: {len(notes)} trust notes not written: {exc}\n")
    return len(notes)
