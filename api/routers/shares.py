"""Requests for information and share decisions (golden rule 7: record the decision,
whether or not you share, and the reasons).

A request is visible to the agency that made it and the agency asked; to anyone else it
answers exactly as a request that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request

from api.auth import Principal
from api.deps import PageDep, Sharing, StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import paged, view_of
from api.schemas import (
    Page,
    ShareDecisionIn,
    ShareRequestDetail,
    ShareRequestIn,
)
from graph.errors import NotFound
from graph.registry import ShareDecision, ShareRequest
from graph.store import Store

router = APIRouter(prefix="/share-requests", tags=["sharing"], route_class=JsonRoute)

RequestId = Path(pattern=r"^R[0-9a-f]{12}$", description="A request id, R and 12 hex digits.")
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such request, or not one your agency is party to"}
}


def _visible_request(store: Store, who: Principal, request_id: str) -> ShareRequest:
    try:
        req = store.share_request(request_id)
    except NotFound:
        req = None
    if req is None or who.reader.agency not in (req.agency, req.holder_agency):
        raise ApiProblem(404, "no such request", field="request_id", kind="not-found")
    return req


@router.post(
    "",
    status_code=201,
    response_model=ShareRequest,
    responses={404: {"description": "No such person that you may see"}},
    summary="Ask another agency for information",
)
def ask(body: ShareRequestIn, who: Sharing, store: StoreDep) -> ShareRequest:
    v = view_of(store, who)
    if v.person(body.person_id) is None:
        raise ApiProblem(404, "no such person that you may see", field="person_id", kind="not-found")
    if body.holder_agency == who.reader.agency:
        raise ApiProblem(422, "ask another agency: your own records are yours already", field="holder_agency")
    req = store.request_share(
        who.reader.id,
        holder_agency=body.holder_agency,
        person_id=body.person_id,
        purpose=body.purpose,
        need=body.need,
        urgency=body.urgency,
    )
    return req


@router.get("", response_model=Page[ShareRequest], summary="Requests your agency made or was asked")
def listing(request: Request, who: Sharing, store: StoreDep, page: PageDep) -> Page[ShareRequest]:
    return Page[ShareRequest](**paged(request, store.share_requests(who.reader.agency), page))


@router.get(
    "/{request_id}", response_model=ShareRequestDetail, responses=NOT_FOUND, summary="A request and its decisions"
)
def one(who: Sharing, store: StoreDep, request_id: str = RequestId) -> ShareRequestDetail:
    req = _visible_request(store, who, request_id)
    decisions = store.share_records(req.id)
    return ShareRequestDetail(
        request=req,
        decisions=decisions,
    )


@router.post(
    "/{request_id}/decisions",
    status_code=201,
    response_model=ShareDecision,
    responses={**NOT_FOUND, 403: {"description": "Only the agency asked may decide"}},
    summary="Decide on a request: share in full, in part, or not, with reasons",
)
def decide(body: ShareDecisionIn, who: Sharing, store: StoreDep, request_id: str = RequestId) -> ShareDecision:
    req = _visible_request(store, who, request_id)
    if who.reader.agency != req.holder_agency:
        raise ApiProblem(403, "only the agency asked may decide", field="request_id", kind="forbidden")
    dec = store.decide_share(
        who.reader.id,
        req.id,
        outcome=body.outcome,
        necessity=body.necessity,
        proportionality=body.proportionality,
        lawful_basis=body.lawful_basis,
        released=body.released,
        special_condition=body.special_condition,
        family_told=body.family_told,
        family_not_told_reason=body.family_not_told_reason,
        expires_at=body.expires_at,
        reconsiders=body.reconsiders,
    )
    return dec
