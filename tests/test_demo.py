"""The worked scenario from the guidance, read like a case file.

A family support worker finds Mia (7) and Noah (5) home alone; six months earlier an
anonymous "home alone" call was closed as malicious. Each agency held one piece. The
expected outcomes are those written down in ingest/demo_data/README.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import DEMO_NOW, demo_files
from graph.chronology import to_csv
from graph.embedded import EmbeddedStore
from graph.store import PersonSummary
from ingest.pipeline import import_files


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    s = EmbeddedStore.open(path, create=True)
    summary = import_files(s, demo_files(), now=DEMO_NOW)
    assert (summary.accepted, summary.rejected) == (32, 0), summary.errors
    yield s
    s.close()


def one(store: EmbeddedStore, query: str, dob: str | None = None) -> PersonSummary:
    found = [p for p in store.system_view().find_people(query) if dob is None or dob in p.dobs]
    assert len(found) == 1, [(p.person_id, p.names, p.dobs) for p in found]
    return found[0]


def test_demo_files_are_the_four_shipped(demo: EmbeddedStore) -> None:
    assert [Path(f).name for f in demo_files()] == [
        "01_walsh_family.jsonl",
        "02_rourke_family.jsonl",
        "03_marsh_family.jsonl",
        "04_school_chronology.csv",
    ]


def test_totals(demo: EmbeddedStore) -> None:
    with demo.locked() as p:
        assert len(p.fragments) == 32
        assert len(p.people) == 27
        assert len(p.events) == 31


@pytest.mark.parametrize(
    ("query", "dob", "mentions", "names"),
    [
        ("Mia Walsh", "2019-03-14", 16, {"Mia Walsh", "Mia WALSH"}),
        ("Noah Walsh", "2021-07-02", 17, {"Noah Walsh", "Noah WALSH"}),
        ("Walsh", "1994-10-05", 10, {"Leanne Walsh", "Le-Anne WALSH"}),
        ("Kayleigh Rourke", None, 4, {"Kayleigh Rourke"}),
        ("Tyler Rourke", None, 4, {"Tyler Rourke", "Tyler ROURKE"}),
        ("Ellis Marsh", "2014-05-09", 7, None),
        ("Finley Marsh", None, 5, None),
        ("Craig Tanner", None, 2, None),
    ],
)
def test_who_joins_whom(
    demo: EmbeddedStore, query: str, dob: str | None, mentions: int, names: set[str] | None
) -> None:
    person = one(demo, query, dob)
    with demo.locked() as p:
        assert len(p.people[demo.global_pid(person.person_id)].mentions) == mentions
    if names is not None:
        assert set(person.names) == names


def test_poppy_joins_on_name_and_dob_and_keeps_the_typo_unverified(demo: EmbeddedStore) -> None:
    poppy = one(demo, "Poppy Rourke")
    ids = {(i["value"], i["verified"]) for i in poppy.identifiers}
    assert ("9600285330", True) in ids and ("9602085330", False) in ids


def test_what_stays_apart(demo: EmbeddedStore) -> None:
    # an initial and no date of birth is not enough to join anyone: each such mention
    # stays a person of its own, and none is joined to Leanne
    initials = demo.system_view().find_people("Mrs L Walsh")
    assert len(initials) >= 2 and all(p.names == ["Mrs L Walsh"] and p.events == 1 for p in initials)
    assert "Mrs L Walsh" not in one(demo, "Walsh", "1994-10-05").names
    # "Craig" with no surname never joins another Craig, nor Craig Tanner
    craigs = demo.system_view().find_people("Craig")
    assert sorted(len(p.names) for p in craigs) == [1, 1, 1, 1]
    assert sum(1 for p in craigs if p.names == ["Craig"]) == 3
    # the twins share surname, address and dob, and stay two people
    ellis, finley = one(demo, "Ellis Marsh", "2014-05-09"), one(demo, "Finley Marsh")
    assert ellis.person_id != finley.person_id and ellis.dobs == finley.dobs
    # Ellis with day and month swapped stays apart until entity resolution
    assert len(demo.system_view().find_people("Ellis Marsh")) == 2
    # the nickname waits for entity resolution too
    assert one(demo, "Kay Rourke").person_id != one(demo, "Kayleigh Rourke").person_id


def test_mias_chronology_puts_the_pieces_side_by_side(demo: EmbeddedStore) -> None:
    mia = one(demo, "Mia Walsh", "2019-03-14")
    lines = demo.system_view().chronology(mia.person_id)
    assert len(lines) == 14
    starts = [(ln.start, ln.end) for ln in lines]
    mids = [(int(a.replace("-", "")) + int(b.replace("-", ""))) for a, b in starts]
    assert lines[0].kind == "referral" and lines[0].statements == ["allegation"]  # the anonymous call
    # the joint visit is one event with two sources: social care and police
    visit = next(ln for ln in lines if ln.corroborated)
    assert visit.start == "2026-05-14"
    assert {s.agency for s in visit.sources} == {"northshire-csws", "northshire-police"}
    assert sum(ln.corroborated for ln in lines) == 1
    # the case was closed after it
    closed = next(ln for ln in lines if ln.kind == "case_closed")
    assert lines.index(closed) > lines.index(visit)
    # today's finding is there, a fact, high significance, after everything from May
    today = next(ln for ln in lines if ln.start == "2026-11-19" and ln.kind == "home_visit")
    assert today.statements == ["fact"] and today.significance == "high"
    assert lines.index(today) > lines.index(closed)
    # the duty worker's "six months previously" is placed in May and shown as approximate
    relative = next(ln for ln in lines if ln.precision == "approximate")
    assert relative.when == "about 4 May 2026 – 3 Jun 2026 (six months previously)"
    assert lines.index(relative) < lines.index(today)
    # lines are in order of the middle of their date span
    assert mids == sorted(mids)


def test_the_correction_shows_once_with_its_history(demo: EmbeddedStore) -> None:
    mia = one(demo, "Mia Walsh", "2019-03-14")
    lines = demo.system_view().chronology(mia.person_id)
    late = [ln for ln in lines if ln.sources[0].record_ref.startswith("HPS-2026-0871")]
    assert len(late) == 1
    assert late[0].start == "2026-11-04" and late[0].corrected
    (src,) = late[0].sources
    assert src.record_ref == "HPS-2026-0871-C1" and len(src.replaces) == 1
    assert demo.get_fragment(src.replaces[0])["event"]["when"]["start"] == "2026-11-03"  # type: ignore[index]


def test_statement_kinds_are_kept_apart(demo: EmbeddedStore) -> None:
    mia = one(demo, "Mia Walsh", "2019-03-14")
    kinds = {k for ln in demo.system_view().chronology(mia.person_id) for k in ln.statements}
    assert {"fact", "hearsay", "allegation"} <= kinds


def test_the_neighbour_and_the_caller_are_described_not_named(demo: EmbeddedStore) -> None:
    mia = one(demo, "Mia Walsh", "2019-03-14")
    who = {pp.name for ln in demo.system_view().chronology(mia.person_id) for pp in ln.people}
    assert {"next-door neighbour", "anonymous caller"} <= who


def test_the_demo_command_prints_the_merged_chronology(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    res = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 0, res.stderr
    assert "Merged chronology of Mia Walsh, 7" in res.stdout and "14 events from 5 agencies" in res.stdout
    assert "malicious" in res.stdout and "letter box" in res.stdout
    assert (tmp_path / "jigsaw-demo" / "demo.sqlite").exists()


def test_mias_network_joins_people_events_sources_agencies_and_places(demo: EmbeddedStore) -> None:
    mia = one(demo, "Mia Walsh", "2019-03-14")
    g = demo.system_view().network(mia.person_id)
    kinds = {n[0] for n in g}
    assert kinds == {"person", "event", "fragment", "agency", "place"}
    # every node and edge remembers the fragments that support it
    assert all(d["sources"] for _, d in g.nodes(data=True)) and all(d["sources"] for _, _, d in g.edges(data=True))
    leanne = ("person", one(demo, "Walsh", "1994-10-05").person_id)
    me = ("person", mia.person_id)
    assert g.has_edge(leanne, me, key="mother_of")
    # roles are on the person -> event edges
    roles = {k for u, _, k in g.out_edges(me, keys=True)}
    assert "child" in roles
    # the corroborated visit: one event node reported by two fragments from two agencies
    visit = next(
        n
        for n, d in g.nodes(data=True)
        if n[0] == "event" and len([u for u, _ in g.in_edges(n) if u[0] == "fragment"]) == 2
    )
    agencies = {g.nodes[f]["agency"] for f, _ in g.in_edges(visit) if f[0] == "fragment"}
    assert agencies == {"northshire-csws", "northshire-police"}
    assert all(g.nodes[f]["fid"].startswith("F") for f in g if f[0] == "fragment")


def test_handling_instructions_reach_every_line_they_apply_to(demo: EmbeddedStore) -> None:
    """Police asked that the family not be told of the September incident: every reader of
    the line must see that, in the chronology and in its CSV."""
    tyler = one(demo, "Tyler Rourke")
    lines = demo.system_view().chronology(tyler.person_id)
    flagged = [s.record_ref for ln in lines for s in ln.sources if "do_not_tell_family" in s.handling]
    assert flagged == ["NP-26-0913-0388"]
    assert "do not tell family" in to_csv(lines)
