"""Request limits and the access log, in front of every route.

- Bodies larger than ``max_body_bytes`` are refused with 413 before they are read in full.
- JSON is parsed with orjson and refused with 422 if nested deeper than ``max_json_depth``
  (no fragment is deeper than about 6; a deep document is an attack on the parser).
- The access log names the route template (``/people/{person_id}``), never the path or
  query string: those carry names and ids, and logs must not hold personal data.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import ApiProblem, problem_response

access_log = logging.getLogger("jigsaw.access")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes (by Content-Length, or as they stream)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(scope, receive, send)
                    return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return msg

        async def watch(msg: Message) -> None:
            nonlocal started
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted, watch)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        resp = problem_response(
            413,
            f"the request body is larger than {self.limit:,} bytes; send fewer fragments at a time",
            kind="too-large",
        )
        await resp(scope, receive, send)


class _TooLarge(Exception):
    pass


class AccessLog:
    """One line per request: method, route template, status, milliseconds. Nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def watch(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, watch)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "(no route)")
            access_log.info("%s %s %d %.1fms", scope.get("method"), template, status, (time.perf_counter() - t0) * 1e3)


def depth_exceeds(value: Any, limit: int) -> bool:
    """Is ``value`` (parsed JSON) nested more than ``limit`` deep? Iterative: no recursion."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            if d > limit:
                return True
            stack.extend((x, d + 1) for x in v)
    return False


class JsonRequest(Request):
    """Parses JSON with orjson and refuses documents nested too deep."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                # FastAPI answers a JSONDecodeError as a 422 naming the body
                raise json.JSONDecodeError(str(exc.msg), "", exc.pos) from None
            limit = self.app.state.settings.max_json_depth
            if depth_exceeds(parsed, limit):
                raise ApiProblem(422, f"the JSON is nested deeper than {limit} levels", field="(body)")
            self._json = parsed
        return self._json


class JsonRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return run
