"""Neo4j's derived graph (people, events, places for analysts' Cypher) is written behind
the writes, by a projector each API replica runs (``Neo4jStore.write_derived``).

These run on the statement emulator (``tests.neo4j_emulator``; no Neo4j server can be
installed here): it checks the backend's Python — the watermark, the refusal of a write
worked out from an older journal state, the API's projector task — not Neo4j's locking,
which is what ``LOCK_DERIVED`` rests on in a live cluster (the live contract suite,
``tests/test_backends.py`` with ``NEO4J_URI``).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import DEMO_NOW, demo_files, setup_demo_access
from api.settings import Settings
from graph.neo4j_store import Neo4jStore
from ingest.linkage import Linker
from ingest.pipeline import import_files
from tests.api_server import served
from tests.neo4j_emulator import Emulator
from tests.test_store import canon, frag


def _graph(db: Emulator) -> tuple[dict[str, Any], dict[str, Any]]:
    """The derived graph as the emulator holds it: people and events by key."""
    people = {
        k: (sorted(p["names"]), sorted(p["dobs"]), sorted(map(str, p["mentions"]))) for k, p in db.state.people.items()
    }
    events = {k: repr(sorted(e.items())) for k, e in db.state.events.items()}
    return people, events


def _docs(n: int, *, start: int = 0, name: str = "Mia Walsh") -> list[dict[str, Any]]:
    """Records about one child (so every new one changes the same person), and a second
    child every third record."""
    out = []
    for i in range(start, start + n):
        people = [{"ref": "c", "role": "child", "name": name, "dob": "2019-03-14"}]
        if i % 3 == 0:
            people.append({"ref": "s", "role": "child", "name": f"Sib{chr(97 + i % 26)} Walsh", "dob": "2017-01-02"})
        out.append(canon(frag(f"INC-{i}", when=f"2026-04-{1 + i % 28:02d}", people=people)))
    return out


def _expected(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The derived graph of ``docs`` written in one go by a store of its own."""
    db = Emulator()
    s = Neo4jStore(db)
    s.append(docs)
    while s.write_derived():
        pass
    return _graph(db)


def test_an_append_is_acknowledged_with_the_journal_and_the_projector_writes_the_rest() -> None:
    db = Emulator()
    s = Neo4jStore(db)
    docs = _docs(30)
    for k in range(0, 30, 7):
        s.append(docs[k : k + 7])
    # durable and readable at once: the journal and the replica's own answers
    assert len(db.state.fragments) == 30 and s.fragment_count() == 30
    assert len(s.system_view().find_people("Mia Walsh")) == 1
    # the derived graph is behind until the projector runs, which it does in rounds
    assert not db.state.people and s.derived_behind() == 30
    assert s.write_derived(limit=12) == 12 and s.derived_behind() == 18
    assert s.write_derived(limit=12) == 12 and s.write_derived(limit=12) == 6
    assert s.write_derived() == 0 and s.derived_behind() == 0
    assert _graph(db) == _expected(docs)


def test_a_second_replica_projects_what_the_first_wrote_and_the_first_then_finds_it_done() -> None:
    db = Emulator()
    a, b = Neo4jStore(db), Neo4jStore(db)
    docs = _docs(20)
    a.append(docs)
    assert b.write_derived() == 20  # b reads the fragments from the database
    assert a.write_derived() == 0  # the watermark moved: a has nothing to do
    assert _graph(db) == _expected(docs)


class _Interleaved(Neo4jStore):
    """A replica that lets another one act between working out its derived rows and
    writing them (``meanwhile``, once): the race the guard is for."""

    meanwhile: Any = None

    def _derived_of(self, seqs: Any) -> Any:
        out = super()._derived_of(seqs)
        if self.meanwhile is not None:
            act, self.meanwhile = self.meanwhile, None
            act()
        return out


