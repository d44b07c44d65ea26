"""The audit trail, for the data protection officer: verify it, and who saw what."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import Auditing, PageAsked, PageDep, StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import paged, view_of
from api.schemas import AuditEntryOut, Page, VerifyOut
from graph.audit import ACTIONS, AuditEntry, normalise_time
from graph.errors import NotFound

router = APIRouter(prefix="/audit", tags=["audit"], route_class=JsonRoute)

SQLITE_MAX_INT = 2**63 - 1  # an audit seq is a SQLite integer
PersonId = Path(pattern=r"^P[0-9a-f]{16}-[0-9]{1,3}$", description="A person id.")


def _out(e: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        seq=e.seq, at=e.at, actor=e.actor, action=e.action, purpose=e.purpose, detail=e.detail, hash=e.hash.hex()
    )


def _page(request: Request, found: list[AuditEntry], page: PageAsked) -> Page[AuditEntryOut]:
    body = paged(request, found, page)
    return Page[AuditEntryOut](**{**body, "items": [_out(e) for e in body["items"]]})


def _time(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        return normalise_time(value)
    except ValueError:
        raise ApiProblem(422, "give a date and time with its zone, e.g. 2026-11-01T00:00:00Z", field=field) from None


@router.get("/verify", response_model=VerifyOut, summary="Check the hash chain of the whole audit trail")
def verify(who: Auditing, store: StoreDep) -> VerifyOut:
    report = store.audit_verify()
    store.audit_read(view_of(store, who), "audit.query", {"query": "verify", "ok": report.ok})
    return VerifyOut(
        ok=report.ok,
        checked=report.checked,
        first_broken=report.first_broken,
        reason=report.reason,
        checkpoints=report.checkpoints,
    )


@router.get("/entries", response_model=Page[AuditEntryOut], summary="Audit entries, oldest first, filtered")
def entries(
    request: Request,
    who: Auditing,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=64, description="Only this reader's actions.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="Only actions starting so, e.g. read.")] = None,
    since: Annotated[str | None, Query(max_length=40, description="From this date-time (with zone).")] = None,
    until: Annotated[str | None, Query(max_length=40, description="Before this date-time (with zone).")] = None,
    after: Annotated[
        int, Query(ge=0, le=SQLITE_MAX_INT, description="Entries after this seq (the last one you saw).")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[AuditEntryOut]:
    if action is not None and not any(a.startswith(action) for a in ACTIONS):
        raise ApiProblem(422, f"no audit action starts so; actions: {', '.join(ACTIONS)}", field="action")
    found = store.audit_entries(
        actor=actor,
        action_prefix=action,
        since=_time(since, "since"),
        until=_time(until, "until"),
        after_seq=after,
        limit=limit + 1,
    )
    items = found[:limit]
    store.audit_read(
        view_of(store, who), "audit.query", {"query": "entries", "actor": actor or "", "action": action or ""}
    )
    nxt = None
    if len(found) > limit:
        nxt = str(request.url.include_query_params(after=items[-1].seq, limit=limit))
    return Page[AuditEntryOut](items=[_out(e) for e in items], limit=limit, offset=0, next=nxt)


@router.get(
    "/who-saw/{person_id}",
    response_model=Page[AuditEntryOut],
    responses={404: {"description": "No such person"}},
    summary="Every read and disclosure of a person's record: who, when and why",
)
def who_saw(
    request: Request, who: Auditing, store: StoreDep, page: PageDep, person_id: str = PersonId
) -> Page[AuditEntryOut]:
    try:
        found = store.who_saw(person_id)
    except NotFound:
        raise ApiProblem(404, "no such person", field="person_id", kind="not-found") from None
    store.audit_read(view_of(store, who), "audit.query", {"query": "who_saw", "people": [person_id]})
    return _page(request, found, page)


@router.get(
    "/disclosures",
    response_model=Page[AuditEntryOut],
    responses={404: {"description": "No such person"}},
    summary="Every export and share decision",
)
def disclosures(
    request: Request,
    who: Auditing,
    store: StoreDep,
    page: PageDep,
    person_id: Annotated[
        str | None, Query(pattern=r"^P[0-9a-f]{16}-[0-9]{1,3}$", description="Only those about this person.")
    ] = None,
) -> Page[AuditEntryOut]:
    try:
        found = store.disclosures(person_id)
    except NotFound:
        raise ApiProblem(404, "no such person", field="person_id", kind="not-found") from None
    store.audit_read(
        view_of(store, who), "audit.query", {"query": "disclosures", "people": [person_id] if person_id else []}
    )
    return _page(request, found, page)
