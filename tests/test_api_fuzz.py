"""Schemathesis against the app's own OpenAPI, over real HTTP.

Every operation in the OpenAPI document is fuzzed twice: 100 generated requests that are
valid by the document (positive) and 100 that are not (negative), each run also sending
Schemathesis' deterministic coverage cases (boundary values, missing and mistyped
parameters) of its kind. The server is the real one (uvicorn on 127.0.0.1 over the demo
store). Each request carries a token and purpose that fit the operation's tag, so it
reaches the route's own logic rather than stopping at 401 or 403; and half the ids,
names and agencies in valid requests are drawn from the demo store, so that reads also
find records and writes also succeed (share requests, cases, tokens, retractions), and
those answers are checked too. Random fragments never pass the checks that need the whole
fragment (dates against each other, consent, relationships), so submitting, correcting
and batching are fuzzed for their rejections only.

Checks: no 5xx ever; invalid input never accepted (always a 4xx); every status code,
content type and body is one the document declares for that operation.

The document is built from the app in process when this module is collected
(Schemathesis' pytest plugin makes one test per operation, so it needs the operations
then; its lazy ``schemathesis.pytest.from_fixture`` loader does not run under pytest 9.2),
and ``test_served_openapi_is_the_one_fuzzed`` checks that the server publishes exactly it.
The demo ids are deterministic, and ``test_demo_ids_are_served`` checks that they exist.

Reproducible: a fixed seed and derandomized generation, no example database.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.cli import build_demo
from api.settings import Settings
from graph.embedded import EmbeddedStore
from tests.api_server import Server, demo_server
from tests.conftest import fragment

SEED = 20261123
EXAMPLES = 100
SOCIAL_WORKER, AGENCY = "sw-northshire-118", "northshire-csws"

# Which demo reader, with which purpose, each tag's operations are called as.
CALLERS = {
    "administration": ("admin-partnership", "administration"),
    "audit": ("dpo-northshire", "audit"),
    "fragments": (SOCIAL_WORKER, "safeguarding"),
    "people": (SOCIAL_WORKER, "safeguarding"),
    "events": (SOCIAL_WORKER, "safeguarding"),
    "sharing": (SOCIAL_WORKER, "safeguarding"),
}

CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _openapi() -> dict[str, Any]:
    return create_app(Settings(_env_file=None)).openapi()


def _demo_values() -> dict[str, list[str]]:
    """What exists in the demo store, as the social worker knows it (ids are deterministic)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.sqlite"
        build_demo(path)
        store = EmbeddedStore.open(path)
        try:
            view = store.view(SOCIAL_WORKER, "safeguarding")
            people = view.find_people("Walsh", limit=100)
            lines = [line for p in people for line in view.chronology(p.person_id)]
        finally:
            store.close()
    sources = [s for line in lines for s in line.sources]
    return {
        "people": sorted({p.person_id for p in people}),
        "names": sorted({name for p in people for name in p.names}),
        "events": sorted({line.event_id for line in lines if line.event_id}),  # not placeholders
        "fragments": sorted({s.fragment_id for s in sources}),
        "own-fragments": sorted({s.fragment_id for s in sources if s.agency == AGENCY}),
        "agencies": sorted({s.agency for s in sources} - {AGENCY}),
        "own-agency": [AGENCY],
        "readers": sorted({SOCIAL_WORKER, *(reader for reader, _ in CALLERS.values())}),
    }


DEMO = _demo_values()

# Half the values of these parameters (of the runs whose values are valid) come from the demo.
BINDINGS: list[tuple[list[str], dict[str, str]]] = [
    (["GET /people"], {"query.q": "names"}),
    (
        [
            "GET /people/{person_id}",
            "GET /people/{person_id}/chronology",
            "GET /people/{person_id}/network",
            "GET /audit/who-saw/{person_id}",
        ],
        {"path.person_id": "people"},
    ),
    (["GET /audit/disclosures"], {"query.person_id": "people"}),
    (["GET /events/{event_id}"], {"path.event_id": "events"}),
    (["GET /fragments/{fragment_id}"], {"path.fragment_id": "fragments"}),
    (["POST /fragments"], {"body.agency.id": "own-agency"}),
    (["POST /fragments/batch"], {"body.fragments[*].agency.id": "own-agency"}),
    (
        ["POST /fragments/{fragment_id}/supersede", "POST /fragments/{fragment_id}/retract"],
        {"path.fragment_id": "own-fragments"},
    ),
    (["POST /share-requests"], {"body.person_id": "people", "body.holder_agency": "agencies"}),
    (["POST /cases"], {"body.person_id": "people"}),
    # only reads and new tokens: changing the demo readers would change what later requests may do
    (
        ["GET /readers/{reader_id}", "GET /readers/{reader_id}/tokens", "POST /readers/{reader_id}/tokens"],
        {"path.reader_id": "readers"},
    ),
]


def _config(mode: str) -> schemathesis.Config:
    operations: list[dict[str, Any]] = [
        # the declared purpose is fixed per tag, so it is neither generated nor mutated
        {"include-tag": tag, "headers": {"X-Jigsaw-Purpose": purpose}}
        for tag, (_, purpose) in CALLERS.items()
    ]
    operations += [
        {
            "include-name": names,
            "parameters": {key: {"dictionary": name, "probability": 0.5} for key, name in params.items()},
        }
        for names, params in BINDINGS
    ]
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "dictionaries": {name: {"values": values} for name, values in DEMO.items()},
            "generation": {
                "mode": mode,
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                # the bearer token is added per request (below), never generated
                "with-security-parameters": False,
            },
            "operations": operations,
        }
    )