def test_a_derived_write_from_an_older_state_is_refused_and_worked_out_again() -> None:
    db = Emulator()
    a, slow = Neo4jStore(db), _Interleaved(db)
    first = _docs(6)
    a.append(first)
    slow._catch_up()
    # a new name for Mia arrives and is projected by the first replica while the slow
    # one is between working out Mia's rows (without the new name) and writing them
    later = _docs(3, start=6, name="Mia Walsh-Kane")

    def meanwhile() -> None:
        a.append(later)
        assert a.write_derived() == 9

    slow.meanwhile = meanwhile
    slow._write_derived(list(slow.projection.fragments))  # as after a decision
    locks = sum(1 for name, _ in db.calls if name == "LOCK_DERIVED")
    sets = sum(1 for name, _ in db.calls if name == "SET_DERIVED")
    assert locks - sets == 1  # the slow replica's first write was refused ...
    assert _graph(db) == _expected(first + later)  # ... and the graph has the new name
    assert any("Mia Walsh-Kane" in p[0] for p in _graph(db)[0].values())


def test_a_round_another_replica_has_written_meanwhile_is_not_written_again() -> None:
    db = Emulator()
    a, slow = Neo4jStore(db), _Interleaved(db)
    docs = _docs(9)
    a.append(docs)
    slow.meanwhile = lambda: a.write_derived()  # all nine, while slow works out its first three
    assert slow.write_derived(limit=3) == 0  # refused, and nothing left when it looked again
    assert slow.derived_behind() == 0  # the watermark did not go back
    assert sum(1 for name, _ in db.calls if name == "SET_DERIVED") == 1
    assert _graph(db) == _expected(docs)


def test_replicas_writing_and_projecting_at_once_end_with_the_graph_of_the_journal() -> None:
    db = Emulator()
    a, b = Neo4jStore(db), Neo4jStore(db)
    docs = _docs(120)
    stop = threading.Event()
    failures: list[BaseException] = []

    def project(s: Neo4jStore) -> None:
        try:
            while not stop.is_set():
                s.write_derived(limit=7)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=project, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    try:
        for k in range(0, len(docs), 5):
            (a if k % 2 else b).append(docs[k : k + 5])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not failures
    while a.write_derived() or b.write_derived():
        pass
    assert a.derived_behind() == 0
    assert _graph(db) == _expected(docs)


def test_a_decision_on_one_replica_is_in_the_derived_graph_whoever_projects() -> None:
    db = Emulator()
    a, b = Neo4jStore(db, matcher=Linker.from_file(None)), Neo4jStore(db, matcher=Linker.from_file(None))
    import_files(a, demo_files(), now=DEMO_NOW)
    setup_demo_access(a)
    assert b.write_derived(limit=100_000) > 0
    view = a.system_view()
    # the school's "Mrs L Walsh" is joined to Leanne on the record's context (both parent
    # of Mia and Noah); a reviewer on replica a says she is someone else
    (leanne,) = [p for p in view.find_people("Leanne Walsh") if "1994-10-05" in p.dobs]
    mrs_l = next(p for p in view.find_people("Mrs L Walsh"))
    assert mrs_l.person_id == leanne.person_id
    proj = a.projection
    person = next(q for q in proj.people.values() if any(v == "Mrs L Walsh" for v, _ in q.field("name")))
    named = {(s, i): proj.mention_name(s, i) for s, i, _ in person.mentions}
    anchor_key = min(k for k, n in named.items() if n == "Leanne Walsh")
    school_key = min(k for k, n in named.items() if n == "Mrs L Walsh")
    anchor, school = a.mention_id(*anchor_key), a.mention_id(*school_key)
    before = _graph(db)
    a.decide(view, "apart", anchor, school, "the school confirms this is the grandmother")
    while b.write_derived():
        pass
    written = _graph(db)
    assert written != before  # the split is in it

    def holder(key: tuple[int, int], g: dict[str, Any]) -> str:
        return next(pid for pid, (_, _, ms) in g.items() if any(f"'seq': {key[0]}, 'idx': {key[1]}," in m for m in ms))

    assert holder(anchor_key, before[0]) == holder(school_key, before[0])
    assert holder(anchor_key, written[0]) != holder(school_key, written[0])
    assert len(written[0]) > len(before[0])
    a.rewrite_derived()  # the whole graph again from the journal and the decisions
    assert _graph(db) == written


