"""Shared meaning: read and understood, queries, an author's answer to a flag, and the
correction notices each reader receives.

Acknowledging is case work (a practitioner's word that they read and understood what
another agency sent them); the notices feed is every reader's own. What a notice shows is
decided by what its reader may see now (graph.meaning.present)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Path, Request

from api.deps import PageDep, Reading, StoreDep, Writing
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import paged, view_of
from api.schemas import (
    AcknowledgementIn,
    FlagsOut,
    Page,
    SubjectAcknowledgementIn,
    TermOut,
    WarningOut,
)
from graph.meaning import Acknowledgement, Notice, Outstanding
from ingest.glossary import find_terms, fragment_texts, names_in
from ingest.meaning import warnings_for

router = APIRouter(tags=["shared meaning"], route_class=JsonRoute)

FragmentId = Path(pattern=r"^F[0-9a-f]{24}$", description="A fragment id, F and 24 hex digits.")
NoticeId = Path(pattern=r"^N[0-9a-f]{16}$", description="A notice id.")
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such record, or none you may read"}}


@router.post(
    "/fragments/{fragment_id}/acknowledgements",
    status_code=201,
    response_model=Acknowledgement,
    responses={**NOT_FOUND, 422: {"description": "A query with no words; your own agency's record"}},
    summary="Say you read and understood a fragment, or ask about it",
)
def acknowledge_fragment(
    body: AcknowledgementIn, who: Writing, store: StoreDep, fragment_id: str = FragmentId
) -> Acknowledgement:
    return store.acknowledge(view_of(store, who), fragment_id, kind=body.kind, text=body.text)


@router.post(
    "/acknowledgements",
    status_code=201,
    response_model=Acknowledgement,
    responses={**NOT_FOUND, 422: {"description": "A query with no words; your own agency's record"}},
    summary="Acknowledge a fragment or a share decision made for your agency",
)
def acknowledge(body: SubjectAcknowledgementIn, who: Writing, store: StoreDep) -> Acknowledgement:
    return store.acknowledge(view_of(store, who), body.subject, kind=body.kind, text=body.text)


@router.get(
    "/fragments/{fragment_id}/acknowledgements",
    response_model=list[Acknowledgement],
    responses=NOT_FOUND,
    summary="Who has acknowledged a fragment you may read, or asked about it",
)
def acknowledgements_of(who: Reading, store: StoreDep, fragment_id: str = FragmentId) -> list[Acknowledgement]:
    doc = view_of(store, who).fragment(fragment_id)
    if doc is None or doc.get("held_back"):
        raise ApiProblem(404, "no such fragment, or none you may read", field="fragment_id", kind="not-found")
    return store.acknowledgements([fragment_id])


@router.get(
    "/acknowledgements/outstanding",
    response_model=Page[Outstanding],
    summary="What your agency sent that others have not yet acknowledged as understood",
)
def outstanding(request: Request, who: Writing, store: StoreDep, page: PageDep) -> Page[Outstanding]:
    return Page[Outstanding](**paged(request, store.outstanding(who.reader.agency), page))


@router.get(
    "/fragments/{fragment_id}/flags",
    response_model=FlagsOut,
    responses=NOT_FOUND,
    summary="The terms a fragment uses and the checks it raises, with the author's answers",
)
def flags(request: Request, who: Reading, store: StoreDep, fragment_id: str = FragmentId) -> FlagsOut:
    v = view_of(store, who)
    doc = v.fragment(fragment_id)
    if doc is None or doc.get("held_back"):
        raise ApiProblem(404, "no such fragment, or none you may read", field="fragment_id", kind="not-found")
    g = request.app.state.glossary
    terms: dict[str, TermOut] = {}
    for _field, text in fragment_texts(doc):
        for h in find_terms(text, g, ignore=names_in(doc)):
            terms.setdefault(
                h.term, TermOut(term=h.term, kind=h.kind, meaning=h.meaning, alternatives=list(h.alternatives))
            )
    answers = [asdict(a) for a in store.acknowledgements([fragment_id]) if a.kind == "confirmed_fact"]
    return FlagsOut(
        fragment_id=fragment_id,
        statement=str((doc.get("statement") or {}).get("kind", "")),
        warnings=[WarningOut(**asdict(w)) for w in warnings_for(doc, g)],
        terms=sorted(terms.values(), key=lambda t: t.term.lower()),
        answers=answers,
    )


@router.get("/notices", response_model=Page[Notice], summary="Your notices: records you saw that were since corrected")
def notices(request: Request, who: Reading, store: StoreDep, page: PageDep, unread: bool = False) -> Page[Notice]:
    return Page[Notice](**paged(request, store.notices(view_of(store, who), unread_only=unread), page))


@router.post(
    "/notices/{notice_id}/read",
    status_code=204,
    responses={404: {"description": "No such notice of yours"}},
    summary="Mark a notice read",
)
def notice_read(who: Reading, store: StoreDep, notice_id: str = NoticeId) -> None:
    store.mark_notice_read(view_of(store, who), notice_id)
