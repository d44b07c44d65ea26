"""The HTTP API: ``create_app(settings=None, store=None)``.

Everything is built in the factory: settings (from JIGSAW_* variables and .env) when it
is called, the store when the app starts (its lifespan), so importing this module does
nothing and tests can build as many apps as they like. Pass ``store`` to serve a store
you opened yourself (it is then yours to close).

Every route but /health and /ready needs a bearer token and a declared purpose, and
reads through the caller's view (graph.view): what a route answers is what that reader
may see, for that purpose, now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth import OidcVerifier
from api.limits import AccessLog, BodyLimit, JsonRoute
from api.routers import admin, audit, events, fragments, health, incidents, meaning, pages, patterns, people, shares
from api.settings import Settings
from api.webhooks import deliver_due
from graph.embedded import EmbeddedStore
from graph.errors import StoreError
from graph.store import Store
from ingest.glossary import load_glossary
from ingest.linkage import Linker

log = logging.getLogger("jigsaw.api")

DOCS_ASSETS = "/docs-assets"
# The API serves JSON, and /docs: its page and assets come from this server only.
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Headers on every answer: a Content-Security-Policy, no sniffing, no caching of
    records in browsers or proxies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                names = {k.lower() for k, _ in msg.get("headers", ())}
                msg["headers"] = list(msg.get("headers", ())) + [h for h in SECURITY_HEADERS if h[0] not in names]
            await send(msg)

        await self.app(scope, receive, add)


def _swagger_assets() -> Path:
    """Swagger UI's files, from the fastapi-offline package (no CDN at run time)."""
    return Path(str(resources.files("fastapi_offline") / "static"))


def open_store(settings: Settings) -> Store:
    """The store these settings name: the embedded SQLite file, or Neo4j (docs/scaling.md)."""
    matcher = Linker.from_file(settings.linkage_model)
    if settings.backend == "neo4j":
        from graph.neo4j_store import Neo4jStore  # the driver is an optional extra

        if not settings.neo4j_uri:
            raise StoreError("JIGSAW_BACKEND=neo4j needs NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD)")
        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        return Neo4jStore.open(
            settings.neo4j_uri,
            settings.neo4j_user,
            password,
            database=settings.neo4j_database,
            matcher=matcher,
        )
    return EmbeddedStore.open(settings.store, busy_timeout=settings.busy_timeout, matcher=matcher)


async def _deliver_forever(store: Store, interval: float) -> None:
    """Send due webhook deliveries every ``interval`` seconds (in a worker thread: the
    store and the HTTP calls block), until the app stops."""
    while True:
        try:
            await asyncio.to_thread(deliver_due, store)
        except Exception:  # a failed run is retried at the next interval; never personal data in the log
            log.exception("webhook delivery run failed")
        await asyncio.sleep(interval)


async def _derive_forever(store: Store, interval: float) -> None:
    """Write the derived graph behind the writes (``Store.write_derived``) every
    ``interval`` seconds, round after round while there is more, until the app stops."""
    while True:
        try:
            while await asyncio.to_thread(store.write_derived):
                pass
        except Exception:  # retried at the next interval; never personal data in the log
            log.exception("derived graph run failed")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the Jigsaw API. ``settings`` default: from the environment (and .env), now."""
    settings = settings or Settings()
    owned = store is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.store is None:
            app.state.store = open_store(settings)
        sender = (
            asyncio.create_task(_deliver_forever(app.state.store, settings.webhook_interval))
            if settings.webhook_interval > 0
            else None
        )
        projector = (
            asyncio.create_task(_derive_forever(app.state.store, settings.derived_interval))
            if settings.derived_interval > 0
            else None
        )
        try:
            yield
        finally:
            for task in (sender, projector):
                if task is not None:
                    task.cancel()
            if owned and app.state.store is not None:
                app.state.store.close()
                app.state.store = None

    app = FastAPI(
        title="Jigsaw",
        version="0.1.0",
        summary="Multi-agency safeguarding chronologies: add fragments, read what you may see, share with reasons.",
        description=(
            "Every request but /health and /ready carries `Authorization: Bearer <token>` and declares its "
            "purpose (`X-Jigsaw-Purpose` header or `?purpose=`). What you are shown is what your agency, "
            "roles, cases and share grants allow, for that purpose, now; every read is audited. "
            "Errors are RFC 9457 problem details naming the field and the reason."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = JsonRoute
    app.state.settings = settings
    app.state.store = store
    app.state.oidc = OidcVerifier(settings) if settings.oidc_enabled else None
    app.state.glossary = load_glossary(settings.glossary)
    problems.install(app)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, saying what the app really answers on error (problems.document)."""
        if app.openapi_schema is None:
            app.openapi_schema = problems.document(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    for module in (fragments, meaning, people, events, incidents, shares, patterns, audit, admin, health):
        app.include_router(module.router)
    pages.install(app)  # the meeting view: HTML pages under /pages, same tokens, their own CSP

    if settings.docs:
        app.mount(DOCS_ASSETS, StaticFiles(directory=_swagger_assets()), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs(request: Request) -> HTMLResponse:
            root = request.scope.get("root_path", "")
            return get_swagger_ui_html(
                openapi_url=f"{root}/openapi.json",
                title="Jigsaw API",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            )

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    return app
