"""Patterns for analysts: each fires on its scenario and not on its look-alike; readers
without rights see no names and no hidden content; incremental equals a full run."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.cli import demo_files, setup_demo_access
from graph.embedded import EmbeddedStore
from graph.patterns import PATTERNS, PatternEngine, selection_of
from graph.patterns.custom import CustomPattern, run_custom
from graph.patterns.embedded_source import EmbeddedCases
from graph.patterns.facts import fact_of
from graph.patterns.library import Finding
from ingest.pipeline import import_docs, import_files
from tests.conftest import NOW
from tests.pattern_scenarios import SCENARIOS, child, rec

ALL_NAMES = [
    "multi_agency_concerns",
    "repeat_after_closure",
    "adult_across_households",
    "moved_authority",
    "repeated_injuries",
    "missed_health_and_falling_attendance",
    "escalation",
    "siblings_not_considered",
    "long_silence",
]
AS_OF = {"long_silence": {"as_of": "2026-11-23"}}


def load(store: EmbeddedStore, docs: list[dict[str, Any]]) -> None:
    summary = import_docs(store, docs, now=NOW)
    assert summary.rejected == 0, summary.errors[:3]


def child_key(store: EmbeddedStore, name: str) -> int:
    found = store.system_view().find_people(name)
    assert found, name
    return store.global_pid(found[0].person_id)


def findings(store: EmbeddedStore, name: str, pattern: str) -> list[Finding]:
    return store.patterns().for_child(child_key(store, name), selection_of([pattern]))


def test_the_library_has_every_pattern_the_issue_asks_for() -> None:
    assert sorted(PATTERNS) == sorted(ALL_NAMES)
    for pat in PATTERNS.values():
        assert pat.description and pat.title and pat.severity in ("low", "medium", "high")
        assert pat.parameters(), pat.name  # every pattern can be tuned


@pytest.mark.parametrize("pattern", ALL_NAMES)
def test_fires_on_its_scenario_and_not_on_the_look_alike(tmp_path: Path, pattern: str) -> None:
    build, name = SCENARIOS[pattern]
    sel = selection_of([pattern], {pattern: AS_OF[pattern]} if pattern in AS_OF else None)
    for contains in (True, False):
        s = EmbeddedStore.open(tmp_path / f"{pattern}-{contains}.sqlite", create=True)
        load(s, build(contains))
        got = s.patterns().for_child(child_key(s, name), sel)
        if contains:
            assert [f.pattern for f in got] == [pattern], got
            (f,) = got
            assert f.evidence and f.latest
            assert "[[" in f.explanation  # dates are tokens, shown as days or months per reader
        else:
            assert got == [], got
            if pattern == "moved_authority":
                assert s.patterns().for_child(child_key(s, "Kit Fern"), sel) == []
        s.close()


def test_other_patterns_stay_quiet_on_a_scenario_built_for_one(tmp_path: Path) -> None:
    """The adult pattern's scenario fires it and the unrelated patterns keep quiet."""
    s = EmbeddedStore.open(tmp_path / "s.sqlite", create=True)
    load(s, SCENARIOS["repeated_injuries"][0](True))
    # (no as_of: the long-silence pattern looks only at gaps between records)
    got = s.patterns().for_child(child_key(s, "Ivy Gale"), selection_of())
    assert {f.pattern for f in got} == {"repeated_injuries"}
    s.close()


def test_parameters_are_checked_by_name_and_type() -> None:
    with pytest.raises(ValueError, match="no parameter 'window'"):
        selection_of(["multi_agency_concerns"], {"multi_agency_concerns": {"window": 3}})
    with pytest.raises(ValueError, match="must be int"):
        selection_of(["multi_agency_concerns"], {"multi_agency_concerns": {"min_agencies": "three"}})
    with pytest.raises(ValueError, match="no pattern 'nope'"):
        selection_of(["nope"])
    with pytest.raises(ValueError, match="must not be negative"):
        selection_of(["escalation"], {"escalation": {"period_days": -1}})
    with pytest.raises(ValueError, match="'as_of' must be a date"):
        selection_of(["long_silence"], {"long_silence": {"as_of": "soon"}})
    with pytest.raises(ValueError, match="'min_significance' must be low, medium or high"):
        selection_of(["siblings_not_considered"], {"siblings_not_considered": {"min_significance": "big"}})


