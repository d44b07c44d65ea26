"""People: find them, read one, their chronology and their network, as the caller may see them."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import networkx as nx
import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BeforeValidator

from api.deps import PageDep, Reading, StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.routers.common import audit, chronology_audit, next_url, paged, view_of
from api.schemas import ChronologyPage, HouseholdOut, NetworkOut, Page
from graph.chronology import ChronologyFilters, to_csv
from graph.household import household_for_reader
from graph.store import PersonSummary
from graph.view import ReaderView
from ingest.glossary import lines_terms, term_dict, terms_cell
from ingest.schema import Concern, Significance, StatementKind


def _iso_day(value: object) -> object:
    """A day as YYYY-MM-DD only: pydantic's lax mode would also take "0.0" or a number
    as a Unix timestamp (1 January 1970), which no reader means."""
    if isinstance(value, str) and not (len(value) == 10 and value[4] == "-" and value[7] == "-"):
        raise ValueError("must be a day written YYYY-MM-DD")
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]

router = APIRouter(prefix="/people", tags=["people"], route_class=JsonRoute)

PersonId = Path(pattern=r"^P[0-9a-f]{16}-[0-9]{1,3}$", description="A person id as you know them, e.g. P1a2b...-0.")
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such person, or none you may see"}}


def _person(v: ReaderView, person_id: str) -> PersonSummary:
    found = v.person(person_id)
    if found is None:
        raise ApiProblem(404, "no such person", field="person_id", kind="not-found")
    return found


@router.get(
    "", response_model=Page[PersonSummary], summary="Find people by name or identifier, among those you may see"
)
def find(
    request: Request,
    who: Reading,
    store: StoreDep,
    page: PageDep,
    q: Annotated[
        str, Query(min_length=2, max_length=200, description="A name (any of its words), an NHS number or UPN.")
    ],
) -> Page[PersonSummary]:
    v = view_of(store, who)
    found = v.find_people(q, limit=page.offset + page.limit + 1)
    items = found[page.offset : page.offset + page.limit]
    kind = "identifier" if sum(c.isdigit() for c in q) >= 6 else "name"
    audit(store, v, "read.search", {"query_kind": kind, "people": [p.person_id for p in items]})
    more = len(found) > page.offset + page.limit
    return Page[PersonSummary](
        items=items,
        limit=page.limit,
        offset=page.offset,
        next=next_url(request, page.offset, page.limit, more),
    )


@router.get("/{person_id}", response_model=PersonSummary, responses=NOT_FOUND, summary="One person as you may see them")
def person(who: Reading, store: StoreDep, person_id: str = PersonId) -> PersonSummary:
    v = view_of(store, who)
    found = _person(v, person_id)
    audit(store, v, "read.person", {"people": [person_id]})
    return found


@router.get(
    "/{person_id}/chronology",
    response_model=ChronologyPage,
    responses={**NOT_FOUND, 200: {"content": {"text/csv": {}}, "description": "The page, as JSON or CSV"}},
    summary="A person's merged chronology, with the same filters as the command line",
)
def chronology(
    request: Request,
    who: Reading,
    store: StoreDep,
    page: PageDep,
    person_id: str = PersonId,
    date_from: Annotated[IsoDay | None, Query(alias="from", description="Events on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[IsoDay | None, Query(alias="to", description="Events on or before (YYYY-MM-DD).")] = None,
    agency: Annotated[list[str] | None, Query(max_length=50, description="Only these agencies' records.")] = None,
    concern: Annotated[list[Concern] | None, Query(description="Only records with these concerns.")] = None,
    significance: Annotated[list[Significance] | None, Query(description="Only this significance.")] = None,
    statement: Annotated[
        list[StatementKind] | None, Query(description="Only fact, opinion, hearsay, allegation.")
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv for a spreadsheet.")] = "json",
) -> Response:
    if date_from and date_to and date_from > date_to:
        raise ApiProblem(422, "is after 'to'", field="from")
    filters = ChronologyFilters(
        date_from=date_from,
        date_to=date_to,
        agencies=frozenset(agency or ()),
        concerns=frozenset(c.value for c in concern or ()),
        significance=frozenset(s.value for s in significance or ()),
        statements=frozenset(s.value for s in statement or ()),
    )
    v = view_of(store, who)
    summary = _person(v, person_id)
    lines = v.chronology(person_id, filters)
    body = paged(request, lines, page)
    shown = body["items"]
    action = "disclosure.export" if format == "csv" else "read.chronology"
    audit(store, v, action, chronology_audit(person_id, shown))
    g = request.app.state.glossary
    if format == "csv":
        return Response(
            to_csv(shown, lambda ln: terms_cell(ln, g)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="chronology-{person_id}.csv"'},
        )
    # orjson writes the dataclasses as they are (dataclasses.asdict deep-copies: 8 ms for 200 lines)
    terms = [term_dict(h) for h in lines_terms(shown, g)]
    return Response(orjson.dumps({"person": summary, **body, "terms": terms}), media_type="application/json")


def _node_id(node: tuple[str, Any]) -> str:
    return f"{node[0]}:{node[1]}"


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items() if k != "sources"}
    for k in ("start", "end"):  # events hold day numbers: give dates
        day = out.get(k)
        if isinstance(day, int):
            out[k] = date.fromordinal(day).isoformat()
    return out


@router.get(
    "/{person_id}/household",
    response_model=HouseholdOut,
    response_model_by_alias=True,
    responses=NOT_FOUND,
    summary="Who lives with a person, where and when, as you may see it",
)
def household(who: Reading, store: StoreDep, person_id: str = PersonId) -> HouseholdOut:
    """Derived from the records you may read: a lives_with relationship, an address two
    people are given in one record, a parent or carer named with the child in one record
    (unless that record says otherwise); the address history with the local authority of
    each period. Every member and address carries the ids of its supporting records."""
    v = view_of(store, who)
    _person(v, person_id)
    got = household_for_reader(v, person_id)
    if got is None:
        raise ApiProblem(404, "no such person", field="person_id", kind="not-found")
    fids = sorted({s for part in (*got["members"], *got["addresses"]) for s in part["sources"]})
    people = sorted({m["person_id"] for m in got["members"]})
    audit(store, v, "read.household", {"people": people, "fragments": fids})
    return HouseholdOut.model_validate(got)


@router.get("/{person_id}/network", response_model=NetworkOut, responses=NOT_FOUND, summary="A person's network")
def network(
    who: Reading,
    store: StoreDep,
    person_id: str = PersonId,
    radius: Annotated[int, Query(ge=1, le=3, description="How many steps out from the person.")] = 1,
) -> NetworkOut:
    v = view_of(store, who)
    _person(v, person_id)
    g: nx.MultiDiGraph = v.network(person_id, radius=radius)
    nodes = [
        {"id": _node_id(n), "kind": n[0], "attributes": _plain(d), "sources": list(d.get("sources", ()))}
        for n, d in g.nodes(data=True)
    ]
    edges = [
        {
            "source": _node_id(a),
            "target": _node_id(b),
            "kind": str(k),
            "attributes": _plain(d),
            "sources": list(d.get("sources", ())),
        }
        for a, b, k, d in g.edges(keys=True, data=True)
    ]
    fids = sorted({s for n in nodes for s in n["sources"]})
    audit(store, v, "read.network", {"people": [person_id], "fragments": fids})
    return NetworkOut.model_validate({"person_id": person_id, "nodes": nodes, "edges": edges})
