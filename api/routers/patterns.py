"""Patterns: the library, one person's flags, and the ranked list across the store.

Every run is evaluated on the system's view and shown through the caller's
(graph/patterns/engine.py, docs/patterns.md): records the caller may not read are
named only by the agency that holds them; unless the caller is on the child's case and
working on it, the child is a pseudonym and dates are months. Every run is audited with
the patterns and parameters asked for, never content.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PageDep, Reading, StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import next_url, view_of
from api.schemas import Page
from graph.patterns import PATTERNS, Flag, Selection, selection_of

router = APIRouter(prefix="/patterns", tags=["patterns"], route_class=JsonRoute)

PersonId = Path(pattern=r"^P[0-9a-f]{16}-[0-9]{1,3}$", description="A person id as you know them, e.g. P1a2b...-0.")


class Parameter(BaseModel):
    name: str
    type: str
    default: Any
    description: str


class PatternOut(BaseModel):
    name: str
    title: str
    description: str
    severity: str
    parameters: list[Parameter]


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patterns: list[str] | None = Field(
        None, max_length=len(PATTERNS), description="Which patterns (names from GET /patterns); all when left out."
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Parameters per pattern, e.g. {"multi_agency_concerns": {"window_days": 60}}; '
        "defaults for the rest.",
    )


class FlagsOut(BaseModel):
    person_id: str
    flags: list[Flag]


def _selection(body: RunIn | None) -> Selection:
    body = body or RunIn()
    try:
        return selection_of(body.patterns, body.params)
    except ValueError as exc:
        raise ApiProblem(422, str(exc), field="patterns" if "no pattern" in str(exc) else "params") from None


@router.get("", response_model=list[PatternOut], summary="The pattern library: what each looks for, its parameters")
def library(who: Reading) -> list[PatternOut]:
    return [
        PatternOut(
            name=p.name,
            title=p.title,
            description=p.description,
            severity=p.severity,
            parameters=[Parameter(**x) for x in p.parameters()],
        )
        for p in PATTERNS.values()
    ]


@router.post(
    "/people/{person_id}",
    response_model=FlagsOut,
    responses={404: {"description": "No such person, or none you may see"}},
    summary="Run patterns for one person: the flags for their chronology",
)
def run(
    who: Reading,
    store: StoreDep,
    person_id: str = PersonId,
    body: Annotated[RunIn | None, Body()] = None,
) -> FlagsOut:
    selection = _selection(body)
    v = view_of(store, who)
    flags = store.patterns().run_for(store, v, person_id, selection)
    if flags is None:
        raise ApiProblem(404, "no such person", field="person_id", kind="not-found")
    return FlagsOut(person_id=person_id, flags=flags)


@router.post("/scan", response_model=Page[Flag], summary="Run patterns across the store: a ranked list of flags")
def scan(
    request: Request,
    who: Reading,
    store: StoreDep,
    page: PageDep,
    body: Annotated[RunIn | None, Body()] = None,
) -> Page[Flag]:
    selection = _selection(body)
    v = view_of(store, who)
    flags, more = store.patterns().scan_for(store, v, selection, offset=page.offset, limit=page.limit)
    return Page[Flag](
        items=flags,
        limit=page.limit,
        offset=page.offset,
        next=next_url(request, page.offset, page.limit, more),
    )


def flag_dict(flag: Flag) -> dict[str, Any]:
    return asdict(flag)