def test_a_parameter_changes_what_fires(tmp_path: Path) -> None:
    s = EmbeddedStore.open(tmp_path / "s.sqlite", create=True)
    load(s, SCENARIOS["multi_agency_concerns"][0](True))
    kid = child_key(s, "Ruby Ash")
    strict = selection_of(["multi_agency_concerns"], {"multi_agency_concerns": {"min_agencies": 4}})
    narrow = selection_of(["multi_agency_concerns"], {"multi_agency_concerns": {"window_days": 30}})
    assert s.patterns().for_child(kid, strict) == []
    assert s.patterns().for_child(kid, narrow) == []
    assert len(s.patterns().for_child(kid, selection_of(["multi_agency_concerns"]))) == 1
    s.close()


# ------------------------------------------------------------------ the worked scenario


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("demo") / "demo.sqlite", create=True)
    import_files(s, demo_files(), now=NOW)
    setup_demo_access(s)
    yield s
    s.close()


def mia(s: EmbeddedStore) -> str:
    (p,) = [p for p in s.system_view().find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    return p.person_id


def test_demo_home_alone_call_closed_as_malicious_fires_the_rule_of_optimism(demo: EmbeddedStore) -> None:
    got = demo.patterns().for_child(demo.global_pid(mia(demo)), selection_of(params=AS_OF))
    by = {f.pattern: f for f in got}
    assert "repeat_after_closure" in by
    roo = by["repeat_after_closure"]
    assert "malicious" in roo.explanation and "no further action" in roo.explanation
    refs = {demo.get_fragment(fid)["record_ref"] for fid in demo._fids(roo.evidence).values()}  # type: ignore[index]
    # the May closure and the mother's "malicious", and the November repeat at the children's centre
    assert {"CSWS-2026-05-0419", "CSWS-2026-05-0431", "CC-2026-11-0201"} <= refs
    # and three agencies in November with no referral to social care
    ma = by["multi_agency_concerns"]
    assert set(ma.agencies) >= {"hollybank-primary-school", "northshire-childrens-centre", "northshire-early-help"}


# ------------------------------------------------------------------ what readers see


def _names(s: EmbeddedStore) -> list[str]:
    names = []
    for p in s.projection.people.values():
        for (field, value), _ in p.values.items():
            if field == "name":
                names.append(value)
    return names


def test_an_analyst_without_a_case_sees_pseudonyms_months_and_whom_to_ask(demo: EmbeddedStore) -> None:
    v = demo.view("analyst-partnership", "analysis")
    flags, _ = demo.patterns().scan_for(demo, v, selection_of(params=AS_OF), limit=500)
    assert flags
    text = repr(flags)
    words = {w for name in _names(demo) for w in re.findall(r"[A-Za-z][A-Za-z'-]+", name)} - {"Mrs", "Miss", "Mr"}
    assert {"Mia", "Walsh", "Leanne", "Ellis"} <= words
    for word in words:  # no name of anyone, in any flag
        assert not re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE), word
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text)  # no day anywhere: months only
    for fl in flags:
        assert fl.pseudonymised and fl.child.startswith("C-")
        for e in fl.evidence:
            # the analyst's agency holds none of these: nothing readable, only whom to ask
            assert e.fragment_id is None and e.summary is None and e.kind is None
            assert e.held_back and e.agency in e.held_back
        assert fl.contact == sorted({e.agency for e in fl.evidence})
    # stable: the same child gets the same pseudonym on every run, and different children differ
    again, _ = demo.patterns().scan_for(demo, v, selection_of(params=AS_OF), limit=500)
    assert [f.child for f in again] == [f.child for f in flags]
    assert len({f.child for f in flags}) > 1
    # another agency's analyst gets other pseudonyms: agencies cannot match theirs up
    demo.put_reader("admin", reader_id="analyst-2", agency="eastmere-partnership", roles=["analyst"])
    other, _ = demo.patterns().scan_for(demo, demo.view("analyst-2", "analysis"), selection_of(params=AS_OF), limit=500)
    assert not {f.child for f in other} & {f.child for f in flags}


