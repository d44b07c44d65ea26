"""Incidents: "same incident?" review of two agencies' records (graph/incidents.py).

A reviewer sees only pairs of records they may read both of; they join two records
into one event or keep them apart, with a reason, and may undo a decision. Decisions
are appended, never changed, and audited (``incident.decision``). Reviewing is case
work: practitioners, for safeguarding or a meeting (as for adding records)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field

from api.deps import StoreDep, Writing
from api.limits import JsonRoute
from api.routers.common import audit, view_of
from api.schemas import _In
from graph.incidents import IncidentDecision, IncidentItem
from ingest.schema import LongText

router = APIRouter(prefix="/incidents", tags=["incidents"], route_class=JsonRoute)

FragmentRef = Field(pattern=r"^F[0-9a-f]{8,64}$", description="A fragment id (F and hex), or a unique prefix of one.")


class IncidentDecisionIn(_In):
    kind: Literal["join", "apart"]
    a: str = FragmentRef
    b: str = FragmentRef
    reason: LongText = Field(min_length=1, description="Why they are (or are not) one incident.")


class UndoIn(_In):
    reason: LongText = Field(min_length=1, description="Why the decision is withdrawn.")


@router.get("/review", response_model=list[IncidentItem], summary="Pairs of records that may be one incident")
def review(who: Writing, store: StoreDep, limit: int = Query(50, ge=1, le=500)) -> list[IncidentItem]:
    v = view_of(store, who)
    items = store.incident_queue(v, limit)
    shown = sorted({s.fragment_id for it in items for s in (it.a, it.b)})
    audit(store, v, "read.incident_review", {"fragments": shown})
    return items


@router.post("/decisions", response_model=IncidentDecision, status_code=201, summary="Join or separate two records")
def decide(body: IncidentDecisionIn, who: Writing, store: StoreDep) -> IncidentDecision:
    return store.decide_incident(view_of(store, who), body.kind, body.a, body.b, body.reason)


@router.post(
    "/decisions/{decision_id}/undo",
    response_model=IncidentDecision,
    status_code=201,
    summary="Withdraw a join or apart decision",
)
def undo(body: UndoIn, who: Writing, store: StoreDep, decision_id: int = Path(ge=1)) -> IncidentDecision:
    return store.undo_incident_decision(view_of(store, who), decision_id, body.reason)


@router.get(
    "/decisions", response_model=list[IncidentDecision], summary="Incident decisions about records you may read"
)
def decisions(who: Writing, store: StoreDep) -> list[IncidentDecision]:
    v = view_of(store, who)
    return store.incident_decisions(v)