OPENAPI = _openapi()
positive = schemathesis.openapi.from_dict(OPENAPI, config=_config("positive"))
# /health and /ready take nothing that could be made invalid
negative = schemathesis.openapi.from_dict(OPENAPI, config=_config("negative")).exclude(tag="health")
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
)


# These correct and withdraw the demo's own records: they get a demo store of their own, so
# that the other operations keep finding what the demo ids name.
OWN_STORE = {"POST /fragments/{fragment_id}/supersede", "POST /fragments/{fragment_id}/retract"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("fuzz")) as srv:
        yield srv


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("fuzz-scratch")) as srv:
        yield srv


def _call(case: schemathesis.Case, server: Server, scratch: Server) -> None:
    srv = scratch if case.operation.label in OWN_STORE else server
    reader = next((CALLERS[tag][0] for tag in case.operation.tags or () if tag in CALLERS), None)
    headers = {} if reader is None else {"Authorization": f"Bearer {srv.tokens[reader]}"}
    try:
        case.call_and_validate(base_url=srv.base, headers=headers, checks=CHECKS)
    except FailureGroup as group:
        # A query string has no types: `?agency=true` is the string "true", a valid agency
        # filter, though Schemathesis generated it as the boolean true to break the schema.
        # Only that false positive is let through; every other failure still fails.
        if not all(
            isinstance(e, AcceptedNegativeData) and "in query" in str(e) and "violates `anyOf`" in str(e)
            for e in group.exceptions
        ):
            raise


def test_served_openapi_is_the_one_fuzzed(server: Server) -> None:
    served = httpx.get(f"{server.base}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == OPENAPI


def test_demo_ids_are_served(server: Server) -> None:
    with server.client(SOCIAL_WORKER) as c:
        assert DEMO["people"] and DEMO["events"] and DEMO["fragments"] and DEMO["agencies"]
        for pid in DEMO["people"]:
            assert c.get(f"/people/{pid}").status_code == 200
        for eid in DEMO["events"]:
            assert c.get(f"/events/{eid}").status_code == 200
        for fid in DEMO["fragments"]:
            assert c.get(f"/fragments/{fid}").status_code == 200


OWN = {"id": AGENCY, "name": "Northshire Children's Social Work Service", "type": "social_care"}
YEAR_ONE = "0001-01-01T00:00:00+01:00"  # before the first instant UTC can hold
# Requests this fuzzing found answered with a 5xx or accepted though invalid, or that were
# found while fixing those, each as (tag, method, path, query, body): kept here so that a
# change in what the generator draws cannot lose them. All are the caller's mistake: 422.
FOUND: list[tuple[str, str, str, dict[str, str] | None, Any]] = [
    ("audit", "GET", "/audit/entries", {"action": "0000"}, None),  # was 500: unknown action prefix
    ("audit", "GET", "/audit/entries", {"since": YEAR_ONE}, None),  # was 500: OverflowError
    ("audit", "GET", "/audit/entries", {"after": str(2**80)}, None),  # was 500: beyond a SQLite integer
    ("administration", "POST", f"/readers/{SOCIAL_WORKER}/tokens", None, {"expires_at": YEAR_ONE}),  # was 500
    # was 200: 0 taken for false
    ("administration", "PUT", "/readers/fuzz-reader", None, {"agency": AGENCY, "roles": ["analyst"], "active": 0}),
    (  # was 404: 1 taken for true, then no such request
        "sharing",
        "POST",
        "/share-requests/R000000000000/decisions",
        None,
        {"outcome": "do_not_share", "necessity": "n", "proportionality": "p", "lawful_basis": "l", "family_told": 1},
    ),
    # was 500: OverflowError
    ("fragments", "POST", "/fragments", None, fragment(agency=OWN, recorded_at=YEAR_ONE, shared_at=YEAR_ONE)),
    (  # was 500: OverflowError
        "fragments",
        "POST",
        "/fragments/batch",
        None,
        {"fragments": [fragment(agency=OWN, recorded_at=YEAR_ONE, shared_at=YEAR_ONE)]},
    ),
    (  # was 500: "last week" worked out from a record made in the year 1
        "fragments",
        "POST",
        "/fragments",
        None,
        fragment(
            agency=OWN,
            recorded_at="0001-01-01T00:00:00Z",
            shared_at="0001-01-01T00:00:00Z",
            event={**fragment()["event"], "when": "last week"},
        ),
    ),
]


@pytest.mark.parametrize(("tag", "method", "path", "query", "body"), FOUND, ids=[f"{m} {p}" for _, m, p, _, _ in FOUND])
def test_found_by_fuzzing(server: Server, tag: str, method: str, path: str, query: Any, body: Any) -> None:
    reader, purpose = CALLERS[tag]
    with server.client(reader, purpose) as c:
        r = c.request(method, path, params=query, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@positive.parametrize()
@HYPOTHESIS
def test_valid_requests(case: schemathesis.Case, server: Server, scratch: Server) -> None:
    _call(case, server, scratch)


@negative.parametrize()
@HYPOTHESIS
def test_invalid_requests(case: schemathesis.Case, server: Server, scratch: Server) -> None:
    _call(case, server, scratch)