def test_a_case_member_sees_the_child_by_their_id_with_days_and_words(demo: EmbeddedStore) -> None:
    v = demo.view("sw-northshire-118", "safeguarding")
    pid = mia(demo)
    flags = demo.patterns().run_for(demo, v, pid, selection_of(params=AS_OF))
    assert flags
    roo = next(f for f in flags if f.pattern == "repeat_after_closure")
    assert not roo.pseudonymised and roo.child == pid
    assert re.search(r"Closed on 2026-05-1\d", roo.explanation)
    assert any(e.summary and "malicious" in e.summary for e in roo.evidence)
    # the same social worker asking for analysis (not case work) gets the pseudonymised form
    v2 = demo.view("sw-northshire-118", "analysis")
    flags2 = demo.patterns().run_for(demo, v2, pid, selection_of(params=AS_OF))
    assert flags2 and all(f.pseudonymised and f.child != pid for f in flags2)


def test_the_school_dsl_sees_health_evidence_only_as_whom_to_ask(demo: EmbeddedStore) -> None:
    v = demo.view("dsl-hollybank", "meeting")
    noah = next(p for p in demo.system_view().find_people("Noah Walsh") if "2021-07-02" in p.dobs)
    pid = v.find_people("Noah Walsh")[0].person_id
    flags = demo.patterns().run_for(demo, v, pid, selection_of(params=AS_OF))
    assert flags is not None
    ev = [e for f in flags for e in f.evidence if e.agency == "millbrook-surgery"]
    assert ev, "the GP's missed appointment is evidence for Noah"
    for e in ev:  # safeguarding leads only, special category: the DSL has no clearance
        assert e.fragment_id is None and e.summary is None and e.held_back
    assert noah.person_id


def test_a_finding_resting_on_a_record_whose_existence_is_hidden_is_not_shown(tmp_path: Path) -> None:
    s = EmbeddedStore.open(tmp_path / "s.sqlite", create=True)
    docs = SCENARIOS["multi_agency_concerns"][0](True)
    docs[0]["markings"] = {"audience": "originating_agency", "existence_visible": False}
    load(s, docs)
    s.put_reader("admin", reader_id="an", agency="partnership", roles=["analyst"])
    s.put_reader("admin", reader_id="cop", agency="northshire-police", roles=["analyst"])
    sel = selection_of(["multi_agency_concerns"])
    assert s.patterns().scan(sel)  # it fires on the system's view
    flags, _ = s.patterns().scan_for(s, s.view("an", "analysis"), sel)
    assert flags == []
    flags, _ = s.patterns().scan_for(s, s.view("cop", "analysis"), sel)  # police hold it: they see it
    assert len(flags) == 1 and any(e.fragment_id for e in flags[0].evidence)
    s.close()


def test_every_run_is_audited_with_names_and_parameters_not_content(demo: EmbeddedStore) -> None:
    v = demo.view("analyst-partnership", "analysis")
    before = len(demo.audit_entries(actor="analyst-partnership", limit=1000))
    sel = selection_of(["repeat_after_closure"], {"repeat_after_closure": {"within_days": 400}})
    demo.patterns().scan_for(demo, v, sel)
    entries = demo.audit_entries(actor="analyst-partnership", limit=1000)
    assert len(entries) == before + 1
    e = entries[-1]
    assert e.action == "read.patterns_scan"
    assert e.detail["patterns"] == ["repeat_after_closure"]
    assert e.detail["params"] == {"repeat_after_closure": {"within_days": 400}}
    assert "Walsh" not in repr(e.detail) and "malicious" not in repr(e.detail)


