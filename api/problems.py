"""One error shape for every error: RFC 9457 problem details (application/problem+json).

Every problem names the field and the reason where there is one, never quotes what was
submitted (it may be personal data), and is chosen so that nothing hidden is betrayed:
a record the caller may not know of answers exactly like one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from graph.errors import ConflictError, JigsawError, NotFound, StoreBusy, StoreFull
from ingest.validate import FieldError, error_list

log = logging.getLogger("jigsaw.api")

MEDIA_TYPE = "application/problem+json"


class FieldProblem(BaseModel):
    field: str = Field(description="Where: a dotted path such as people[1].dob, or a parameter name.")
    reason: str = Field(description="Why it was not accepted.")
    index: int | None = Field(None, description="In a batch: which fragment (from 0).")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] = Field(default_factory=list)


class ApiProblem(StarletteHTTPException):
    """Raise to answer with a problem (an HTTPException, so FastAPI lets it through even
    while it is still reading the body)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        errors: Iterable[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(status, detail, dict(headers or {}))
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        if field is not None and not self.errors:
            self.errors = [FieldProblem(field=field, reason=detail)]
        self.headers = dict(headers or {})
        self.kind = kind


def problem_response(
    status: int,
    detail: str,
    *,
    errors: Iterable[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
    kind: str | None = None,
) -> Response:
    phrase = HTTPStatus(status).phrase
    body = {
        "type": f"urn:jigsaw:problem:{kind}" if kind else "about:blank",
        "title": phrase,
        "status": status,
        "detail": detail,
        "errors": [e.model_dump() for e in errors],
    }
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=dict(headers or {}))


def field_problems(errors: Iterable[FieldError], *, index: int | None = None, prefix: str = "") -> list[FieldProblem]:
    return [FieldProblem(field=prefix + e.field, reason=e.reason, index=index) for e in errors]


def _validation_problems(exc: RequestValidationError) -> list[FieldProblem]:
    out = []
    for raw in exc.errors():
        loc = tuple(raw.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:]
        index = None
        if where == "body" and len(rest) >= 2 and rest[0] == "fragments" and isinstance(rest[1], int):
            index = rest[1]
        (fe,) = error_list([{**raw, "loc": rest}], extra="not a field of this request")
        if raw.get("type") == "json_invalid":
            fe = FieldError("(body)", "is not valid JSON")
        field = fe.field if where == "body" else (fe.field if fe.field != "(fragment)" else str(where))
        if field == "(fragment)":
            field = "(body)"
        out.append(FieldProblem(field=field, reason=fe.reason, index=index))
    return out


def _retry_after(request: Request) -> dict[str, str]:
    return {"Retry-After": str(request.app.state.settings.retry_after)}


def install(app: FastAPI) -> None:
    """Answer every error, expected or not, as a problem."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(exc.status, exc.detail, errors=exc.errors, headers=exc.headers, kind=exc.kind)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = _validation_problems(exc)
        return problem_response(
            422, f"{len(errors)} problem(s) with the request; see errors", errors=errors, kind="invalid"
        )

    @app.exception_handler(JigsawError)
    async def _jigsaw(request: Request, exc: JigsawError) -> Response:
        headers = _retry_after(request) if isinstance(exc, StoreBusy | StoreFull) else None
        if exc.status >= 500:
            log.warning("store problem %s on %s", type(exc).__name__, _route(request))
        kind = {NotFound: "not-found", ConflictError: "conflict", StoreBusy: "busy", StoreFull: "full"}.get(type(exc))
        errors = [FieldProblem(field=exc.field, reason=exc.message)] if exc.field else []
        return problem_response(exc.status, exc.message, errors=errors, headers=headers, kind=kind)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such route"
        return problem_response(exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # the exception's type and where, never its message: it may quote a record
        log.error("unexpected %s on %s", type(exc).__name__, _route(request))
        return problem_response(
            500,
            "something went wrong on our side; a retry is safe "
            "(a fragment resent with the same record reference is never stored twice)",
        )


# What a route may answer besides its own statuses, by what it takes: a token (401, 403,
# 422 for no declared purpose, 503 as every authenticated request reads the store),
# parameters or a body (422), a body (413). A route's own description of a status wins.
ERRORS = {
    "401": "No token, or one that is not valid, has expired or was revoked (never says which)",
    "403": "Not for your role or declared purpose",
    "413": "The request body is larger than the server accepts",
    "422": "Not valid (a parameter, the body, or no declared purpose): every problem, by field",
    "503": "The store is busy or its disk is full: retry after Retry-After seconds",
}
_FASTAPI_422 = "Validation Error"


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make an OpenAPI document say what the app answers on error: every 4xx and 5xx is
    a problem (application/problem+json, the ``Problem`` schema), and every route lists
    the errors its token, parameters and body may bring, besides its own."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            statuses = set()
            if operation.get("security"):
                statuses |= {"401", "403", "422", "503"}
            if operation.get("parameters") or "requestBody" in operation:
                statuses.add("422")
            if "requestBody" in operation:
                statuses.add("413")
            for status in sorted(statuses):
                response = responses.setdefault(status, {})
                if response.get("description") in (None, _FASTAPI_422):
                    response["description"] = ERRORS[status]
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            operation["responses"] = dict(sorted(responses.items()))
    used = orjson.dumps(openapi.get("paths", {}))
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body: this app sends problems
        if f"#/components/schemas/{name}".encode() not in used:
            schemas.pop(name, None)
    return openapi


def _route(request: Request) -> str:
    route: Any = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '(no route)')}"
