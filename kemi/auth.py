"""Step: digest authentication (RFC 3261 22, RFC 2617) against the HA1 held
in the Redis read model.

REGISTER is challenged with 401/WWW-Authenticate, other initial requests
with 407/Proxy-Authenticate (``auth_challenge``). An unknown identity gets
exactly the challenge a known identity with a wrong password gets -- and the
same digest computation, against a dummy HA1 -- so neither the reply nor its
timing tells which users exist. A stale nonce is re-challenged with
stale=true. The read model unreachable means 503, never a pass.

A request addressed to an imported legacy server (kemi/namespace.py) is
challenged with that server's realm, and its digest username is looked up as
``<ns>/<peer>``: the legacy phones keep their peer names and secrets, and a
wrong namespace is just an unknown identity.

Cost, per request: none when the worker cache holds the answer and the
read-model version is unchanged; otherwise one FCALL -- ``edge_device`` for a
REGISTER, ``edge_call`` for an INVITE, which fetches the caller together with
everything the call's routing needs (callee candidates, tenants, exceptions),
so an INVITE never costs a second round trip.
"""

from __future__ import annotations

import KSR

from edgecore import metrics
from edgecore.cache import Unavailable
from edgecore.numbering import normalise
from kemi import context, counters, namespace, security
from kemi.context import Request
from kemi.ksrconst import AUTH_HA1, AUTH_NONCE_EXPIRED, AUTH_QOP, AUTH_STALE, CONTINUE, STOP
from kemi.replies import unavailable

# used for unknown identities: MD5 of nothing anyone can know
DUMMY_HA1 = "0" * 32


def challenge(realm: str, stale: bool = False) -> int:
    KSR.auth.auth_challenge(realm, AUTH_QOP | (AUTH_STALE if stale else 0))
    return STOP


def _failed(tenant: str, ns: str = "") -> None:
    counters.inc("auth_failures", tenant, metrics.method_label(context.pv_str("$rm")))
    if ns:
        counters.inc("namespace_auth_failures", ns)


def authenticate(req: Request) -> int:
    w = context.worker()
    if req.from_pool and KSR.is_INVITE():
        # a media pool member ringing a device back: trusted by its address,
        # no credentials; only numbers that resolve without a caller work
        req.dialled = normalise(context.pv_str("$rU"))
        try:
            req.call = w.call("", req.dialled)
        except Unavailable:
            return unavailable(w.cfg.redis.retry_after)
        w.cache.promote()
        return CONTINUE
    try:
        ns = namespace.of_request(w)        # a legacy server's phones: its realm, its names
    except Unavailable:
        # read model unreachable: a request without credentials is still
        # challenged (a challenge needs no data); its answer gets the 503
        ns = namespace.of_request(w, last_known=True)
        realm = ns.realm if ns is not None else w.cfg.auth.realm
        if KSR.auth.has_credentials(realm) < 0:
            return challenge(realm)
        return unavailable(w.cfg.redis.retry_after)
    realm = ns.realm if ns is not None else w.cfg.auth.realm
    if KSR.auth.has_credentials(realm) < 0:
        return challenge(realm)
    req.namespace = ns.name if ns is not None else ""
    au = context.pv_str("$au")
    if security.malformed_identity(au):  # answered like a wrong credential
        _failed(metrics.UNKNOWN_TENANT, req.namespace)
        return challenge(realm)
    authuser = namespace.identity(ns, au)
    try:
        if KSR.is_INVITE():
            req.dialled = normalise(context.pv_str("$rU"))
            req.call = w.call(authuser, req.dialled)
            device, tenant = req.call.caller, req.call.caller_tenant
        else:
            device, tenant = w.device(authuser)
    except Unavailable:
        return unavailable(w.cfg.redis.retry_after)
    if device is None or tenant is None:
        # the same check a known identity gets, and the same answer to it: an
        # expired nonce is re-challenged stale=true for anyone, so replaying an
        # old nonce tells no one which identities exist
        rc = KSR.auth.pv_auth_check(realm, DUMMY_HA1, AUTH_HA1, 0)
        if rc != AUTH_NONCE_EXPIRED:
            _failed(metrics.UNKNOWN_TENANT, req.namespace)
            security.auth_failed(authuser)
        return challenge(realm, stale=(rc == AUTH_NONCE_EXPIRED))
    if security.identity_locked(authuser):
        # locked by repeated failures: not even checked, so no guess can
        # succeed; it still counts against the source
        _failed(tenant.id, req.namespace)
        security.auth_failed(authuser, checked=False)
        return challenge(realm)
    rc = KSR.auth.pv_auth_check(realm, device.ha1, AUTH_HA1, 0)
    if rc < 0:
        if rc != AUTH_NONCE_EXPIRED:
            _failed(tenant.id, req.namespace)
            security.auth_failed(authuser)
        return challenge(realm, stale=(rc == AUTH_NONCE_EXPIRED))
    w.cache.promote()           # only authenticated lookups stay cached for long
    security.auth_succeeded(authuser, req.source())
    KSR.auth.consume_credentials()
    req.device, req.tenant = device, tenant
    return CONTINUE