def test_a_person_the_reader_cannot_see_is_not_found(demo: EmbeddedStore) -> None:
    v = demo.view("officer-housing-7", "safeguarding")
    assert demo.patterns().run_for(demo, v, mia(demo), selection_of()) is None


# ------------------------------------------------------------------ custom patterns


def test_a_custom_pattern_sees_only_the_readers_graph(demo: EmbeddedStore) -> None:
    seen: list[set[str]] = []

    def health_records(g: Any, person: Any) -> list[str]:
        agencies = {d.get("agency") for n, d in g.nodes(data=True) if n[0] == "fragment"}
        seen.append({a for a in agencies if a})
        return [n[1] for n, d in g.nodes(data=True) if n[0] == "fragment" and d.get("agency") == "millbrook-surgery"]

    pat = CustomPattern("gp_records", "Records from the GP", "low", health_records)
    gp = demo.view("gp-millbrook-lead", "safeguarding")
    flag = run_custom(demo, gp, gp.find_people("Noah Walsh")[0].person_id, pat)
    assert flag is not None and flag.evidence and flag.evidence[0].agency == "millbrook-surgery"
    # the school's DSL may not read the GP's record (special category, no clearance)
    dsl = demo.view("dsl-hollybank", "safeguarding")
    noah_dsl = dsl.find_people("Noah Walsh")[0].person_id
    assert run_custom(demo, dsl, noah_dsl, pat) is None  # the DSL's graph has no GP record in it
    assert "millbrook-surgery" not in seen[-1]


# ------------------------------------------------------------------ incremental


def _pool() -> list[dict[str, Any]]:
    docs = []
    for pattern in ALL_NAMES:
        build, _ = SCENARIOS[pattern]
        docs += build(True) + build(False)
    # corrections and a retraction among them
    corr = dict(docs[0])
    corr = {
        **corr,
        "record_ref": corr["record_ref"] + "-C",
        "supersedes": {"record_ref": corr["record_ref"], "reason": "date"},
    }
    corr["event"] = {**corr["event"], "when": "2026-03-20"}
    corr["recorded_at"], corr["shared_at"] = "2026-03-21T10:00:00Z", "2026-03-21T10:00:00Z"
    docs.append(corr)
    retract = {k: v for k, v in docs[5].items() if k != "event"}
    retract = {
        **retract,
        "record_ref": retract["record_ref"] + "-R",
        "supersedes": {"record_ref": docs[5]["record_ref"], "reason": "wrong child", "retract": True},
    }
    docs.append(retract)
    docs.append(rec("2026-08-01", "police_callout", [child("Sam Birch")], concerns=["supervision"]))
    return docs


POOL = _pool()


def _norm(s: EmbeddedStore, found: list[tuple[Any, Finding]]) -> list[tuple[Any, ...]]:
    fids = s._fids(sorted({x for _, f in found for x in f.evidence}))
    return sorted((c, f.pattern, f.explanation, tuple(fids[x] for x in f.evidence)) for c, f in found)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(list(range(len(POOL)))), st.lists(st.integers(1, 8), min_size=1, max_size=6))
