"""Errors of the administration API as RFC 9457 problem details
(``application/problem+json``): the service layer's refusal, typed, with
its one-line message as ``detail``."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from edgectl.db import EdgeError
from edgectl.service import Conflict, Forbidden, NotFound, QuotaExceeded
from edgectl.service.accounts import LoginRefused

log = logging.getLogger("edgectl.api")
MEDIA_TYPE = "application/problem+json"        # RFC 9457 section 3

# (status, type, title) per kind of refusal
_KINDS: list[tuple[type[EdgeError], int, str, str]] = [
    (NotFound, 404, "not-found", "No such object"),
    (Forbidden, 403, "forbidden", "Not allowed for this account"),
    (QuotaExceeded, 409, "quota-exceeded", "Tenant quota exceeded"),
    (Conflict, 409, "conflict", "Conflicts with the current state"),
    (LoginRefused, 401, "login-refused", "Login refused"),
]
_BY_STATUS = {400: ("bad-request", "Bad request"), 401: ("unauthorized", "Not signed in"),
              403: ("forbidden", "Not allowed for this account"),
              404: ("not-found", "No such object"),
              405: ("method-not-allowed", "Method not allowed"),
              422: ("invalid-request", "Invalid request"),
              429: ("too-many-requests", "Too many login attempts"),
              500: ("internal", "Internal error"),
              503: ("unavailable", "A store of the edge cannot be reached")}


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of the API is."""
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


# declared on every operation of the OpenAPI document
RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"description": desc,
           "content": {MEDIA_TYPE: {"schema": Problem.model_json_schema()}}}
    for code, desc in ((400, "Bad input"), (401, "Not signed in"),
                       (403, "Not allowed for this account"),
                       (404, "No such object (or not this account's to know)"),
                       (409, "Conflict or tenant quota exceeded"),
                       (422, "Invalid request"), (503, "A store cannot be reached"))}


class ProblemResponse(JSONResponse):
    """A problem document in ASCII (non-ASCII escaped, as JSON allows): a
    detail quoting the request's own bytes reads the same whatever charset a
    client assumes for a media type that names none."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem(status: int, detail: str, instance: str | None = None, kind: str | None = None,
            title: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    k, t = _BY_STATUS.get(status, ("error", "Error"))
    body = {"type": f"/problems/{kind or k}", "title": title or t, "status": status,
            "detail": detail, **extra}
    if instance:
        body["instance"] = instance
    return ProblemResponse(body, status_code=status, headers=headers)


def of_error(exc: EdgeError, instance: str) -> JSONResponse:
    for cls, status, kind, title in _KINDS:
        if isinstance(exc, cls):
            return problem(status, str(exc), instance, kind, title)
    if str(exc).startswith("cannot reach") or "read model is not loaded" in str(exc):
        return problem(503, str(exc), instance)
    return problem(400, str(exc), instance)


def install(app: Any) -> None:
    @app.exception_handler(EdgeError)
    async def _edge(request: Request, exc: EdgeError) -> JSONResponse:
        return of_error(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"where": ".".join(str(x) for x in e.get("loc", ())), "problem": e.get("msg")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"where": "request", "problem": "invalid"}
        return problem(422, f"{first['where']}: {first['problem']}", request.url.path,
                       errors=errors)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a store that cannot be reached is the edge's trouble, not the
        # request's: 503, one line; anything else a bare 500, no internals
        from edgectl.cli import store_error

        line = store_error(exc, None)
        if line is None and type(exc).__name__ == "PoolTimeout":
            line = "cannot reach PostgreSQL: no connection available"
        if line is not None:
            return problem(503, line, request.url.path)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal error (logged)", request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), request.url.path,
                       headers=getattr(exc, "headers", None))
