"""Administration: readers, their tokens, and children's cases (who works on them).

Every change is written to the audit with the administrator who made it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from api.deps import Administering, PageDep, StoreDep
from api.limits import JsonRoute
from api.routers.common import paged
from api.schemas import CaseIn, Page, ReaderIn, ReaderOut, TokenIn, TokenIssued, WebhookIn, WebhookOut
from api.webhooks import new_secret
from graph.access import Reader
from graph.registry import TokenInfo

router = APIRouter(tags=["administration"], route_class=JsonRoute)

NO_READER: dict[int | str, dict[str, Any]] = {404: {"description": "No such reader"}}
NO_CASE_OR_READER: dict[int | str, dict[str, Any]] = {404: {"description": "No such case, or no such reader"}}
ReaderId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="A reader id.")]


def _out(r: Reader) -> ReaderOut:
    return ReaderOut(
        id=r.id,
        agency=r.agency,
        roles=sorted(x.value for x in r.roles),
        clearances=sorted(x.value for x in r.clearances),
        cases=sorted(r.cases),
        active=r.active,
        display_name=r.display_name,
    )


@router.get("/readers", response_model=Page[ReaderOut], summary="Every reader")
def readers(request: Request, who: Administering, store: StoreDep, page: PageDep) -> Page[ReaderOut]:
    body = paged(request, store.list_readers(), page)
    return Page[ReaderOut](**{**body, "items": [_out(r) for r in body["items"]]})


@router.get("/readers/{reader_id}", response_model=ReaderOut, responses=NO_READER)
def reader(reader_id: ReaderId, who: Administering, store: StoreDep) -> ReaderOut:
    return _out(store.reader(reader_id))


@router.put("/readers/{reader_id}", response_model=ReaderOut, summary="Add a reader or change one")
def put_reader(reader_id: ReaderId, body: ReaderIn, who: Administering, store: StoreDep) -> ReaderOut:
    r = store.put_reader(
        who.reader.id,
        reader_id=reader_id,
        agency=body.agency,
        roles=body.roles,
        clearances=body.clearances,
        display_name=body.display_name,
        active=body.active,
    )
    return _out(store.reader(r.id))


@router.get(
    "/readers/{reader_id}/tokens",
    response_model=Page[TokenInfo],
    responses=NO_READER,
    summary="A reader's tokens (never the tokens)",
)
def tokens(
    request: Request, reader_id: ReaderId, who: Administering, store: StoreDep, page: PageDep
) -> Page[TokenInfo]:
    store.reader(reader_id)
    return Page[TokenInfo](**paged(request, store.list_tokens(reader_id), page))


@router.post(
    "/readers/{reader_id}/tokens",
    status_code=201,
    response_model=TokenIssued,
    responses=NO_READER,
    summary="Issue a token",
)
def issue(reader_id: ReaderId, body: TokenIn, who: Administering, store: StoreDep) -> TokenIssued:
    tid, token = store.issue_token(who.reader.id, reader_id, body.expires_at)
    return TokenIssued(token_id=tid, reader_id=reader_id, token=token)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    responses={404: {"description": "No such token"}},
    summary="Revoke a token: it stops working at once",
)
def revoke(
    who: Administering,
    store: StoreDep,
    token_id: Annotated[str, Path(pattern=r"^T[0-9a-f]{12}$", description="A token id.")],
) -> Response:
    store.revoke_token(who.reader.id, token_id)
    return Response(status_code=204)


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseIn,
    responses={404: {"description": "No such person"}},
    summary="Open a child's case on a person id",
)
def open_case(body: CaseIn, who: Administering, store: StoreDep) -> CaseIn:
    store.open_case(who.reader.id, body.case_id, body.person_id)
    return body


@router.put(
    "/cases/{case_id}/members/{reader_id}",
    status_code=204,
    responses=NO_CASE_OR_READER,
    summary="Put a reader on a case",
)
def add_member(
    reader_id: ReaderId,
    who: Administering,
    store: StoreDep,
    case_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")],
) -> Response:
    store.set_membership(who.reader.id, case_id, reader_id, True)
    return Response(status_code=204)


@router.delete(
    "/cases/{case_id}/members/{reader_id}",
    status_code=204,
    responses=NO_CASE_OR_READER,
    summary="Take a reader off a case",
)
def remove_member(
    reader_id: ReaderId,
    who: Administering,
    store: StoreDep,
    case_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")],
) -> Response:
    store.set_membership(who.reader.id, case_id, reader_id, False)
    return Response(status_code=204)


@router.get("/webhooks", response_model=list[WebhookOut], summary="Agencies' webhooks for notices (never the secrets)")
def webhooks(who: Administering, store: StoreDep) -> list[WebhookOut]:
    return [WebhookOut(**asdict(h)) for h in store.webhooks()]


@router.put(
    "/webhooks/{agency}",
    response_model=WebhookOut,
    summary="Register or change where an agency's systems receive correction notices",
)
def put_webhook(
    body: WebhookIn,
    who: Administering,
    store: StoreDep,
    agency: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$", description="An agency id.")],
) -> WebhookOut:
    secret = body.secret or new_secret()
    hook = store.put_webhook(who.reader.id, agency=agency, url=body.url, secret=secret, active=body.active)
    return WebhookOut(**asdict(hook), secret=None if body.secret else secret)
