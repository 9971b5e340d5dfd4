"""The administration HTTP API (FastAPI; its OpenAPI document at
``/api/openapi.json``) and the web console's static files.

Every route is a thin shell over ``edgectl.service``: it turns the request
into one service call for the signed-in account's :class:`Actor`, so the
API and ``edgectl`` share validation, transactions, quotas, the audit trail
and the tenant scope (another tenant's object: 404). Lists take ``limit`` /
``offset`` and filters, and answer ``{items, total, limit, offset}``.
Errors are RFC 9457 problem documents (``edgectl.api.problems``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from edgecore.config import Config
from edgectl.api import models as m
from edgectl.api import problems
from edgectl.service import MAX_LIMIT, Actor, Connect, Page, Service, service

CONSOLE_DIR = Path(__file__).resolve().parent / "console"
_bearer = HTTPBearer(auto_error=False)


class LoginLimiter:
    """At most ``per_minute`` login attempts per source address in any
    60 s window (RFC 6585 429 beyond), before any password is checked."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, who: str) -> bool:
        now = self.clock()
        with self._lock:
            q = self._seen.setdefault(who, deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            if len(self._seen) > 10_000:         # forget idle sources
                for k in [k for k, v in self._seen.items() if not v]:
                    del self._seen[k]
            return True


def create_app(cfg: Config, connect: Connect | None = None) -> FastAPI:
    app = FastAPI(title="SIP edge administration", version="1",
                  openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None,
                  description="Tenants, numbering, devices, ring groups, the media pool, "
                              "bans, registrations, CDRs and the audit trail of the SIP "
                              "edge. Errors are RFC 9457 problem documents.")
    problems.install(app)
    limiter = LoginLimiter(cfg.api.logins_per_minute)
    anonymous = Actor("api:anonymous", "read_only", None)

    def svc_for(actor: Actor) -> Service:
        return service(cfg, actor, connect)

    def current(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Service:
        actor = svc_for(anonymous).actor_of(creds.credentials) if creds else None
        if actor is None:
            raise HTTPException(401, "sign in first (POST /api/v1/auth/login), then send "
                                     "Authorization: Bearer <token>",
                                headers={"WWW-Authenticate": "Bearer"})
        return svc_for(actor)

    def page(limit: int = Query(50, ge=1, le=MAX_LIMIT),
             offset: int = Query(0, ge=0, le=10_000_000)) -> Page:
        return Page(limit, offset)

    S = Depends(current)
    P = Depends(page)
    r = APIRouter(prefix="/api/v1", responses=problems.RESPONSES)

    @app.middleware("http")
    async def _hsts(request: Request, call_next: Any) -> Response:
        resp: Response = await call_next(request)
        resp.headers["Strict-Transport-Security"] = "max-age=31536000"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    # -- accounts ----------------------------------------------------------------------------
    @r.post("/auth/login", tags=["accounts"])
    def login(body: m.Login, request: Request) -> dict[str, Any]:
        """A bearer token (expiring; revocable with /auth/logout)."""
        who = request.client.host if request.client else "?"
        if not limiter.allow(who):
            raise HTTPException(429, "too many login attempts from this address; "
                                     "wait a minute", headers={"Retry-After": "60"})
        return svc_for(anonymous).login(body.username, body.password, body.totp)

    @r.post("/auth/logout", tags=["accounts"], status_code=204)
    def logout(s: Service = S, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
               ) -> Response:
        if creds:
            s.revoke(creds.credentials)
        return Response(status_code=204)

    @r.get("/auth/me", tags=["accounts"])
    def me(s: Service = S) -> dict[str, Any]:
        a = s.actor
        return {"username": a.name.removeprefix("api:"), "role": a.role, "tenant": a.tenant}

    @r.put("/auth/password", tags=["accounts"], status_code=204)
    def own_password(body: m.PasswordIn, s: Service = S) -> Response:
        s.user_passwd(s.actor.name.removeprefix("api:"), body.password)
        return Response(status_code=204)

    @r.get("/users", tags=["accounts"])
    def users(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10)
              ) -> dict[str, Any]:
        return s.users(p, tenant)

    @r.post("/users", tags=["accounts"], status_code=201)
    def user_add(body: m.UserIn, s: Service = S) -> dict[str, Any]:
        return s.user_add(body.username, body.password, body.role, body.tenant, body.totp)

    @r.put("/users/{username}/password", tags=["accounts"], status_code=204)
    def user_passwd(username: str, body: m.PasswordIn, s: Service = S) -> Response:
        s.user_passwd(username, body.password)
        return Response(status_code=204)

    @r.put("/users/{username}/totp", tags=["accounts"])
    def user_totp(username: str, body: m.TotpIn, s: Service = S) -> dict[str, Any]:
        """Require a TOTP code at login (the new secret is in this answer
        only) or stop requiring one; a user may do it for itself."""
        return s.user_totp(username, body.enabled)

    @r.delete("/users/{username}", tags=["accounts"], status_code=204)
    def user_remove(username: str, s: Service = S) -> Response:
        s.user_remove(username)
        return Response(status_code=204)

    # -- tenants ---------------------------------------------------------------------------------
    @r.get("/tenants", tags=["tenants"])
    def tenants(s: Service = S, p: Page = P, q: str | None = Query(None, max_length=100)
                ) -> dict[str, Any]:
        return s.tenants(p, q)

    @r.post("/tenants", tags=["tenants"], status_code=201)
    def tenant_add(body: m.TenantIn, s: Service = S) -> dict[str, Any]:
        return s.tenant_add(body.id, body.name, body.global_access, body.recording,
                            body.domain, body.max_calls, body.max_devices, body.max_ring_groups,
                            body.recording_required)

    @r.get("/tenants/{tenant}", tags=["tenants"])
    def tenant(tenant: str, s: Service = S) -> dict[str, Any]:
        return s.tenant(tenant)

    @r.patch("/tenants/{tenant}", tags=["tenants"])
    def tenant_set(tenant: str, body: m.TenantPatch, s: Service = S) -> dict[str, Any]:
        return s.tenant_set(tenant, **body.model_dump(exclude_unset=True))

    @r.delete("/tenants/{tenant}", tags=["tenants"], status_code=204)
    def tenant_remove(tenant: str, s: Service = S, cascade: bool = False) -> Response:
        s.tenant_remove(tenant, cascade)
        return Response(status_code=204)

    @r.get("/tenants/{tenant}/overview", tags=["tenants"])
    def overview(tenant: str, s: Service = S) -> dict[str, Any]:
        """Devices online/offline, ring groups, today's calls and failures."""
        return s.overview(tenant)

    # -- ranges ----------------------------------------------------------------------------------
    @r.get("/ranges", tags=["ranges"])
    def ranges(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
               scope: str | None = Query(None, pattern="^(local|global)$")) -> dict[str, Any]:
        return s.ranges(tenant, p, scope)

    @r.post("/tenants/{tenant}/ranges", tags=["ranges"], status_code=201)
    def range_add(tenant: str, body: m.RangeIn, s: Service = S) -> dict[str, Any]:
        scope = s.range_add(tenant, body.first, body.last, body.scope)
        return {"tenant": tenant, "first": body.first, "last": body.last, "scope": scope}

    @r.delete("/tenants/{tenant}/ranges/{first}/{last}", tags=["ranges"], status_code=204)
    def range_remove(tenant: str, first: str, last: str, s: Service = S) -> Response:
        s.range_remove(tenant, first, last)
        return Response(status_code=204)

    # -- devices ---------------------------------------------------------------------------------
    @r.get("/devices", tags=["devices"])
    def devices(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
                q: str | None = Query(None, max_length=100)) -> dict[str, Any]:
        """Devices; ``q``: an extension prefix or part of the name."""
        return s.devices(tenant, p, q)

    @r.post("/tenants/{tenant}/devices", tags=["devices"], status_code=201)
    def device_add(tenant: str, body: m.DeviceIn, s: Service = S) -> dict[str, Any]:
        """Add a device with a password (stored as HA1 only, never returned)
        or an imported HA1."""
        s.device_add(tenant, body.extension, password=body.password, ha1=body.ha1,
                     auth_username=body.auth_username, display_name=body.display_name,
                     max_calls=body.max_calls)
        return {**s.device(tenant, body.extension), "realm": cfg.auth.realm}

    @r.get("/tenants/{tenant}/devices/{extension}", tags=["devices"])
    def device(tenant: str, extension: str, s: Service = S) -> dict[str, Any]:
        return s.device(tenant, extension)

    @r.patch("/tenants/{tenant}/devices/{extension}", tags=["devices"])
    def device_set(tenant: str, extension: str, body: m.DevicePatch, s: Service = S
                   ) -> dict[str, Any]:
        return s.device_set(tenant, extension, **body.model_dump(exclude_unset=True))

    @r.put("/tenants/{tenant}/devices/{extension}/password", tags=["devices"],
           status_code=204)
    def device_passwd(tenant: str, extension: str, body: m.PasswordIn, s: Service = S
                      ) -> Response:
        s.device_passwd(tenant, extension, body.password)
        return Response(status_code=204)

    @r.post("/tenants/{tenant}/devices/{extension}/password/rotate", tags=["devices"])
    def device_rotate(tenant: str, extension: str, s: Service = S) -> dict[str, Any]:
        """A new generated password, shown in this answer only."""
        return {"password": s.device_passwd(tenant, extension, None)}

    @r.delete("/tenants/{tenant}/devices/{extension}", tags=["devices"], status_code=204)
    def device_remove(tenant: str, extension: str, s: Service = S) -> Response:
        s.device_remove(tenant, extension)
        return Response(status_code=204)

    # -- ring groups -----------------------------------------------------------------------------
    @r.get("/ringgroups", tags=["ring groups"])
    def ringgroups(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
                   q: str | None = Query(None, max_length=100)) -> dict[str, Any]:
        return s.ringgroups(tenant, p, q)

    @r.post("/tenants/{tenant}/ringgroups", tags=["ring groups"], status_code=201)
    def ringgroup_add(tenant: str, body: m.RingGroupIn, s: Service = S) -> dict[str, Any]:
        s.ringgroup_add(tenant, body.number, body.name, body.strategy, body.ring_timeout,
                        body.members)
        return s.ringgroup(tenant, body.number)

    @r.get("/tenants/{tenant}/ringgroups/{number}", tags=["ring groups"])
    def ringgroup(tenant: str, number: str, s: Service = S) -> dict[str, Any]:
        return s.ringgroup(tenant, number)

    @r.patch("/tenants/{tenant}/ringgroups/{number}", tags=["ring groups"])
    def ringgroup_set(tenant: str, number: str, body: m.RingGroupPatch, s: Service = S
                      ) -> dict[str, Any]:
        return s.ringgroup_set(tenant, number, **body.model_dump(exclude_unset=True))

    @r.post("/tenants/{tenant}/ringgroups/{number}/members", tags=["ring groups"])
    def members_add(tenant: str, number: str, body: m.MembersIn, s: Service = S
                    ) -> dict[str, Any]:
        s.ringgroup_members_add(tenant, number, body.extensions)
        return s.ringgroup(tenant, number)

    @r.delete("/tenants/{tenant}/ringgroups/{number}/members/{extension}",
              tags=["ring groups"], status_code=204)
    def member_remove(tenant: str, number: str, extension: str, s: Service = S) -> Response:
        s.ringgroup_members_remove(tenant, number, [extension])
        return Response(status_code=204)

    @r.delete("/tenants/{tenant}/ringgroups/{number}", tags=["ring groups"], status_code=204)
    def ringgroup_remove(tenant: str, number: str, s: Service = S) -> Response:
        s.ringgroup_remove(tenant, number)
        return Response(status_code=204)

    # -- exceptions ------------------------------------------------------------------------------
    @r.get("/exceptions", tags=["exceptions"])
    def exceptions(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10)
                   ) -> dict[str, Any]:
        return s.exceptions(tenant, p)

    @r.post("/exceptions", tags=["exceptions"], status_code=201)
    def exception_add(body: m.ExceptionIn, s: Service = S) -> dict[str, Any]:
        s.exception_add(body.from_tenant, body.to_tenant, body.both_ways)
        return body.model_dump()

    @r.delete("/exceptions/{from_tenant}/{to_tenant}", tags=["exceptions"], status_code=204)
    def exception_remove(from_tenant: str, to_tenant: str, s: Service = S,
                         both_ways: bool = False) -> Response:
        s.exception_remove(from_tenant, to_tenant, both_ways)
        return Response(status_code=204)

    # -- the media pool --------------------------------------------------------------------------
    @r.get("/pool", tags=["pool"])
    def pool(s: Service = S, p: Page = P,
             state: str | None = Query(None, pattern="^(active|draining)$")) -> dict[str, Any]:
        return s.pool(p, state)

    @r.post("/pool", tags=["pool"], status_code=201)
    def pool_add(body: m.PoolIn, s: Service = S) -> dict[str, Any]:
        return {"uri": s.pool_add(body.uri, body.weight, body.description)}

    @r.patch("/pool/{uri}", tags=["pool"])
    def pool_set(uri: str, body: m.PoolPatch, s: Service = S) -> dict[str, Any]:
        if body.state is None and body.weight is None:
            raise problems_error("nothing to change")
        if body.state is not None:
            uri = s.pool_state(uri, body.state)
        if body.weight is not None:
            uri = s.pool_weight(uri, body.weight)
        return {"uri": uri}

    @r.delete("/pool/{uri}", tags=["pool"], status_code=204)
    def pool_remove(uri: str, s: Service = S, force: bool = False) -> Response:
        s.pool_remove(uri, force)
        return Response(status_code=204)

    # -- bans ------------------------------------------------------------------------------------
    @r.get("/bans", tags=["bans"])
    def bans(s: Service = S, p: Page = P) -> dict[str, Any]:
        return s.bans(p)

    @r.post("/bans", tags=["bans"], status_code=201)
    def ban_add(body: m.BanIn, s: Service = S) -> dict[str, Any]:
        kind, value = s.ban_add(body.target, body.seconds, body.reason)
        return {"kind": "source" if kind == "src" else "identity", "who": value}

    @r.delete("/bans/{target}", tags=["bans"], status_code=204)
    def ban_remove(target: str, s: Service = S) -> Response:
        s.ban_remove(target)
        return Response(status_code=204)

    # -- the running edge ------------------------------------------------------------------------
    @r.get("/registrations", tags=["calls"])
    def registrations(s: Service = S, p: Page = P,
                      tenant: str | None = Query(None, max_length=10),
                      q: str | None = Query(None, max_length=20)) -> dict[str, Any]:
        """Who is online, from where (every registered contact)."""
        return s.registrations(tenant, p, q)

    @r.get("/cdrs", tags=["calls"])
    def cdrs(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
             call_id: str | None = Query(None, max_length=255),
             caller: str | None = Query(None, max_length=64),
             callee: str | None = Query(None, max_length=64),
             since: datetime | None = None, until: datetime | None = None,
             answered: bool | None = None, failed: bool | None = None) -> dict[str, Any]:
        """Call detail records, newest first (a tenant's: made or received)."""
        return s.cdrs(tenant, p, call_id=call_id, caller=caller, callee=callee, since=since,
                      until=until, answered=answered, failed=failed)

    @r.get("/recordings", tags=["calls"])
    def recordings(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
                   since: datetime | None = None, until: datetime | None = None
                   ) -> dict[str, Any]:
        """Recordings' metadata (the recorded calls, where each file is)."""
        return s.recordings(tenant, p, since=since, until=until)

    @r.get("/explain", tags=["calls"])
    def explain(s: Service = S, caller: str = Query(max_length=80),
                dialled: str = Query(max_length=40)) -> dict[str, Any]:
        """Dry run: what the edge does with a call from CALLER to DIALLED."""
        return s.explain(caller, dialled)

    @r.get("/audit", tags=["audit"])
    def audit(s: Service = S, p: Page = P, tenant: str | None = Query(None, max_length=10),
              actor: str | None = Query(None, max_length=100),
              action: str | None = Query(None, max_length=100),
              since: datetime | None = None) -> dict[str, Any]:
        """The audit trail, newest first (a tenant admin: its tenant's)."""
        return s.audit_log(tenant, p, actor=actor, action=action, since=since)

    @r.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(r)
    if CONSOLE_DIR.is_dir():
        app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    return app


def problems_error(detail: str) -> Exception:
    from edgectl.db import EdgeError
    return EdgeError(detail)
