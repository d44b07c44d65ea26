"""Fragments: submit one or a batch, read one, correct or withdraw one of your own.

A fragment is answered 201 only once it is durable (committed with the write-ahead log
synced); a resend with the same agency and record reference is answered 200 "duplicate"
and changes nothing, so a client may retry any submission safely.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Path, Request, Response

from api.auth import Principal
from api.deps import Reading, SettingsDep, StoreDep, Writing
from api.limits import JsonRoute
from api.problems import ApiProblem, FieldProblem, field_problems
from api.routers.common import audit, fragment_problem_status, view_of
from api.schemas import (
    BatchIn,
    BatchItem,
    BatchReceipt,
    CorrectionIn,
    FragmentOut,
    FragmentReceipt,
    RetractionIn,
    WarningOut,
)
from graph.store import AppendOutcome, Store
from ingest.meaning import warnings_for
from ingest.schema import Fragment, Supersedes
from ingest.validate import canonical, check_fragment

router = APIRouter(prefix="/fragments", tags=["fragments"], route_class=JsonRoute)

FragmentId = Path(pattern=r"^F[0-9a-f]{24}$", description="A fragment id, F and 24 hex digits.")
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid token"},
    403: {"description": "Not for your role or purpose, or not your agency's fragment"},
    409: {"description": "The record reference is already used for a different fragment"},
    422: {"description": "The fragment is not valid: every problem, by field"},
    503: {"description": "The store is busy or its disk is full: retry after Retry-After seconds"},
}


def _canonical(who: Principal, frags: list[Fragment], *, index: bool, prefix: str = "") -> list[dict[str, Any]]:
    """Validate what pydantic could not (the whole fragment) and check the agency; every
    problem in every fragment is reported, and nothing is stored if there is one."""
    now = datetime.now(UTC)
    docs: list[dict[str, Any]] = []
    problems: list[FieldProblem] = []
    forbidden = False
    for i, frag in enumerate(frags):
        where = f"{prefix}fragments[{i}]." if index else prefix
        doc, errors = canonical(frag, now=now)
        if errors:
            problems += field_problems(errors, index=i if index else None, prefix=where)
        if frag.agency.id != who.reader.agency:
            forbidden = True
            problems.append(
                FieldProblem(
                    field=f"{where}agency.id",
                    reason=f"you may share only your own agency's records ({who.reader.agency})",
                    index=i if index else None,
                )
            )
        if doc is not None:
            docs.append(doc)
    if problems:
        status = 403 if forbidden and all(p.field.endswith("agency.id") for p in problems) else 422
        raise ApiProblem(status, f"{len(problems)} problem(s); nothing was stored", errors=problems, kind="invalid")
    return docs


def _append(store: Store, who: Principal, docs: list[dict[str, Any]], *, index: bool) -> list[AppendOutcome]:
    outcomes = store.append(docs, all_or_nothing=True, actor=who.reader.id)
    rejected = [o for o in outcomes if o.status == "rejected"]
    if rejected:
        problems = [
            FieldProblem(
                field=(f"fragments[{o.index}]." if index else "") + (o.field or "(fragment)"),
                reason=o.reason or "not accepted",
                index=o.index if index else None,
            )
            for o in rejected
        ]
        status = max(fragment_problem_status(o.field) for o in rejected)
        raise ApiProblem(
            status,
            f"{len(rejected)} fragment(s) not accepted; nothing was stored",
            errors=problems,
            kind="conflict" if status == 409 else "invalid",
        )
    return outcomes


def _warnings(request: Request, doc: dict[str, Any]) -> list[WarningOut]:
    """The author's warnings for one stored fragment (ingest.meaning): never a refusal."""
    return [WarningOut(**asdict(w)) for w in warnings_for(doc, request.app.state.glossary)]


def _receipt(response: Response, o: AppendOutcome, warnings: list[WarningOut]) -> FragmentReceipt:
    location = f"/fragments/{o.fragment_id}"
    response.status_code = 201 if o.status == "accepted" else 200
    response.headers["Location"] = location
    return FragmentReceipt(
        id=o.fragment_id,
        status="accepted" if o.status == "accepted" else "duplicate",
        location=location,
        warnings=warnings,
    )


