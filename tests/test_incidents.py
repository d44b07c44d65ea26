"""The same incident, told twice (graph/incidents.py), on a real SQLite store.

Police record a welfare check on 14 May 2026; social care a home visit "about mid-May
2026". Same child: one corroborated event. A look-alike (another child, other dates, the
same agency) stays two events; a weaker match goes to a reviewer, who may join or
separate the two records over HTTP and undo; the answer does not depend on the order
the records arrive in; a pattern counting concerns counts the incident once; and a
reader who cannot read one of the records sees two events and no review item."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.embedded import EmbeddedStore
from graph.patterns import library
from graph.patterns.facts import incidents_of
from graph.projection import Projection
from graph.store import fragment_id
from tests.api_server import serve
from tests.graph_compare import canonical
from tests.test_access import add_readers, open_case
from tests.test_store import canon, frag

MIA = {"ref": "c", "role": "child", "name": "Mia Walsh", "dob": "2019-03-14"}
NOAH = {"ref": "n", "role": "child", "name": "Noah Walsh", "dob": "2021-07-02"}
MUM = {"ref": "m", "role": "parent", "name": "Leanne Walsh", "dob": "1990-04-11"}
POLICE = ("nt-police", "police")
CSC = ("northshire-csws", "social_care")
HEALTH = ("nt-health", "health")
MID_MAY = {"text": "about mid-May 2026", "start": "2026-05-10", "end": "2026-05-20", "approximate": True}


def police(
    ref: str = "P-1", when: Any = "2026-05-14", people: list[dict[str, Any]] | None = None, **kw: Any
) -> dict[str, Any]:
    return canon(frag(ref, ag=POLICE, kind="welfare_check", when=when, people=people or [MIA, MUM], **kw))


def social_care(
    ref: str = "S-1",
    when: Any = MID_MAY,
    people: list[dict[str, Any]] | None = None,
    kind: str = "home_visit",
    **kw: Any,
) -> dict[str, Any]:
    return canon(frag(ref, ag=CSC, kind=kind, when=when, people=people or [MIA, MUM], **kw))


def groups(p: Projection) -> set[frozenset[str]]:
    """The events as sets of fragment ids (comparable whatever the arrival order)."""
    fids = {s: p.details([s])[s].fid for s in p.fragments}
    return {frozenset(fids[s] for s in ev.sources) for ev in p.events.values()}


def review(p: Projection) -> set[frozenset[str]]:
    fids = {s: p.details([s])[s].fid for s in p.fragments}
    return {frozenset((fids[a], fids[b])) for a, b in p.incident_review}


def fid(doc: dict[str, Any]) -> str:
    return fragment_id(doc["agency"]["id"], doc["record_ref"])


def add(store: EmbeddedStore, *docs: dict[str, Any]) -> None:
    for o in store.append(list(docs)):
        assert o.status in ("accepted", "duplicate"), o
    # the embedded store works out people and incidents behind the acknowledgement (or
    # before the next answer); these tests read its projection directly, so settle now
    while store.write_derived():
        pass


def test_a_welfare_check_and_a_home_visit_about_mid_may_are_one_corroborated_event(store: EmbeddedStore) -> None:
    p, s = police(), social_care()
    add(store, p, s)
    assert groups(store.projection) == {frozenset({fid(p), fid(s)})}
    assert not store.projection.incident_review
    v = store.system_view()
    (mia,) = [x for x in v.find_people("Mia Walsh")]
    (line,) = v.chronology(mia.person_id)
    assert line.corroborated and sorted(line.agencies) == sorted([POLICE[0], CSC[0]])
    # the event is dated as the more precise record dates it
    assert (line.start, line.end, line.precision, line.kind) == ("2026-05-14", "2026-05-14", "day", "welfare_check")
    assert canonical(store.replay()) == canonical(store.projection)


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: social_care(people=[NOAH, MUM]), id="another-child"),
        pytest.param(lambda: social_care(when={"start": "2026-04-01", "end": "2026-04-10"}), id="other-dates"),
        pytest.param(lambda: police("P-2", when=MID_MAY), id="same-agency"),
        pytest.param(lambda: social_care(kind="referral"), id="another-kind"),
    ],
)
def test_a_look_alike_stays_two_events_and_is_not_offered(store: EmbeddedStore, other: Any) -> None:
    add(store, police(), other())
    assert len(groups(store.projection)) == 2
    assert not store.projection.incident_review


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(lambda: social_care(when="2026-05"), id="a-month"),
        pytest.param(lambda: social_care(people=[MIA, NOAH, MUM]), id="some-children"),
        pytest.param(lambda: social_care(when={"start": "2026-05-12", "end": "2026-05-16"}), id="two-spans"),
    ],
)
def test_weaker_evidence_is_two_events_and_a_review_item(store: EmbeddedStore, other: Any) -> None:
    p, s = police(), other()
    if "two-spans" in str(s["event"]["when"]) or s["event"]["when"]["start"] == "2026-05-12":
        p = police(when={"start": "2026-05-13", "end": "2026-05-15"})
    add(store, p, s)
    assert len(groups(store.projection)) == 2
    assert review(store.projection) == {frozenset({fid(p), fid(s)})}
    (item,) = store.incident_queue(store.system_view())
    assert {item.a.fragment_id, item.b.fragment_id} == {fid(p), fid(s)}


def test_a_record_that_could_be_either_of_two_events_joins_neither(store: EmbeddedStore) -> None:
    p14, p16, s = police("P-14", when="2026-05-14"), police("P-16", when="2026-05-16"), social_care()
    add(store, p14, p16, s)
    assert groups(store.projection) == {frozenset({fid(p14)}), frozenset({fid(p16)}), frozenset({fid(s)})}
    assert review(store.projection) == {frozenset({fid(s), fid(p14)}), frozenset({fid(s), fid(p16)})}


def test_three_agencies_same_day_and_a_span_are_one_event(store: EmbeddedStore) -> None:
    p, h, s = police(), canon(frag("H-1", ag=HEALTH, kind="home_visit", when="2026-05-14", people=[MIA])), social_care()
    h = canon(frag("H-1", ag=HEALTH, kind="home_visit", when="2026-05-14", people=[MIA, MUM]))
    add(store, s, h, p)
    assert groups(store.projection) == {frozenset({fid(p), fid(h), fid(s)})}


def test_a_correction_keeps_the_incident_and_a_retraction_leaves_it(store: EmbeddedStore) -> None:
    p, s = police(), social_care()
    add(store, p, s)
    corrected = police("P-1b", supersedes={"record_ref": "P-1", "reason": "wrong time"})
    add(store, corrected)
    assert groups(store.projection) == {frozenset({fid(corrected), fid(s)}), frozenset({fid(p)})}
    assert canonical(store.replay()) == canonical(store.projection)
    retraction = police("P-1c", supersedes={"record_ref": "P-1b", "reason": "wrong family", "retract": True})
    add(store, retraction)
    assert all(len(g) == 1 for g in groups(store.projection))
    assert canonical(store.replay()) == canonical(store.projection)


# ---------------------------------------------------------------------- order

POOL = {
    "p14": lambda: police("P-14", when="2026-05-14"),
    "p16": lambda: police("P-16", when="2026-05-16"),
    "s": lambda: social_care(),
    "s-month": lambda: social_care("S-2", when="2026-05"),
    "h14": lambda: canon(frag("H-1", ag=HEALTH, kind="home_visit", when="2026-05-14", people=[MIA, MUM])),
    "h-noah": lambda: canon(frag("H-2", ag=HEALTH, kind="home_visit", when="2026-05-16", people=[NOAH])),
    "s-both": lambda: social_care("S-3", when="2026-05-16", people=[MIA, NOAH]),
    "ref": lambda: canon(frag("H-3", ag=HEALTH, kind="referral", when="2026-05-15", people=[MIA])),
}
DOCS = {k: f() for k, f in POOL.items()}


def project(keys: list[str]) -> Projection:
    p = Projection()
    for i, k in enumerate(keys, 1):
        p.apply(i, fid(DOCS[k]), DOCS[k])
    return p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(sorted(POOL)), min_size=1, max_size=8, unique=True).flatmap(
        lambda ks: st.tuples(st.just(ks), st.permutations(ks))
    )
)
def test_the_events_do_not_depend_on_arrival_order(orders: tuple[list[str], list[str]]) -> None:
    a, b = project(orders[0]), project(list(orders[1]))
    assert groups(a) == groups(b)
    assert review(a) == review(b)
    # one agency's two records are never one event by the evidence
    for g in groups(a):
        agencies = [f for f in g]
        assert len({DOCS[k]["agency"]["id"] for k in POOL if fid(DOCS[k]) in agencies}) == len(g)


def decided(keys: list[str], pairs: list[tuple[str, str, str]], *, first: bool) -> Projection:
    """``keys`` projected in that order with reviewers' decisions (kind, key, key) made
    before the records arrive (``first``) or after."""
    seq = {k: i for i, k in enumerate(keys, 1)}
    joins = [(seq[a], seq[b]) for kind, a, b in pairs if kind == "join" and a in seq and b in seq and a != b]
    aparts = [(seq[a], seq[b]) for kind, a, b in pairs if kind == "apart" and a in seq and b in seq and a != b]
    p = Projection()
    if first:
        p.set_incident_decisions(joins, aparts)
    for k in keys:
        p.apply(seq[k], fid(DOCS[k]), DOCS[k])
    if not first:
        p.set_incident_decisions(joins, aparts)
    return p


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.permutations(sorted(POOL)),
    st.permutations(sorted(POOL)),
    st.lists(
        st.tuples(st.sampled_from(["join", "apart"]), st.sampled_from(sorted(POOL)), st.sampled_from(sorted(POOL))),
        max_size=4,
    ),
)
def test_decisions_whenever_made_and_undone_leave_no_trace(a: list[str], b: list[str], pairs: list[Any]) -> None:
    one, two = decided(a, pairs, first=True), decided(b, pairs, first=False)
    assert groups(one) == groups(two) and review(one) == review(two)
    for g in groups(one):  # a reviewer's apart is never overruled
        for kind, x, y in pairs:
            if kind == "apart" and x != y:
                assert not {fid(DOCS[x]), fid(DOCS[y])} <= g
    # undoing every decision restores the picture without them
    two.set_incident_decisions([], [])
    plain = project(b)
    assert groups(two) == groups(plain) and review(two) == review(plain)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(sorted(POOL)))
def test_replaying_the_journal_equals_the_incremental_build(
    tmp_path_factory: pytest.TempPathFactory, keys: list[str]
) -> None:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("order") / "s.sqlite", create=True)
    try:
        for k in keys:
            add(s, DOCS[k])
        assert canonical(s.replay()) == canonical(s.projection)
        assert groups(s.projection) == groups(project(sorted(POOL)))
    finally:
        s.close()


# ---------------------------------------------------------------------- patterns


def test_a_pattern_counts_the_incident_once(store: EmbeddedStore) -> None:
    """Escalation: at least three concerns in the latest 180 days, twice as many as
    before. Police and social care telling one visit make one concern, not two."""
    p, s = police(), social_care()
    earlier = canon(frag("H-0", ag=HEALTH, kind="home_visit", when="2025-10-01", people=[MIA]))
    school = canon(frag("H-5", ag=HEALTH, kind="home_visit", when="2026-03-01", people=[MIA]))
    add(store, earlier, school, p, s)
    engine = store.patterns()
    mia = store.system_view().find_people("Mia Walsh")[0].person_id
    child = engine.source.child_of(store.system_view(), mia)
    (case,) = [c for c in engine.source.cases([child]) if c.child == child]
    assert len(case.reports) == 4 and len(incidents_of(case.reports)) == 3
    escalation = library.get("escalation")
    assert escalation.evaluate(case) == []
    # a reviewer says they were two visits: then there are three recent concerns
    store.decide_incident(store.system_view(), "apart", fid(p), fid(s), "two visits, per the duty log")
    (case,) = [c for c in engine.source.cases([child]) if c.child == child]
    (finding,) = escalation.evaluate(case)
    assert "3 in the 180 days" in finding.explanation


# ---------------------------------------------------------------------- review over HTTP, and access

SW, PC, OTHER = "sw-1", "pc-1", "pc-2"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, EmbeddedStore, dict[str, str]]]:
    s = EmbeddedStore.open(tmp_path / "s.sqlite", create=True)
    p, w = police(when="2026-05-14"), social_care(when="2026-05")
    secret = social_care("S-9", when="2026-05", markings={"audience": "originating_agency"})
    add(s, p, w, secret)
    add_readers(
        s,
        {
            SW: (CSC[0], ["social_worker"], []),
            PC: (POLICE[0], ["police_officer"], []),
            OTHER: (POLICE[0], ["police_officer"], []),
        },
        {},
    )
    open_case(s, "case-1", "Mia Walsh", "2019-03-14")
    add_readers(s, {}, {"case-1": [SW, PC]})
    tokens = {r: s.issue_token("test", r)[1] for r in (SW, PC, OTHER)}
    with serve(s) as base:
        yield base, s, tokens
    s.close()


def client(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}, timeout=30
    )


def test_reviewers_join_separate_and_undo_over_http(served: tuple[str, EmbeddedStore, dict[str, str]]) -> None:
    base, store, tokens = served
    p, w, secret = fid(police(when="2026-05-14")), fid(social_care(when="2026-05")), fid(social_care("S-9"))
    with client(base, tokens[SW]) as sw, client(base, tokens[PC]) as pc, client(base, tokens[OTHER]) as other:
        # the police officer may not read the originating-agency record: only one pair for them
        items = pc.get("/incidents/review").json()
        assert [{i["a"]["fragment_id"], i["b"]["fragment_id"]} for i in items] == [{p, w}]
        assert secret not in str(items)
        assert other.get("/incidents/review").json() == []  # not on the case
        r = other.post("/incidents/decisions", json={"kind": "join", "a": p, "b": w, "reason": "same visit"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "fragment"
        r = pc.post("/incidents/decisions", json={"kind": "join", "a": p, "b": w, "reason": ""})
        assert r.status_code == 422

        r = sw.post("/incidents/decisions", json={"kind": "join", "a": p, "b": w, "reason": "same visit, per duty log"})
        assert r.status_code == 201, r.text
        joined = r.json()["id"]
        assert frozenset({p, w}) in groups(store.projection)
        assert {p, w} not in [
            {i["a"]["fragment_id"], i["b"]["fragment_id"]} for i in pc.get("/incidents/review").json()
        ]
        mia = store.view(PC, "safeguarding").find_people("Mia Walsh")[0].person_id
        lines = store.view(PC, "safeguarding").chronology(mia)
        assert sum(ln.corroborated for ln in lines) == 1

        r = pc.post(f"/incidents/decisions/{joined}/undo", json={"reason": "joined in error"})
        assert r.status_code == 201, r.text
        assert frozenset({p, w}) not in groups(store.projection)
        r = pc.post(f"/incidents/decisions/{joined}/undo", json={"reason": "again"})
        assert r.status_code == 422

        r = sw.post("/incidents/decisions", json={"kind": "apart", "a": p, "b": w, "reason": "two different days"})
        assert r.status_code == 201
        assert pc.get("/incidents/review").json() == []
        kinds = [d["kind"] for d in pc.get("/incidents/decisions").json()]
        assert kinds == ["join", "undo", "apart"]
        assert other.get("/incidents/decisions").json() == []
    # an analyst's purpose is not case work: no review for it
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {tokens[PC]}", "X-Jigsaw-Purpose": "analysis"}, timeout=30
    ) as analysis:
        assert analysis.get("/incidents/review").status_code == 403


def test_a_join_never_rests_on_a_record_the_reader_cannot_read(store: EmbeddedStore) -> None:
    p = police()
    s = social_care(markings={"audience": "originating_agency"})
    add(store, p, s)
    add_readers(store, {PC: (POLICE[0], ["police_officer"], [])}, {})
    open_case(store, "case-1", "Mia Walsh", "2019-03-14")
    add_readers(store, {}, {"case-1": [PC]})
    assert groups(store.projection) == {frozenset({fid(p), fid(s)})}
    v = store.view(PC, "safeguarding")
    mia = v.find_people("Mia Walsh")[0].person_id
    (line,) = [ln for ln in v.chronology(mia) if not ln.held_back]
    assert not line.corroborated and line.agencies == [POLICE[0]]
    assert store.incident_queue(v) == []


def test_the_incidents_commands(tmp_path: Path) -> None:
    import re

    from typer.testing import CliRunner

    from api.cli import app

    path = tmp_path / "s.sqlite"
    s = EmbeddedStore.open(path, create=True)
    p, w = police(), social_care(when="2026-05")
    add(s, p, w)
    add_readers(s, {SW: (CSC[0], ["social_worker"], [])}, {})
    open_case(s, "case-1", "Mia Walsh", "2019-03-14")
    add_readers(s, {}, {"case-1": [SW]})
    s.close()
    runner = CliRunner()

    def run(*args: str) -> Any:
        result = runner.invoke(app, [*args, "--as", SW, "--store", str(path)], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        return result.output

    queue = run("incidents", "queue")
    assert sorted(set(re.findall(r"F[0-9a-f]{24}", queue))) == sorted([fid(p), fid(w)])
    assert "Decision 1:" in run("incidents", "decide", "join", fid(p), fid(w), "--reason", "same visit")
    assert "empty" in run("incidents", "queue")
    assert "undone" in run("incidents", "undo", "1", "--reason", "withdrawn")
    assert "withdrawn" in run("incidents", "decisions")
    s = EmbeddedStore.open(path)
    try:
        assert frozenset({fid(p), fid(w)}) not in groups(s.projection)
        actions = [r[0] for r in s._conn.execute("SELECT action FROM audit ORDER BY seq")]
        assert actions.count("incident.decision") == 2 and "read.incident_review" in actions
        assert s.audit_verify().ok
    finally:
        s.close()


# ---------------------------------------------------------------------- Neo4j (on the statement emulator)


def test_incident_decisions_on_neo4j_and_moving_a_store_keeps_them(tmp_path: Path) -> None:
    from graph.neo4j_store import Neo4jStore
    from graph.transfer import copy_store
    from tests.neo4j_emulator import Emulator

    db = Emulator()
    s = Neo4jStore(db)
    p, w = police(), social_care(when="2026-05")
    s.append([p, w])
    system = s.system_view()
    (item,) = s.incident_queue(system)
    assert {item.a.fragment_id, item.b.fragment_id} == {fid(p), fid(w)}
    joined = s.decide_incident(system, "join", fid(p), fid(w), "one visit")
    assert frozenset({s._seq_of_prefix(fid(p)[1:]), s._seq_of_prefix(fid(w)[1:])}) in {
        frozenset(ev.sources) for ev in s.projection.events.values()
    }
    assert s.incident_queue(system) == []
    # another replica sees the decision before its next answer
    other = Neo4jStore(db)
    assert any(len(ev.sources) == 2 for ev in other.projection.events.values())
    s.undo_incident_decision(system, joined.id, "withdrawn")
    assert all(len(ev.sources) == 1 for ev in s.projection.events.values())
    assert [d.kind for d in s.incident_decisions(system)] == ["join", "undo"]
    with pytest.raises(Exception, match="already undone"):
        s.undo_incident_decision(system, joined.id, "again")

    # embedded -> Neo4j: the decisions move, an undo still names what it undoes
    e = EmbeddedStore.open(tmp_path / "e.sqlite", create=True)
    add(e, p, w)
    d = e.decide_incident(e.system_view(), "join", fid(p), fid(w), "one visit")
    e.undo_incident_decision(e.system_view(), d.id, "withdrawn")
    e.decide_incident(e.system_view(), "apart", fid(p), fid(w), "two visits")
    db2 = Emulator()
    report = copy_store(e, Neo4jStore(db2), by="migration")
    assert report.incident_decisions == 3
    moved = Neo4jStore(db2)
    kinds = [(x.kind, x.undoes is not None) for x in moved.incident_decision_records()]
    assert kinds == [("join", False), ("undo", True), ("apart", False)]
    join_here, undo_here, _ = moved.incident_decision_records()
    assert undo_here.undoes == join_here.id
    assert moved.incident_queue(moved.system_view()) == []
    e.close()
