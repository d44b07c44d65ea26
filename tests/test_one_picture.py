"""One person per real person: the demo as `jigsaw serve --demo` serves it (with entity
resolution), read over HTTP by the social worker and the school's DSL.

The school writes the mother as "Mrs L Walsh (parent)", with no date of birth, beside
Mia and Noah; social care writes "Leanne Walsh", mother of Mia and Noah, with hers. She
is one person because of the children (relational evidence), and the meeting must see
her once: in search, on Mia's network and in the meeting pack. The DSL's view, built
from only what the school may read, must show nothing that rests on records they may
not read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import DEMO_SCHOOL_DSL, DEMO_SOCIAL_WORKER, build_demo
from graph.embedded import EmbeddedStore
from ingest.linkage import Linker
from tests.api_server import Server, served

MOTHER = {"Leanne Walsh", "Mrs L Walsh", "Le-Anne WALSH"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("one-picture") / "demo.sqlite"
    build_demo(path)
    store = EmbeddedStore.open(path, matcher=Linker())  # as api.app.open_store opens it
    try:
        with served(store) as srv:
            yield srv
    finally:
        store.close()


def _search(srv: Server, reader: str, q: str) -> list[dict[str, Any]]:
    with srv.client(reader) as c:
        r = c.get("/people", params={"q": q})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _mia(srv: Server, reader: str) -> str:
    (mia,) = [p for p in _search(srv, reader, "Mia Walsh") if "2019-03-14" in p["dobs"]]
    return str(mia["person_id"])


def _mothers_in_search(srv: Server, reader: str) -> list[dict[str, Any]]:
    return [p for p in _search(srv, reader, "Walsh") if set(p["names"]) & MOTHER]


def test_the_social_worker_finds_the_mother_once(server: Server) -> None:
    mothers = _mothers_in_search(server, DEMO_SOCIAL_WORKER)
    assert len(mothers) == 1, mothers
    assert set(mothers[0]["names"]) == MOTHER
    assert mothers[0]["dobs"] == ["1994-10-05"]


def _network_parents(srv: Server, reader: str) -> dict[str, set[str]]:
    """Person node id -> the relationship kinds they have to Mia, on Mia's network."""
    mia = _mia(srv, reader)
    with srv.client(reader) as c:
        r = c.get(f"/people/{mia}/network")
    assert r.status_code == 200, r.text
    net = r.json()
    out: dict[str, set[str]] = {}
    for e in net["edges"]:
        if e["target"] == f"person:{mia}" and e["kind"] in ("mother_of", "father_of", "parent_of"):
            out.setdefault(e["source"], set()).add(e["kind"])
    return out


def test_mias_network_draws_one_mother_and_one_father(server: Server) -> None:
    parents = _network_parents(server, DEMO_SOCIAL_WORKER)
    kinds = sorted(k for ks in parents.values() for k in ks)
    assert kinds == ["father_of", "mother_of"], parents


def _pack_people(srv: Server, reader: str) -> set[str]:
    mia = _mia(srv, reader)
    with srv.client(reader) as c:
        r = c.get(f"/pages/people/{mia}/pack.csv")
    assert r.status_code == 200, r.text
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    head = next(i for i, row in enumerate(rows) if row[:2] == ["date", "precision"])
    col = rows[head].index("people (role)")
    return {p.strip() for row in rows[head + 1 :] if len(row) > col for p in row[col].split(";") if p.strip()}


def test_the_meeting_pack_lists_the_mother_once(server: Server) -> None:
    people = _pack_people(server, DEMO_SOCIAL_WORKER)
    parents = {p for p in people if p.endswith("(parent)")}
    assert parents == {"Leanne Walsh (parent)", "Daniel Walsh (parent)"}, parents


def test_the_dsl_sees_the_mother_once_from_what_the_school_may_read(server: Server, tmp_path: Path) -> None:
    mothers = _mothers_in_search(server, DEMO_SCHOOL_DSL)
    assert len(mothers) == 1, mothers
    # nothing new leaks: everything the DSL is shown of the mother is what a store
    # holding only the records the DSL may read would show (the brute-force reference)
    store = server.store
    assert isinstance(store, EmbeddedStore)
    view = store.view(DEMO_SCHOOL_DSL, "safeguarding")
    with store.locked() as p:
        readable = [s for s in sorted(p.fragments) if view.may_read(s)]
    docs = store._load(readable)
    ref = EmbeddedStore.open(tmp_path / "dsl-only.sqlite", create=True, matcher=Linker())
    try:
        ref.append([docs[s] for s in readable])
        expect = [p for p in ref.system_view().find_people("Walsh") if set(p.names) & MOTHER]
    finally:
        ref.close()
    assert len(expect) == 1
    for field in ("names", "dobs"):
        assert sorted(mothers[0][field]) == sorted(getattr(expect[0], field)), field
    assert sorted(i["value"] for i in mothers[0]["identifiers"]) == sorted(i["value"] for i in expect[0].identifiers)
