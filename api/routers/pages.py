"""The meeting view's pages (viz renders them) behind the API's own authentication.

Who you are is the same bearer token the API takes: in the Authorization header, or, for
a browser, in a cookie that signing in sets (HttpOnly, SameSite=Strict, only for
``/pages``, gone when the browser closes). The purpose is declared at sign-in (or in
X-Jigsaw-Purpose) and written to the audit with every page, as for the API. Every page is
rendered from the reader's view (``store.view``), never from the store's projection.

Pages are GET only, but for signing in and out; those check that the form came from this
site (Origin, Sec-Fetch-Site). Every page response carries a strict
Content-Security-Policy: scripts and styles from this server only, no inline script or
style, forms posting only here. The pyvis package's vis-network files and viz's own
static files are served under ``/pages/assets``: nothing is fetched from elsewhere.

Errors are pages too (a bad filter: 422 naming the field; no such person: 404, exactly as
for one the reader may not know of; not signed in: 401 with the sign-in form).
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, authenticate
from api.deps import CONTENT, StoreDep
from api.routers.common import audit, chronology_audit, view_of
from graph.access import Purpose
from graph.chronology import ChronologyFilters, ChronologyLine
from graph.patterns import Flag, selection_of
from graph.patterns.engine import audit_detail
from graph.store import PersonSummary, Store
from graph.view import ReaderView
from viz import network as vnet
from viz import pages
from viz.forms import FilterError, audit_filters, parse_filters

PREFIX = "/pages"
TOKEN_COOKIE = "jigsaw_token"
PURPOSE_COOKIE = "jigsaw_purpose"
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PERSON_ID = re.compile(r"^P[0-9a-f]{16}-[0-9]{1,3}$")
EVENT_ID = re.compile(r"^E[0-9a-f]{16}$")
MAX_FORM_BYTES = 16 * 1024

router = APIRouter(prefix=PREFIX, include_in_schema=False)


class PageProblem(Exception):
    """Answer with an error page: status, a title, what went wrong, and the field if any."""

    def __init__(
        self, status: int, title: str, detail: str, *, field: str | None = None, who: Principal | None = None
    ) -> None:
        super().__init__(status, title)
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.who = who


def links(request: Request) -> pages.Links:
    return pages.Links(request.scope.get("root_path", "") + PREFIX)


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": PAGE_CSP})


def viewer(who: Principal) -> pages.Viewer:
    r = who.reader
    return pages.Viewer(r.id, r.display_name, r.agency, who.purpose.value)


# ---------------------------------------------------------------------- who is asking


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(TOKEN_COOKIE) or None


def _purpose(request: Request) -> Purpose | None:
    raw = request.headers.get("x-jigsaw-purpose") or request.cookies.get(PURPOSE_COOKIE)
    try:
        return Purpose(raw) if raw else None
    except ValueError:
        return None


def reader_of(request: Request, store: Store) -> Principal:
    """The signed-in reader and their purpose, or a 401 page (the sign-in form)."""
    token = _bearer(request)
    reader = authenticate(store, request.app.state.oidc, token) if token else None
    purpose = _purpose(request)
    if reader is None or purpose is None:
        raise PageProblem(401, "Sign in", "Sign in to see this page.")
    who = Principal(reader, purpose)
    if purpose not in CONTENT:
        raise PageProblem(
            403,
            "Not for this purpose",
            f"Pages show case records; you signed in for {purpose.value}. Sign in again for a meeting or case work.",
            field="purpose",
            who=who,
        )
    return who


def _same_site(request: Request) -> bool:
    """A form post from our own pages, not another site's (login and logout CSRF).

    A browser says where a post comes from in Sec-Fetch-Site, which pages cannot forge:
    when it is there it decides. (Origin is no help then: under the pages' no-referrer
    policy Chromium sends ``Origin: null`` even for a same-origin post.) Otherwise an
    Origin, if sent, must be this server's; a client that sends neither is not a
    browser on another site's page, and is let through.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageProblem(413, "Too large", "The form is larger than a sign-in form can be.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10))
    except (UnicodeDecodeError, ValueError):
        raise PageProblem(422, "Not a form", "The sign-in form could not be read.", field="(body)") from None


