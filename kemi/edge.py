"""Entry of the edge's routing, loaded by Kamailio's app_python3.

The request route is the flat list ``REQUEST_STEPS``; each step is a function
of the per-request :class:`~kemi.context.Request` in a module named for its
concern, returning CONTINUE or STOP. No step ever calls ``sys.exit()``; an
unexpected exception is logged and answered 500, never a dead worker.

Process model: this file runs in Kamailio's main process (``mod_init``: read
the config); each forked process then gets its own Redis client in
``child_init``. ``kamcmd app_python.reload`` re-runs this file, which reloads
the step modules so a code change takes effect without a restart.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Callable

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import KSR  # noqa: E402

from edgecore import config as edgeconfig  # noqa: E402
from kemi import (  # noqa: E402
    auth, calls, cluster, context, domains, failure, fallback, indialog, keepalive, ksrconst, media, methods,
    namespace, nat, peers, policy, pool, poller, registrar, relay, replies, sanity, security, stepprofile,
    tenant, web,
)

_STEP_MODULES = (ksrconst, calls, replies, peers, cluster, security, sanity, nat, keepalive, indialog, methods, namespace,
                 auth, registrar, tenant, domains, policy, pool, media, relay, failure, fallback, poller, web,
                 stepprofile)
if getattr(sys.modules.get("kemi"), "_edge_loaded", False):      # app_python.reload
    for _m in _STEP_MODULES:
        importlib.reload(_m)
sys.modules["kemi"]._edge_loaded = True  # type: ignore[attr-defined]

STOP = ksrconst.STOP
PROC_MAIN = 0          # Kamailio core: rank passed to child_init in the main process

REQUEST_STEPS = (
    cluster.classify_source,      # peer edge nodes trusted (by address and port)
    cluster.dmq,                  # KDMQ: registrations replicated between nodes
    pool.classify_source,         # pool members trusted; X-Edge-* stripped from others
    security.screen,              # size, scanners, bans, floods: dropped before any work
    sanity.check,                 # Max-Forwards, malformed requests
    nat.detect,                   # NATed sender: rport, received, flags
    keepalive.options,            # OPTIONS to the edge itself
    indialog.cancel,              # CANCEL: to the INVITE transaction it cancels
    indialog.within,              # in-dialog requests: by the recorded route set
    methods.refuse_unsupported,   # methods the edge does not route
    indialog.retransmission,      # retransmitted initial requests: tm absorbs them
    cluster.deliver,              # a peer's call to a device this node holds
    auth.authenticate,            # digest against the read model (401/407/503)
    registrar.register,           # REGISTER: save under the tenant-scoped AOR
    tenant.resolve,               # INVITE: dialled number -> tenant, target, decision
    domains.check,                # INVITE: a domain the edge does not serve: refused
    calls.open,                   # INVITE: the call's dialog, CDR fields, counters
    policy.enforce,               # INVITE: 403 cross-tenant / 404 / 484
    policy.limit_calls,           # INVITE: concurrent-call limits (device, tenant)
    pool.route,                   # ring groups, recorded calls: the media pool
    relay.to_device,              # INVITE to a device: every registered contact
    fallback.not_routed,          # anything left: a clean final reply
)
# the steps as the per-step profile names them (edgecore/stepprofile.py)
STEP_NAMES = tuple(f"{s.__module__.rsplit('.', 1)[-1]}.{s.__name__}" for s in REQUEST_STEPS)

# Steps that act on some request methods only: their own first check passes
# any other method on untouched, so a request of a method named here runs
# REQUEST_STEPS without them (same order, same outcome, fewer Python calls:
# a REGISTER skips 5 steps, an INVITE 4). tests/route/test_step_dispatch.py
# runs every step left out against its methods and checks it does nothing.
Step = Callable[[context.Request], int]
Chain = tuple[tuple[Step, ...], tuple[str, ...]]          # steps and their profile names
ONLY_FOR: dict[Step, set[str] | frozenset[str]] = {
    cluster.dmq: {"KDMQ"},
    keepalive.options: {"OPTIONS"},
    indialog.cancel: {"CANCEL"},
    registrar.register: {"REGISTER"},
    # an INVITE's plan (tenant.resolve) is what the rest acts on
    tenant.resolve: {"INVITE"}, domains.check: {"INVITE"}, calls.open: {"INVITE"},
    policy.enforce: {"INVITE"}, policy.limit_calls: {"INVITE"}, pool.route: {"INVITE"},
    relay.to_device: {"INVITE"},
}
NOT_FOR: dict[Step, set[str] | frozenset[str]] = {
    methods.refuse_unsupported: methods.INITIAL,
    cluster.deliver: {"REGISTER", "CANCEL", "ACK"},
}
# the methods with a chain of their own; any other runs every step
DISPATCHED = ("REGISTER", "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "KDMQ")


def chains(steps: tuple[Step, ...], names: tuple[str, ...]) -> dict[str, Chain]:
    """Each dispatched method's (steps, names): ``steps`` without those that
    never act on it."""
    out = {}
    for method in DISPATCHED:
        kept = [(s, n) for s, n in zip(steps, names)
                if method in ONLY_FOR.get(s, (method,)) and method not in NOT_FOR.get(s, ())]
        out[method] = (tuple(s for s, _ in kept), tuple(n for _, n in kept))
    return out


_CHAINS: tuple[tuple[Step, ...], dict[str, Chain]] = ((), {})   # built from, by method


def _chain(method: object) -> Chain:
    global _CHAINS
    if _CHAINS[0] is not REQUEST_STEPS:      # first request (or a test replaced the steps)
        _CHAINS = (REQUEST_STEPS, chains(REQUEST_STEPS, STEP_NAMES))
    return _CHAINS[1].get(str(method)) or (REQUEST_STEPS, STEP_NAMES)


class EdgeRouter:
    def __init__(self, cfg: edgeconfig.Config):
        self.cfg = cfg

    def child_init(self, rank: int) -> int:
        # rank 0 (PROC_MAIN) is Kamailio's main process, which forks the others
        # and routes nothing: a client made there would be inherited, and its
        # imports (logging) would trip Python's fork hooks in every child
        if rank != PROC_MAIN:
            context.init_worker(self.cfg)
        return 0

    def ksr_request_route(self, msg: object) -> int:
        req = context.Request()
        timed = stepprofile.sample("request")
        context.begin_request()
        try:
            steps, names = _chain(KSR.kx.get_method())
            if timed is None:
                for step in steps:
                    if step(req) == STOP:
                        break
            else:
                _timed_steps(req, timed, steps, names)
        except UnicodeDecodeError:
            # SIP text is UTF-8 (RFC 3261 section 7.3.1, 25); app_python3 cannot
            # hand a step a field that is not: a malformed request, not a fault
            KSR.info("edge: request with non-UTF-8 text from %s:%s refused\n"
                     % (KSR.kx.get_srcip(), KSR.kx.get_srcport()))
            if not KSR.is_ACK():
                KSR.sl.send_reply(400, "Bad Request - Not UTF-8")
        except Exception:
            KSR.err("edge: unexpected error routing a request: %s\n"
                    % traceback.format_exc().replace("\n", " | "))
            if not KSR.is_ACK():
                # inside the transaction if there is one (and only once); a
                # call already recorded gets it statefully, so its CDR says
                # 500 -- what the caller heard -- not a 408 at expiry
                try:
                    replies.fault(500, "Server Internal Error")
                except Exception:
                    KSR.sl.send_reply(500, "Server Internal Error")
        finally:
            context.end_request()
        if timed is not None:
            timed.publish()
        return 1

    # transaction routes armed by kemi.relay.forward()
    def ksr_branch_manage(self, msg: object) -> int:
        return _guarded(relay.on_branch, "branch")

    def ksr_onreply_manage(self, msg: object) -> int:
        return _guarded(relay.on_reply, "reply")

    def ksr_failure_manage(self, msg: object) -> int:
        return _guarded(failure.on_failure, "failure")

    # HTTP and WebSocket events of the WSS port (features/websocket.cfg)
    def ksr_xhttp_event(self, msg: object, evname: str = "") -> int:
        return _guarded(web.on_request, "xhttp")

    def ksr_dialog_event(self, msg: object, evname: str = "") -> int:
        # called on every state change of every dialog (4 per answered call);
        # only an end or a failure has work: the others return at once
        if evname not in calls.DIALOG_ENDS:
            return 1

        def dialog_ended() -> None:
            policy.release(evname)
            calls.on_dialog_event(evname)
        return _guarded(dialog_ended, "dialog")

    def ksr_websocket_event(self, msg: object, evname: str = "") -> int:
        return _guarded(lambda: web.on_websocket(evname), "websocket")

    def ksr_resolve_peers(self, msg: object, evname: str | None = None) -> int:
        return _guarded(peers.refresh_peers)       # timer process, features/cluster.cfg

    def ksr_poll_read_model(self, msg: object, evname: str | None = None) -> int:
        try:
            poller.poll()
        except Exception:
            KSR.err("edge: read-model poll failed: %s\n" % traceback.format_exc())
        return 1

    def ksr_flush_notes(self, msg: object, evname: str | None = None) -> int:
        try:
            poller.flush_notes()             # timer process of its own (kamailio/core.cfg)
        except Exception:
            KSR.err("edge: writing the queued notes failed: %s\n" % traceback.format_exc())
        return 1


def _timed_steps(req: context.Request, timed: stepprofile.Sample, steps: tuple[Step, ...],
                 names: tuple[str, ...]) -> None:
    """The request steps of a timed run (kemi/stepprofile.py), each timed."""
    clock = stepprofile.clock
    for step, name in zip(steps, names):
        t0 = clock()
        done = step(req) == STOP
        timed.add(name, clock() - t0)
        if done:
            break


def _guarded(fn: Callable[[], None], route: str | None = None) -> int:
    timed = stepprofile.sample(route) if route else None
    t0 = stepprofile.clock() if timed is not None else 0
    try:
        fn()
    except UnicodeDecodeError:          # a reply or event carrying non-UTF-8 text
        KSR.info("edge: %s skipped a message with non-UTF-8 text\n" % fn.__name__)
    except Exception:
        KSR.err("edge: unexpected error in %s: %s\n"
                % (fn.__name__, traceback.format_exc().replace("\n", " | ")))
    if timed is not None:
        name = fn.__name__ if fn.__name__ != "<lambda>" else route or ""
        timed.add(f"{fn.__module__.rsplit('.', 1)[-1]}.{name}", stepprofile.clock() - t0)
        timed.publish()
    return 1


def mod_init() -> EdgeRouter:
    cfg = edgeconfig.load()
    context.CONFIG = cfg
    KSR.info(f"edge: KEMI routing loaded for node {cfg.node.name}\n")
    return EdgeRouter(cfg)
