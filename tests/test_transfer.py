"""Moving a store between backends: embedded -> Neo4j -> embedded, and through the CSV
files for neo4j-admin, each checked person by person (``graph.transfer.differences``).
The Neo4j side runs on the statement emulator (``tests/neo4j_emulator.py``): no Neo4j
server can be installed here."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.cli import DEMO_NOW, demo_files, setup_demo_access
from graph.embedded import EmbeddedStore
from graph.neo4j_store import Neo4jStore
from graph.transfer import MoveError, copy_store, differences, person_ids, read_admin_csv, write_admin_csv
from ingest.linkage import Linker
from ingest.pipeline import import_files
from tests.neo4j_emulator import Emulator

DSL = "dsl-hollybank"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedStore:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("src") / "s.sqlite", create=True, matcher=Linker.from_file(None))
    import_files(s, demo_files(), now=DEMO_NOW)
    setup_demo_access(s)
    # a share decision to move: the police release one record to children's social care
    system = s.system_view()
    (mia,) = [p for p in system.find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    police = next(
        src.fragment_id
        for ln in system.chronology(mia.person_id)
        for src in ln.sources
        if src.agency == "northshire-police"
    )
    req = s.request_share(
        DSL,
        holder_agency="northshire-police",
        person_id=mia.person_id,
        purpose="safeguarding",
        need="n",
        urgency="routine",
    )
    s.decide_share(
        "pc-northshire-2291",
        req.id,
        outcome="share_in_full",
        necessity="n",
        proportionality="p",
        lawful_basis="b",
        released=[police],
        family_told=True,
    )
    return s


def _dsl_picture(s: EmbeddedStore | Neo4jStore) -> list[object]:
    v = s.view(DSL, "safeguarding")
    return [v.chronology(pid) for pid in person_ids(s)]


def test_embedded_to_neo4j_and_back_gives_every_person_the_same_chronology(
    source: EmbeddedStore, tmp_path: Path
) -> None:
    neo = Neo4jStore(Emulator(), matcher=Linker.from_file(None))
    report = copy_store(source, neo, by="migration")
    assert report.fragments == source.fragment_count() and report.cases == 2 and report.share_decisions == 1
    assert len(person_ids(source)) > 10
    assert differences(source, neo) == []
    # readers see exactly what they saw, pseudonyms and the moved grant included
    assert _dsl_picture(neo) == _dsl_picture(source)
    back = EmbeddedStore.open(tmp_path / "back.sqlite", create=True, matcher=Linker.from_file(None))
    copy_store(neo, back, by="migration")
    assert differences(neo, back) == [] and differences(source, back) == []
    assert _dsl_picture(back) == _dsl_picture(source)
    assert [r.id for r in back.list_readers()] == [r.id for r in source.list_readers()]


def test_the_check_finds_a_difference(source: EmbeddedStore, tmp_path: Path) -> None:
    partial = EmbeddedStore.open(tmp_path / "p.sqlite", create=True, matcher=Linker.from_file(None))
    partial.append([doc for _, _, doc, _ in list(source.journal())[:-3]])
    assert differences(source, partial) != []


def test_moving_into_a_store_that_holds_fragments_is_refused(source: EmbeddedStore, tmp_path: Path) -> None:
    busy = EmbeddedStore.open(tmp_path / "b.sqlite", create=True)
    busy.append([next(source.journal())[2]])
    with pytest.raises(MoveError, match="empty store"):
        copy_store(source, busy, by="migration")


def test_admin_csv_round_trip(source: EmbeddedStore, tmp_path: Path) -> None:
    files = write_admin_csv(source, tmp_path / "csv")
    assert {f.name for f in files} == {"fragments.csv", "agencies.csv", "held_by.csv", "supersedes.csv", "meta.csv"}
    rows = list(read_admin_csv(tmp_path / "csv"))
    assert rows == list(source.journal())
    again = EmbeddedStore.open(tmp_path / "again.sqlite", create=True, matcher=Linker.from_file(None))
    assert all(o.status == "accepted" for o in again.append([doc for _, _, doc, _ in rows]))
    copy_store(source, again, by="migration", fragments=False)
    assert differences(source, again) == []
    assert _dsl_picture(again) == _dsl_picture(source)


def test_a_tampered_csv_is_refused(source: EmbeddedStore, tmp_path: Path) -> None:
    write_admin_csv(source, tmp_path / "csv")
    path = tmp_path / "csv" / "fragments.csv"
    text = path.read_text()
    path.write_text(text.replace("home alone", "home with granny", 1))
    with pytest.raises(MoveError, match="does not match its hash"):
        list(read_admin_csv(tmp_path / "csv"))


def test_the_command_line_writes_the_csv_files_and_says_what_neo4j_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.cli import app, build_demo

    store = tmp_path / "demo.sqlite"
    build_demo(store)
    runner = CliRunner()
    done = runner.invoke(app, ["backend", "export-csv", str(tmp_path / "csv"), "--store", str(store)])
    assert done.exit_code == 0, done.output
    assert len(list(read_admin_csv(tmp_path / "csv"))) > 20
    monkeypatch.delenv("NEO4J_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    done = runner.invoke(app, ["backend", "export", "--to", "neo4j", "--store", str(store)])
    assert done.exit_code != 0 and "NEO4J_URI" in done.output


def test_after_a_bulk_import_the_derived_graph_is_written(source: EmbeddedStore) -> None:
    """neo4j-admin brings the journal only: the move then writes people and events."""
    db = Emulator()
    neo = Neo4jStore(db, matcher=Linker.from_file(None))
    neo.append([doc for _, _, doc, _ in source.journal()])
    db.state.people.clear()
    db.state.events.clear()
    copy_store(source, neo, by="migration", fragments=False)
    assert len(db.state.people) == len(person_ids(source))
    assert db.state.events