def test_incremental_evaluation_equals_a_full_run(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], cuts: list[int]
) -> None:
    # a correction must follow what it corrects: keep the supersedes after their originals
    order = [i for i in order if "supersedes" not in POOL[i]] + [i for i in order if "supersedes" in POOL[i]]
    s = EmbeddedStore.open(tmp_path_factory.mktemp("inc") / "s.sqlite", create=True)
    sel = selection_of(params=AS_OF)
    engine = s.patterns()
    k = 0
    for n in [*cuts, len(order)]:
        batch = [POOL[i] for i in order[k : k + n]]
        k += n
        if batch:
            load(s, batch)
        incremental = engine.scan(sel)
        for kid in list(engine.source.children())[:4]:  # warm the single-child report cache
            engine.for_child(kid, sel)
        if k < len(order):
            assert engine.last_evaluated <= sum(1 for _ in s.patterns().source.children())
    other = type(engine)(EmbeddedCases(s))  # nothing cached at all
    fresh = other.scan(sel)
    assert _norm(s, incremental) == _norm(s, fresh)
    for kid in engine.source.children():  # one child at a time, cached reports or not
        assert engine.for_child(kid, sel) == other.for_child(kid, sel)
    s.close()


def test_an_append_re_evaluates_only_the_children_it_touches(tmp_path: Path) -> None:
    s = EmbeddedStore.open(tmp_path / "s.sqlite", create=True)
    for pattern in ALL_NAMES:
        load(s, SCENARIOS[pattern][0](True))
    engine = s.patterns()
    sel = selection_of(params=AS_OF)
    engine.scan(sel)
    assert engine.last_evaluated >= 9
    load(s, [rec("2026-09-01", "school_concern", [child("Ruby Ash")], at="school")])
    after = engine.scan(sel)
    assert engine.last_evaluated == 1
    assert any(f.pattern == "multi_agency_concerns" for _, f in after)
    s.close()


# ------------------------------------------------------------------ the fact cache, and scans that let writers in


def _scenario_store(path: Path) -> EmbeddedStore:
    s = EmbeddedStore.open(path, create=True)
    for pattern in ALL_NAMES:
        build, _ = SCENARIOS[pattern]
        load(s, build(True) + build(False))
    return s


def _kept(s: EmbeddedStore) -> dict[int, Any]:
    return {seq: orjson.loads(b) for seq, b in s._conn.execute("SELECT seq, facts FROM pattern_facts")}


def test_a_scan_keeps_what_patterns_read_and_later_scans_read_it_back(tmp_path: Path) -> None:
    s = _scenario_store(tmp_path / "s.sqlite")
    sel = selection_of(params=AS_OF)
    assert _kept(s) == {}  # nothing is kept by writing: the write path is untouched
    first = _norm(s, s.patterns().scan(sel))
    kept = _kept(s)
    p = s.projection
    assert set(kept) == {q for q in p.fragments if p.is_current(q)}
    # what is kept is what the journal says (made again from each fragment's body)
    for seq, doc in s._load(sorted(kept)).items():
        assert kept[seq] == orjson.loads(orjson.dumps(fact_of(doc)))
    assert _norm(s, PatternEngine(EmbeddedCases(s)).scan(sel)) == first
    # a later scan reads the kept facts, not the journal: a (test-only) edit shows through
    injury = next(q for q, f in kept.items() if f and f[0] == "injury")
    edited = orjson.dumps([kept[injury][0], 0, 0, *kept[injury][3:]])  # dated to the year 1
    with s.transaction() as conn:
        conn.execute("UPDATE pattern_facts SET facts = ? WHERE seq = ?", (edited, injury))
    tampered = _norm(s, PatternEngine(EmbeddedCases(s)).scan(sel))
    assert tampered != first
    with s.transaction() as conn:  # the cache may be dropped at any time: the next scan makes it again
        conn.execute("DELETE FROM pattern_facts")
    assert _norm(s, PatternEngine(EmbeddedCases(s)).scan(sel)) == first
    assert _kept(s) == kept
    s.close()


