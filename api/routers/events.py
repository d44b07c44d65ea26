"""Events: one event as the caller may see it, with every source they may read."""

from __future__ import annotations

from fastapi import APIRouter, Path

from api.deps import Reading, StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import audit, view_of
from graph.chronology import ChronologyLine

router = APIRouter(prefix="/events", tags=["events"], route_class=JsonRoute)


@router.get(
    "/{event_id}",
    response_model=ChronologyLine,
    responses={404: {"description": "No such event, or none you may see"}},
    summary="One event and its sources",
)
def event(
    who: Reading,
    store: StoreDep,
    event_id: str = Path(pattern=r"^E[0-9a-f]{16}$", description="An event id from a chronology, E and 16 hex."),
) -> ChronologyLine:
    v = view_of(store, who)
    line = v.event(event_id)
    if line is None:
        raise ApiProblem(404, "no such event", field="event_id", kind="not-found")
    audit(store, v, "read.event", {"fragments": sorted(s.fragment_id for s in line.sources)})
    return line