def test_the_api_runs_the_projector(tmp_path: Path) -> None:
    db = Emulator()
    store = Neo4jStore(db, matcher=Linker.from_file(None))
    import_files(store, demo_files(), now=DEMO_NOW)
    setup_demo_access(store)
    settings = Settings(_env_file=None, derived_interval=0.05)  # type: ignore[call-arg]
    assert store.derived_behind() > 0
    with served(store, settings) as server:
        deadline = time.monotonic() + 60
        while store.derived_behind() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.derived_behind() == 0
        doc = frag("API-1", ag=("northshire-police", "police"))
        with server.client("pc-northshire-2291") as client:
            posted = client.post("/fragments", json=doc)
        assert posted.status_code in (200, 201), posted.text
        deadline = time.monotonic() + 60
        while store.derived_behind() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.derived_behind() == 0
    assert db.state.people and db.state.events


def test_the_derive_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.cli
    from api.cli import app

    db = Emulator()
    Neo4jStore(db).append(_docs(9))
    monkeypatch.setattr(api.cli, "_neo4j", lambda: Neo4jStore(db))
    done = CliRunner().invoke(app, ["backend", "derive"])
    assert done.exit_code == 0, done.output
    assert "9 fragment(s) were behind the journal, 0 now" in done.output
    assert _graph(db) == _expected(_docs(9))
    done = CliRunner().invoke(app, ["backend", "derive", "--all"])
    assert done.exit_code == 0 and "0 fragment(s) were behind" in done.output
    assert _graph(db) == _expected(_docs(9))


def test_a_replica_that_wrote_more_than_it_holds_for_projecting_reads_the_rest_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graph.neo4j_store

    docs = _docs(14)
    plain = Neo4jStore(Emulator())
    plain.append(docs)
    monkeypatch.setattr(graph.neo4j_store, "_PENDING_MAX", 5)
    db = Emulator()
    s = Neo4jStore(db)
    for k in range(0, len(docs), 4):
        s.append(docs[k : k + 4])
    assert len(s._pending) <= 5
    reads = sum(1 for name, _ in db.calls if name == "FRAGMENTS_AFTER")
    mine, theirs = s.system_view(), plain.system_view()
    assert sum(1 for name, _ in db.calls if name == "FRAGMENTS_AFTER") > reads  # the rest was read back
    (mia,) = mine.find_people("Mia Walsh")
    (same,) = theirs.find_people("Mia Walsh")
    assert mine.chronology(mia.person_id) == theirs.chronology(same.person_id)
    assert sorted(s.projection.fragments) == sorted(plain.projection.fragments) == list(range(1, 15))


def test_a_replica_that_has_not_seen_an_erasure_cannot_write_the_erased_content_back() -> None:
    """A slow replica works out people and events from its projection, which still holds
    a record another replica erases meanwhile: its write must be refused (the erasure
    moves the derived graph's state on), or the erased name would be back in Neo4j."""
    db = Emulator()
    a, slow = Neo4jStore(db), _Interleaved(db)
    secret = canon(frag("INC-9", people=[{"ref": "c", "role": "child", "name": "Zed Quill", "dob": "2018-08-08"}]))
    (o,) = a.append([secret])
    a.append(_docs(3))
    slow._catch_up()  # the slow replica has read the record

    def meanwhile() -> None:
        assert a.erase(o.fragment_id, authority="court_order", reason="order", by="dpo-1")

    slow.meanwhile = meanwhile
    slow.write_derived()
    while a.write_derived() or slow.write_derived():
        pass
    assert "Zed Quill" not in repr(db.state.people) and "Zed Quill" not in repr(db.state.events)
    # the graph the journal gives, as a store that saw it all in order writes it
    calm_db = Emulator()
    calm = Neo4jStore(calm_db)
    (o2,) = calm.append([secret])
    calm.append(_docs(3))
    calm.erase(o2.fragment_id, authority="court_order", reason="order", by="dpo-1")
    while calm.write_derived():
        pass
    assert _graph(db) == _graph(calm_db)