def test_erasing_a_record_erases_what_patterns_kept_of_it(tmp_path: Path) -> None:
    s = _scenario_store(tmp_path / "s.sqlite")
    sel = selection_of(params=AS_OF)
    engine = s.patterns()
    engine.scan(sel)
    closure = next(q for q, f in _kept(s).items() if f and f[8])
    word = _kept(s)[closure][8].encode()
    assert sum(1 for f in _kept(s).values() if f and f[8] == _kept(s)[closure][8]) == 1
    fid = s._fids([closure])[closure]
    s.erase(fid, authority="court_order", reason="test", by="admin")
    assert closure not in _kept(s)
    assert word not in b"".join(b for (b,) in s._conn.execute("SELECT facts FROM pattern_facts"))
    after = _norm(s, engine.scan(sel))
    assert after == _norm(s, PatternEngine(EmbeddedCases(s)).scan(sel))
    assert closure not in {x for _, _, _, fids in after for x in fids}
    s.close()


def test_a_full_scan_lets_writers_in_between_its_batches(tmp_path: Path) -> None:
    s = _scenario_store(tmp_path / "s.sqlite")
    source = EmbeddedCases(s, batch=1)  # a batch per component
    with s._lock:
        kids = list(source.children())
    cases = source.cases(kids, everything=True)
    next(cases)  # the first batch is built; the scan is between batches
    wrote = threading.Event()

    def write() -> None:
        load(s, [rec("2026-09-02", "school_concern", [child("Ruby Ash")], at="school")])
        wrote.set()

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(timeout=60)
    assert wrote.is_set(), "the append waited for the scan"
    assert sum(1 for _ in cases) >= len(kids) - 1
    s.close()


class _ErasingMidScan(EmbeddedCases):
    """A source that erases a record while the first full scan is between batches."""

    erase_fid: str | None = None

    def cases(self, children: Any, *, everything: bool = False, remember: bool = False) -> Iterator[Any]:
        for n, case in enumerate(super().cases(children, everything=everything, remember=remember)):
            yield case
            if n == 0 and self.erase_fid is not None:
                fid, self.erase_fid = self.erase_fid, None
                self.store.erase(fid, authority="court_order", reason="test", by="admin")


def test_an_erasure_during_a_full_scan_starts_it_again(tmp_path: Path) -> None:
    s = _scenario_store(tmp_path / "s.sqlite")
    sel = selection_of(params=AS_OF)
    before = PatternEngine(EmbeddedCases(s)).scan(sel)
    evidence = sorted({x for _, f in before for x in f.evidence})
    source = _ErasingMidScan(s, batch=1)
    source.erase_fid = s._fids([evidence[-1]])[evidence[-1]]
    found = _norm(s, PatternEngine(source).scan(sel))
    assert source.erase_fid is None  # it did erase, mid-scan
    assert found == _norm(s, PatternEngine(EmbeddedCases(s)).scan(sel))
    assert found != _norm(s, before)
    s.close()


# ---------------------------------------------------------------------------- pattern facts kept on Neo4j
# On the statement emulator (tests/neo4j_emulator.py: no Neo4j server can run here).


def _neo4j_scenario_store(db: Any) -> Any:
    from graph.neo4j_store import Neo4jStore

    s = Neo4jStore(db)
    for pattern in ALL_NAMES:
        build, _ = SCENARIOS[pattern]
        load(s, build(True) + build(False))
    return s


def _kept_on_nodes(db: Any) -> dict[int, Any]:
    from graph.patterns.facts import FACTS_VERSION

    return {
        seq: orjson.loads(f["facts"])
        for seq, f in db.state.fragments.items()
        if f.get("facts_version") == FACTS_VERSION
    }


def _stable(s: Any, found: list[tuple[Any, Finding]]) -> list[tuple[Any, ...]]:
    """Flags by the child's person id, not the replica's own number for them."""
    fids = s._fids(sorted({x for _, f in found for x in f.evidence}))
    return sorted((s.person_key(c), f.pattern, f.explanation, tuple(fids[x] for x in f.evidence)) for c, f in found)