@router.post(
    "",
    status_code=201,
    response_model=FragmentReceipt,
    responses={
        200: {"model": FragmentReceipt, "description": "Already stored (a resend): nothing changed"},
        **PROBLEMS,
    },
    summary="Submit one fragment",
)
def submit(fragment: Fragment, who: Writing, store: StoreDep, request: Request, response: Response) -> FragmentReceipt:
    docs = _canonical(who, [fragment], index=False)
    (o,) = _append(store, who, docs, index=False)
    return _receipt(response, o, _warnings(request, docs[0]))


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchReceipt,
    responses={200: {"model": BatchReceipt, "description": "Every fragment was already stored"}, **PROBLEMS},
    summary="Submit up to 1,000 fragments, all or nothing",
)
def submit_batch(
    batch: BatchIn, who: Writing, store: StoreDep, settings: SettingsDep, request: Request, response: Response
) -> BatchReceipt:
    if len(batch.fragments) > settings.max_batch:
        raise ApiProblem(422, f"send at most {settings.max_batch} fragments in one batch", field="fragments")
    docs = _canonical(who, batch.fragments, index=True)
    outcomes = _append(store, who, docs, index=True)
    items = [
        BatchItem(
            index=o.index,
            id=o.fragment_id,
            status="accepted" if o.status == "accepted" else "duplicate",
            warnings=_warnings(request, docs[o.index]),
        )
        for o in outcomes
    ]
    accepted = sum(1 for i in items if i.status == "accepted")
    response.status_code = 201 if accepted else 200
    return BatchReceipt(accepted=accepted, duplicate=len(items) - accepted, items=items)


@router.get(
    "/{fragment_id}",
    response_model=FragmentOut,
    responses={404: {"description": "No such fragment, or none you may know of"}},
    summary="Read one fragment as you may see it",
)
def read(who: Reading, store: StoreDep, fragment_id: str = FragmentId) -> FragmentOut:
    v = view_of(store, who)
    doc = v.fragment(fragment_id)
    if doc is None:
        raise ApiProblem(404, "no such fragment", field="fragment_id", kind="not-found")
    held = bool(doc.get("held_back"))
    audit(store, v, "read.fragment", {"fragments": [fragment_id]})
    if held:
        return FragmentOut(id=fragment_id, held_back=True, agency=doc["agency"], ask=doc["ask"])
    return FragmentOut(id=fragment_id, held_back=False, agency=doc["agency"]["id"], fragment=doc)


def _corrections(again: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": FragmentReceipt, "description": again},
        404: {"description": "No such fragment of yours"},
        **PROBLEMS,
    }


def _own(store: Store, who: Principal, fid: str) -> dict[str, Any]:
    """One of the caller's own agency's fragments, or 404 exactly as for no such id."""
    v = view_of(store, who)
    doc = v.fragment(fid)
    if doc is None or doc.get("held_back") or doc["agency"]["id"] != who.reader.agency:
        raise ApiProblem(404, "no fragment of your agency has this id", field="fragment_id", kind="not-found")
    return doc


@router.post(
    "/{fragment_id}/supersede",
    status_code=201,
    response_model=FragmentReceipt,
    responses=_corrections("This correction was already stored"),
    summary="Correct one of your agency's fragments with a new version",
)
def supersede(
    body: CorrectionIn,
    who: Writing,
    store: StoreDep,
    request: Request,
    response: Response,
    fragment_id: str = FragmentId,
) -> FragmentReceipt:
    target = _own(store, who, fragment_id)
    frag = body.fragment
    if frag.supersedes is not None and frag.supersedes.record_ref != target["record_ref"]:
        raise ApiProblem(
            422, "names a different earlier record than the one in the path", field="fragment.supersedes.record_ref"
        )
    frag = frag.model_copy(update={"supersedes": Supersedes(record_ref=target["record_ref"], reason=body.reason)})
    docs = _canonical(who, [frag], index=False, prefix="fragment.")
    (o,) = _append(store, who, docs, index=False)
    return _receipt(response, o, _warnings(request, docs[0]))


@router.post(
    "/{fragment_id}/retract",
    status_code=201,
    response_model=FragmentReceipt,
    responses=_corrections("This retraction was already stored"),
    summary="Withdraw one of your agency's fragments",
)
def retract(
    body: RetractionIn, who: Writing, store: StoreDep, response: Response, fragment_id: str = FragmentId
) -> FragmentReceipt:
    target = _own(store, who, fragment_id)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    raw = {
        "agency": target["agency"],
        "author": body.author.model_dump(mode="json"),
        "record_ref": body.record_ref,
        "recorded_at": now,
        "shared_at": now,
        "statement": target["statement"],
        "significance": target["significance"],
        "sharing": target["sharing"],
        "markings": target.get("markings", {}),
        "supersedes": {"record_ref": target["record_ref"], "reason": body.reason, "retract": True},
    }
    # the withdrawn record is the caller's agency's own (_own): so is its retraction
    doc, errors = check_fragment(raw)
    if doc is None:
        raise ApiProblem(422, f"{len(errors)} problem(s); nothing was stored", errors=field_problems(errors))
    (o,) = _append(store, who, [doc], index=False)
    return _receipt(response, o, [])