def _safe_next(request: Request, value: str) -> str:
    root = links(request).root
    if value.startswith(root + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return root + "/"


# ---------------------------------------------------------------------- signing in and out


@router.get("/sign-in")
def sign_in_form(request: Request) -> HTMLResponse:
    nxt = _safe_next(request, request.query_params.get("next", ""))
    return html(pages.sign_in_page(links(request), next_url=nxt))


@router.post("/sign-in")
async def sign_in(request: Request, store: StoreDep) -> Response:
    if not _same_site(request):
        raise PageProblem(403, "Refused", "Sign in from Jigsaw's own sign-in page.")
    form = await _form(request)
    token = form.get("token", "").strip()
    nxt = _safe_next(request, form.get("next", ""))
    try:
        purpose = Purpose(form.get("purpose", ""))
    except ValueError:
        purpose = None
    if purpose is None or purpose not in CONTENT:
        return html(pages.sign_in_page(links(request), message="Choose why you are looking.", next_url=nxt), status=422)
    # authenticating reads the store: off the event loop
    reader = await run_in_threadpool(authenticate, store, request.app.state.oidc, token) if token else None
    if reader is None:
        return html(
            pages.sign_in_page(
                links(request),
                message="That token is not valid, has expired or was revoked.",
                next_url=nxt,
                purpose=purpose.value,
            ),
            status=401,
        )
    resp = RedirectResponse(nxt, status_code=303)
    secure = request.url.scheme == "https"
    path = links(request).root
    for name, value in ((TOKEN_COOKIE, token), (PURPOSE_COOKIE, purpose.value)):
        resp.set_cookie(name, value, path=path, httponly=True, samesite="strict", secure=secure)
    return resp


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    if not _same_site(request):
        raise PageProblem(403, "Refused", "Sign out from Jigsaw's own pages.")
    resp = RedirectResponse(links(request).root + "/sign-in", status_code=303)
    for name in (TOKEN_COOKIE, PURPOSE_COOKIE):
        resp.delete_cookie(name, path=links(request).root, httponly=True, samesite="strict")
    return resp


# ---------------------------------------------------------------------- pages


def _person(v: ReaderView, person_id: str, who: Principal) -> PersonSummary:
    found = v.person(person_id) if PERSON_ID.match(person_id) else None
    if found is None:
        raise PageProblem(404, "Not found", "There is no such person, or none you may see.", who=who)
    return found


def _filters(request: Request, who: Principal) -> ChronologyFilters:
    try:
        return parse_filters(request.query_params.multi_items())
    except FilterError as e:
        raise PageProblem(422, "Check the filters", e.reason, field=e.field, who=who) from None


@router.get("/")
def home(request: Request, store: StoreDep) -> HTMLResponse:
    who = reader_of(request, store)
    q = request.query_params.get("q", "").strip()
    found: list[PersonSummary] | None = None
    if q:
        if not 2 <= len(q) <= 200:
            raise PageProblem(422, "Check the search", "give 2 to 200 characters", field="q", who=who)
        v = view_of(store, who)
        found = v.find_people(q, limit=50)
        kind = "identifier" if sum(c.isdigit() for c in q) >= 6 else "name"
        audit(store, v, "read.search", {"query_kind": kind, "people": [p.person_id for p in found]})
    return html(pages.home_page(links(request), viewer(who), q, found))


@router.get("/people/{person_id}/chronology")
def chronology(request: Request, store: StoreDep, person_id: str) -> HTMLResponse:
    who = reader_of(request, store)
    f = _filters(request, who)
    v = view_of(store, who)
    person = _person(v, person_id, who)
    lines = v.chronology(person_id, f)
    detail = chronology_audit(person_id, lines)
    try:
        engine = store.patterns()
    except NotImplementedError:  # a backend without patterns yet: the page without flags
        flags: list[Flag] = []
    else:
        # the flags above the timeline: part of the same read, so one audit entry says both
        selection = selection_of()
        flags = engine.run_for(store, v, person_id, selection, audited=False) or []
        found = audit_detail(selection, flags, [person_id])
        shown = [str(x) for x in detail["fragments"]]  # type: ignore[attr-defined]
        detail = {
            **detail,
            "fragments": sorted({*shown, *found["fragments"]}),
            "patterns": found["patterns"],
            "flags": found["flags"],
        }
    audit(store, v, "read.chronology", detail)
    body = pages.chronology_page(
        links(request), viewer(who), person, lines, f, flags, glossary=request.app.state.glossary
    )
    return html(body)


def _radius(request: Request, who: Principal) -> int:
    raw = request.query_params.get("radius", "1")
    if raw not in ("1", "2", "3"):
        raise PageProblem(422, "Check the network", "is 1, 2 or 3 steps", field="radius", who=who)
    return int(raw)


def _names(v: ReaderView, lines: list[ChronologyLine]) -> dict[str, str]:
    return {p.person_id: p.name for ln in lines for p in ln.people}


def _namer(v: ReaderView, names: dict[str, str]) -> Any:
    """Names of people as this reader knows them: from their chronology, else from the
    view (a person with no visible name: a description, or a protected pseudonym)."""

    def name(ident: str, d: dict[str, Any]) -> str:
        got = names.get(ident)
        if got is None:
            if d.get("name"):
                got = str(d["name"])
            else:
                found = v.person(ident)
                got = pages.person_title(found) if found else "Unnamed person"
            names[ident] = got
        return got

    return name


def _network_fragments(g: Any) -> list[str]:
    return sorted({s for _, d in g.nodes(data=True) for s in d.get("sources", ())})


@router.get("/people/{person_id}/network")
def network_page(request: Request, store: StoreDep, person_id: str) -> HTMLResponse:
    who = reader_of(request, store)
    radius = _radius(request, who)
    v = view_of(store, who)
    person = _person(v, person_id, who)
    g = v.network(person_id, radius=radius)
    lines = v.chronology(person_id)
    names = _names(v, lines)
    namer = _namer(v, names)
    for node, d in g.nodes(data=True):
        if node[0] == "person":
            namer(str(node[1]), d)
    agency_names = {s.agency: s.agency_name for ln in lines for s in ln.sources}
    held = [ln for ln in lines if ln.held_back]
    audit(
        store,
        v,
        "read.network",
        {"people": [person_id], "fragments": _network_fragments(g), "held_back": len(held), "radius": radius},
    )
    body = pages.network_page(
        links(request),
        viewer(who),
        person,
        g,
        radius=radius,
        held=held,
        names=names,
        agency_names=agency_names,
    )
    return html(body)


@router.get("/events/{event_id}")
def event_page(request: Request, store: StoreDep, event_id: str) -> HTMLResponse:
    who = reader_of(request, store)
    v = view_of(store, who)
    line = v.event(event_id) if EVENT_ID.match(event_id) else None
    if line is None:
        raise PageProblem(404, "Not found", "There is no such event, or none you may see.", who=who)
    person = request.query_params.get("person")
    if person is not None and not PERSON_ID.match(person):
        person = None
    sources = []
    history: dict[str, list[dict[str, Any]]] = {}
    read = []
    for s in line.sources:
        doc = v.fragment(s.fragment_id)
        if doc is None:
            continue
        sources.append({**doc, "id": s.fragment_id})
        read.append(s.fragment_id)
        earlier = []
        for fid in s.replaces:
            old = v.fragment(fid)
            if old is not None:
                earlier.append({**old, "id": fid})
                if not old.get("held_back"):
                    read.append(fid)
        history[s.fragment_id] = earlier
    audit(store, v, "read.event", {"fragments": sorted(set(read))})
    body = pages.event_page(
        links(request), viewer(who), line, sources, history, person_id=person, glossary=request.app.state.glossary
    )
    return html(body)


def _pack(
    request: Request, store: Store, person_id: str
) -> tuple[Principal, ReaderView, PersonSummary, ChronologyFilters, list[ChronologyLine]]:
    """What a meeting pack holds: the chronology page's lines, with the same filters."""
    who = reader_of(request, store)
    f = _filters(request, who)
    v = view_of(store, who)
    person = _person(v, person_id, who)
    return who, v, person, f, v.chronology(person_id, f)


@router.get("/people/{person_id}/pack")
def pack(request: Request, store: StoreDep, person_id: str) -> HTMLResponse:
    who, v, person, f, lines = _pack(request, store, person_id)
    g = v.network(person_id, radius=1)
    namer = _namer(v, _names(v, lines))
    people = vnet.people_around(g, person_id, namer)
    stamp = pages.Stamp(viewer(who), datetime.now(UTC))
    detail = _disclosure(person_id, lines, f, "html", stamp) | {
        "fragments": sorted(
            {s.fragment_id for ln in lines for s in ln.sources}
            | {s for s in _network_fragments(g) if s.startswith("F")}
        )
    }
    audit(store, v, "disclosure.export", detail)
    fids = sorted({s.fragment_id for ln in lines for s in ln.sources})
    waiting = pages.unacknowledged(
        lines,
        store.acknowledgements(fids),
        at_meeting={a for ln in lines for a in ln.agencies} | {who.reader.agency},
        names={s.agency: s.agency_name for ln in lines for s in ln.sources},
    )
    body = pages.pack_page(
        links(request), stamp, person, lines, f, people, glossary=request.app.state.glossary, waiting=waiting
    )
    return html(body)


@router.get("/people/{person_id}/pack.csv")
def pack_csv(request: Request, store: StoreDep, person_id: str) -> Response:
    who, v, person, f, lines = _pack(request, store, person_id)
    stamp = pages.Stamp(viewer(who), datetime.now(UTC))
    audit(store, v, "disclosure.export", _disclosure(person_id, lines, f, "csv", stamp))
    day = stamp.at.astimezone(UTC).strftime("%Y-%m-%d")
    return Response(
        pages.pack_csv(stamp, person, lines, f, glossary=request.app.state.glossary),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="meeting-pack-{person_id}-{day}.csv"',
            "Content-Security-Policy": PAGE_CSP,
        },
    )