def _scan_reads(db: Any, s: Any, sel: Any) -> tuple[list[tuple[Any, ...]], list[str]]:
    """A first scan on replica ``s``: its flags, and the statements it ran."""
    s._catch_up()  # the replica's own start-up, not the scan
    mark = len(db.calls)
    flags = _stable(s, s.patterns().scan(sel))
    return flags, [name for name, _ in db.calls[mark:]]


def test_on_neo4j_a_scan_keeps_facts_on_the_fragments_for_every_replica() -> None:
    from graph.neo4j_store import Neo4jStore
    from graph.patterns.facts import FACTS_VERSION
    from tests.neo4j_emulator import Emulator

    db = Emulator()
    s = _neo4j_scenario_store(db)
    sel = selection_of(params=AS_OF)
    assert _kept_on_nodes(db) == {}  # nothing is kept by writing: the write path is untouched
    first, reads = _scan_reads(db, s, sel)
    assert first and {"FRAGMENTS_AFTER", "FRAGMENT_BODIES"} & set(reads)  # the first scan anywhere reads bodies
    kept = _kept_on_nodes(db)
    p = s.projection
    assert set(kept) == {q for q in p.fragments if p.is_current(q)}
    for seq, doc in s._load(sorted(kept)).items():  # what is kept is what the journal says
        assert kept[seq] == orjson.loads(orjson.dumps(fact_of(doc)))
    # another replica's first scan reads the kept facts, not the bodies, and flags the same
    again, reads = _scan_reads(db, Neo4jStore(db), sel)
    assert again == first
    assert "KEPT_FACTS_AFTER" in reads and not {"FRAGMENTS_AFTER", "FRAGMENT_BODIES"} & set(reads)
    # facts kept in another format are not read: made again from the journal, and kept
    for f in db.state.fragments.values():
        if "facts_version" in f:
            f["facts_version"] = FACTS_VERSION + 1
    third, reads = _scan_reads(db, Neo4jStore(db), sel)
    assert third == first and {"FRAGMENTS_AFTER", "FRAGMENT_BODIES"} & set(reads)
    assert _kept_on_nodes(db) == kept


def test_on_neo4j_erasing_a_record_erases_the_facts_kept_of_it() -> None:
    from graph.neo4j_store import Neo4jStore
    from tests.neo4j_emulator import Emulator

    db = Emulator()
    s = _neo4j_scenario_store(db)
    sel = selection_of(params=AS_OF)
    s.patterns().scan(sel)
    closure = next(q for q, f in _kept_on_nodes(db).items() if f and f[8])
    word = _kept_on_nodes(db)[closure][8]
    fid = s._fids([closure])[closure]
    s.erase(fid, authority="court_order", reason="test", by="admin")
    assert closure not in _kept_on_nodes(db)
    assert word not in repr([f.get("facts") for f in db.state.fragments.values()])
    # a replica that scanned before keeps nothing of it either: no facts come back
    s._keep_pattern_facts([(closure, orjson.dumps(["x"]))])
    assert closure not in _kept_on_nodes(db)
    after = _stable(s, s.patterns().scan(sel))
    assert after == _stable(s, Neo4jStore(db).patterns().scan(sel))
    assert fid not in {x for *_, fids in after for x in fids}


def test_facts_kept_in_another_format_are_forgotten_when_the_store_opens(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    s = _scenario_store(path)
    s.patterns().scan(selection_of(params=AS_OF))
    kept = _kept(s)
    s.close()
    with EmbeddedStore.open(path) as s:  # the same format: kept
        assert _kept(s) == kept
        with s.transaction() as conn:  # kept before the format had a number: the first format
            conn.execute("DELETE FROM meta WHERE key = 'pattern_facts_version'")
    with EmbeddedStore.open(path) as s:
        assert _kept(s) == kept
        with s.transaction() as conn:  # another format (an older release's, say)
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'pattern_facts_version'")
    with EmbeddedStore.open(path) as s:
        assert _kept(s) == {}
        s.patterns().scan(selection_of(params=AS_OF))
        assert _kept(s) == kept