def _disclosure(
    person_id: str, lines: list[ChronologyLine], f: ChronologyFilters, fmt: str, stamp: pages.Stamp
) -> dict[str, Any]:
    """A meeting pack in the audit: what was released (fragment ids), to whom (the entry's
    actor and purpose), in what form, with which filters; a reference printed nowhere else."""
    return {
        **chronology_audit(person_id, lines),
        "export": "meeting_pack",
        "format": fmt,
        "filters": audit_filters(f),
        "stamped_at": stamp.at.astimezone(UTC).isoformat(),
        "ref": secrets.token_hex(6),
    }


# ---------------------------------------------------------------------- wiring


def vis_assets() -> Path:
    """vis-network's files as the pyvis package ships them (served here, never from a CDN)."""
    folder = Path(str(resources.files("pyvis") / "lib" / "vis-9.1.2"))
    if not (folder / "vis-network.min.js").is_file():
        raise RuntimeError(f"pyvis's vis-network files are not where they should be: {folder}")
    return folder


def install(app: FastAPI) -> None:
    """Mount the pages, their assets and their error page on ``app``."""
    app.mount(f"{PREFIX}/assets/vis", StaticFiles(directory=vis_assets()), name="vis-assets")
    app.mount(f"{PREFIX}/assets", StaticFiles(directory=pages.static_dir()), name="page-assets")
    app.include_router(router)

    @app.exception_handler(PageProblem)
    async def _page_problem(request: Request, exc: PageProblem) -> Response:
        lk = links(request)
        if exc.status == 401:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            body = pages.sign_in_page(lk, message=exc.detail, next_url=_safe_next(request, here))
        else:
            body = pages.error_page(
                lk, viewer(exc.who) if exc.who else None, exc.status, exc.title, exc.detail, exc.field
            )
        return html(body, status=exc.status)
