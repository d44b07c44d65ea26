"""The household (graph/household.py): who lives together, where and when, derived from
the fragments on real SQLite stores, seen through each reader's view, and used by the
place-based patterns."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.embedded import EmbeddedStore
from graph.household import Household, household_for_reader, household_of
from graph.patterns import selection_of
from graph.patterns.embedded_source import EmbeddedCases
from tests.pattern_scenarios import (
    HOME,
    HOUSEHOLD_SCENARIOS,
    OTHER_HOME,
    SCENARIOS,
    _with,
    adult,
    child,
    mother,
    rec,
)
from tests.test_patterns import _norm, child_key, load


def open_store(tmp_path: Path, docs: list[dict[str, Any]], name: str = "s") -> EmbeddedStore:
    s = EmbeddedStore.open(tmp_path / f"{name}.sqlite", create=True)
    load(s, docs)
    return s


def home_of(s: EmbeddedStore, name: str) -> Household:
    p = s.projection
    h = household_of(p, child_key(s, name), p.is_current)
    assert h is not None
    return h


def names(s: EmbeddedStore, h: Household) -> set[str]:
    p = s.projection
    return {p.person_values(q, "name", p.is_current)[0][0] for q in h.members}


def place_of(addr: dict[str, str]) -> str:
    return " ".join(addr["text"].lower().split()) + "|" + addr["postcode"]


def day(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


# --------------------------------------------------------------------- who lives together


def test_lives_with_puts_two_adults_in_one_household(tmp_path: Path) -> None:
    s = open_store(
        tmp_path,
        [
            rec("2026-01-05", "contact", [mother("Dee Jones", address=None), child("Ada Jones", address=None)],
                at="eh", relationships=[_with("m", "mother_of")]),
            rec("2026-01-20", "home_visit",
                [mother("Dee Jones", address=None),
                 adult("Carl Moss", "1985-05-05", ref="p", role="partner", address=None)],
                at="eh", relationships=[_with("p", "lives_with", "m")]),
        ],
    )  # fmt: skip
    h = home_of(s, "Ada Jones")
    assert names(s, h) == {"Ada Jones", "Dee Jones", "Carl Moss"}
    carl = h.members[child_key(s, "Carl Moss")]
    assert carl.how == {"lives_with"} and len(carl.seqs) == 1  # the one record that says so
    s.close()


def test_an_address_shared_in_one_record_is_a_household_but_not_across_records(tmp_path: Path) -> None:
    a = adult("Amy Cole", "1991-01-01", ref="a")
    b = adult("Ben Cole", "1990-03-03", ref="b", role="partner")
    s = open_store(
        tmp_path,
        [
            rec("2026-01-05", "home_visit", [a, b, child("Tia Cole", "2017-05-05", address=HOME)], at="eh"),
            # the same address given to a stranger in another record: not a household member
            rec("2026-02-05", "police_callout", [adult("Neil Ward", "1970-07-07", role="neighbour")], at="police"),
        ],
    )
    h = home_of(s, "Tia Cole")
    assert names(s, h) == {"Tia Cole", "Amy Cole", "Ben Cole"}
    assert all(m.how == {"shared_address"} for q, m in h.members.items() if q != h.anchor)
    s.close()


def test_a_parent_named_with_the_child_lives_with_them_unless_the_record_says_otherwise(tmp_path: Path) -> None:
    c = child("Max Fern", address=None)
    s = open_store(
        tmp_path,
        [
            rec("2025-11-01", "health_appointment", [mother(), c], at="gp", relationships=[_with("m", "mother_of")]),
            # two homes in one record: the father's differs from the mother's; he lives apart
            rec(
                "2026-06-01",
                "contact",
                [mother(), adult("Dan Fern", "1988-08-08", ref="f", address=OTHER_HOME), c],
                at="csc",
                relationships=[_with("m", "mother_of"), _with("f", "father_of")],
            ),
            # a grandmother named with the child's own, different address: not living with them
            rec(
                "2026-07-01",
                "contact",
                [adult("Gail Fern", "1960-06-06", ref="g", role="relative", address=OTHER_HOME), child("Max Fern")],
                at="csc",
                relationships=[_with("g", "carer_of")],
            ),
        ],
    )
    h = home_of(s, "Max Fern")
    assert names(s, h) == {"Max Fern", "Kim Fern"}
    assert {m.pid: m.how for m in h.members.values()}[child_key(s, "Kim Fern")] == {"parent"}
    s.close()


def test_ex_partners_in_one_record_leave_the_child_with_neither_by_presumption(tmp_path: Path) -> None:
    c = child("Max Fern", address=None)
    s = open_store(
        tmp_path,
        [
            rec(
                "2026-06-01",
                "contact",
                [mother(address=None), adult("Dan Fern", "1988-08-08", ref="f", address=None), c],
                at="csc",
                relationships=[_with("m", "mother_of"), _with("f", "father_of"), _with("m", "ex_partner_of", "f")],
            ),
        ],
    )
    assert names(s, home_of(s, "Max Fern")) == {"Max Fern"}
    s.close()


def test_a_half_siblings_other_parent_does_not_join_through_the_child(tmp_path: Path) -> None:
    s = open_store(
        tmp_path,
        [
            rec("2026-01-05", "home_visit", [mother("Eve Hale"), child("Zac Hale", "2016-02-02", address=None),
                child("Ola Hale", "2023-03-03", ref="t", address=None)], at="eh",
                relationships=[_with("m", "mother_of"), _with("m", "mother_of", "t")]),
            # Ola's father, named with Ola at his own home: he does not join Zac's household
            rec("2026-02-05", "contact", [adult("Ray Otto", "1984-04-04", ref="f", address=OTHER_HOME),
                child("Ola Hale", "2023-03-03", address=None)], at="csc", relationships=[_with("f", "father_of")]),
        ],
    )  # fmt: skip
    h = home_of(s, "Zac Hale")
    assert names(s, h) == {"Zac Hale", "Eve Hale", "Ola Hale"}
    assert {p.place for p in h.periods} == {place_of(HOME)}
    s.close()


# --------------------------------------------------------------------- where and when


def test_address_history_with_a_local_authority_per_period_and_the_child_takes_it(tmp_path: Path) -> None:
    build, name = HOUSEHOLD_SCENARIOS["moved_authority"]
    s = open_store(tmp_path, build(True))
    h = home_of(s, name)
    got = [(p.place, p.local_authority, p.start, p.end, len(p.seqs)) for p in h.periods]
    assert got == [
        (place_of(HOME), "Northshire", day("2025-11-01"), day("2025-11-01"), 1),
        (place_of(OTHER_HOME), "Eastmere", day("2026-06-01"), day("2026-06-01"), 1),
    ]
    assert [(la, d) for la, d, _ in h.authority_moves()] == [
        ("Northshire", day("2025-11-01")),
        ("Eastmere", day("2026-06-01")),
    ]
    # the child's own records carry no address: the child's places are the household's
    p = s.projection
    kid = child_key(s, name)
    assert p.person_values(kid, "address", p.is_current) == []
    (case,) = list(s.patterns().source.cases([kid]))
    assert case.places[kid] == {place_of(HOME), place_of(OTHER_HOME)}
    assert case.local_authorities[kid] == {"Northshire", "Eastmere"}
    s.close()


def test_records_at_one_address_make_one_period_spanning_their_dates(tmp_path: Path) -> None:
    c = child("Max Fern", address=None)
    docs = [
        rec(d, "health_appointment", [mother(), c], at="gp", concerns=[], relationships=[_with("m", "mother_of")])
        for d in ("2025-01-01", "2025-03-01", "2025-05-01")
    ]
    s = open_store(tmp_path, docs)
    (period,) = home_of(s, "Max Fern").periods
    assert (period.start, period.end, len(period.seqs), period.local_authority) == (
        day("2025-01-01"),
        day("2025-05-01"),
        3,
        "Northshire",
    )
    s.close()


# --------------------------------------------------------------------- access


def reader_household(s: EmbeddedStore, agency: str, name: str) -> dict[str, Any]:
    """The household of ``name`` as a safeguarding lead of ``agency`` on the child's case sees it."""
    kid = s.system_view().find_people(name)[0].person_id
    if not s.cases():
        s.open_case("admin", "CASE-1", kid)
    rid = f"dsl-{agency}"
    s.put_reader("admin", reader_id=rid, agency=agency, roles=["designated_safeguarding_lead"],
                 clearances=["special_category"])  # fmt: skip
    s.set_membership("admin", "CASE-1", rid, True)
    view = s.view(rid, "safeguarding")
    found = view.find_people(name)
    assert found
    got = household_for_reader(view, found[0].person_id)
    assert got is not None
    return got


@pytest.mark.parametrize("restricted", [False, True])
def test_a_reader_who_cannot_read_the_address_record_does_not_get_the_address(tmp_path: Path, restricted: bool) -> None:
    c = child("Max Fern", address=None)
    gp = rec(
        "2025-11-01",
        "health_appointment",
        [mother(), c],
        at="gp",
        concerns=[],
        relationships=[_with("m", "mother_of")],
        markings={"audience": "originating_agency"} if restricted else None,
    )
    # the school's own record names the mother with the child, without an address
    school = rec(
        "2026-01-10", "school_concern", [mother(address=None), c], at="school", relationships=[_with("m", "mother_of")]
    )
    s = open_store(tmp_path, [gp, school])
    got = reader_household(s, "hill-primary", "Max Fern")
    (mum,) = got["members"][1:]
    assert mum["evidence"] == ["parent"]
    if restricted:  # the school cannot read the GP's record: the mother, by its own record; no address
        assert len(mum["sources"]) == 1
        assert got["addresses"] == []
    else:
        assert len(mum["sources"]) == 2
        (addr,) = got["addresses"]
        assert (addr["postcode"], addr["local_authority"]) == ("NT1 1AA", "Northshire")
        assert len(addr["sources"]) == 1 and addr["sources"][0].startswith("F")
        assert addr["sources"][0] in mum["sources"]  # the GP's record: mother, child and address
    s.close()


# --------------------------------------------------------------------- the patterns


@pytest.mark.parametrize("pattern", sorted(HOUSEHOLD_SCENARIOS))
def test_place_patterns_fire_when_only_the_household_carries_the_address(tmp_path: Path, pattern: str) -> None:
    build, name = HOUSEHOLD_SCENARIOS[pattern]
    sel = selection_of([pattern])
    for contains in (True, False):
        docs = build(contains)
        # no record gives the child of interest an address
        assert not any(
            m.get("addresses") for d in docs for m in d["people"] if m["role"] == "child" and m["name"] == name
        )
        s = open_store(tmp_path, docs, f"{pattern}-{contains}")
        got = s.patterns().for_child(child_key(s, name), sel)
        if contains:
            assert [f.pattern for f in got] == [pattern], got
            (f,) = got
            # the records the household rests on are part of the evidence
            h = home_of(s, name)
            assert set(f.evidence) & h.seqs, (f.evidence, h.seqs)
        else:
            assert got == [], got
        # and a full scan agrees with the one child
        scanned = {f.pattern for c, f in s.patterns().scan(sel) if c == child_key(s, name)}
        assert scanned == ({pattern} if contains else set())
        s.close()


def test_the_original_place_scenarios_still_hold(tmp_path: Path) -> None:
    for pattern in HOUSEHOLD_SCENARIOS:
        build, name = SCENARIOS[pattern]
        for contains in (True, False):
            s = open_store(tmp_path, build(contains), f"orig-{pattern}-{contains}")
            got = s.patterns().for_child(child_key(s, name), selection_of([pattern]))
            assert [f.pattern for f in got] == ([pattern] if contains else []), (pattern, contains, got)
            s.close()


# --------------------------------------------------------------------- over HTTP


def test_the_household_over_http_names_records_and_is_audited(tmp_path: Path) -> None:
    from tests.api_server import demo_server
    from tests.test_access import MIA
    from tests.test_api import SW, person

    with demo_server(tmp_path) as srv:
        with srv.client(SW) as c:
            mia = person(c, *MIA)
            r = c.get(f"/people/{mia}/household")
            assert r.status_code == 200, r.text
            got = r.json()
            assert got["person_id"] == mia and got["members"][0]["person_id"] == mia
            assert len(got["members"]) > 1  # the demo's Walsh household
            for part in (*got["members"][1:], *got["addresses"]):
                assert part["sources"] and all(f.startswith("F") for f in part["sources"])
            for a in got["addresses"]:
                assert a["from"] <= a["to"]
            assert c.get("/people/P0000000000000000-0/household").status_code == 404
        entries = srv.store.audit_entries(actor=SW, limit=1000)
        assert entries[-1].action == "read.household" and mia in entries[-1].detail["people"]


def test_a_flag_resting_on_the_households_records_shows_them_only_as_whom_to_ask(tmp_path: Path) -> None:
    """Moved authority fires on the GP's records of the mother's addresses; the school's
    lead on the case may not read health records (no clearance): those are held back."""
    build, name = HOUSEHOLD_SCENARIOS["moved_authority"]
    s = open_store(tmp_path, build(True))
    kid = s.system_view().find_people(name)[0].person_id
    s.open_case("admin", "CASE-1", kid)
    s.put_reader("admin", reader_id="dsl", agency="hill-primary", roles=["designated_safeguarding_lead"])
    s.set_membership("admin", "CASE-1", "dsl", True)
    v = s.view("dsl", "safeguarding")
    (flag,) = s.patterns().run_for(s, v, v.find_people(name)[0].person_id, selection_of(["moved_authority"])) or []
    health = [e for e in flag.evidence if e.agency == "eastmere-health"]
    assert health and all(e.fragment_id is None and e.held_back for e in health)
    assert "eastmere-health" in flag.contact
    # and the household this lead sees has no address: only health records carry it
    got = household_for_reader(v, v.find_people(name)[0].person_id)
    assert got is not None and got["addresses"] == []
    s.close()


@pytest.mark.parametrize("pattern", sorted(HOUSEHOLD_SCENARIOS))
def test_without_the_household_those_scenarios_would_not_fire(
    tmp_path: Path, pattern: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The household is what carries the evidence: with it taken away, nothing fires."""
    import graph.patterns.facts as facts

    monkeypatch.setattr(facts, "households_of", lambda p, kids, visible: {})
    build, name = HOUSEHOLD_SCENARIOS[pattern]
    s = open_store(tmp_path, build(True))
    assert s.patterns().for_child(child_key(s, name), selection_of([pattern])) == []
    s.close()


# --------------------------------------------------------------------- incremental

HOUSEHOLD_POOL = [d for build, _ in HOUSEHOLD_SCENARIOS.values() for c in (True, False) for d in build(c)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.permutations(list(range(len(HOUSEHOLD_POOL)))), st.lists(st.integers(1, 6), min_size=1, max_size=5))
def test_incremental_evaluation_with_households_equals_a_full_run(
    tmp_path_factory: pytest.TempPathFactory, order: list[int], cuts: list[int]
) -> None:
    """A household's records are in the child's component, so a refresh after appends
    (re-evaluating only the children whose component they touch) equals a fresh run."""
    s = EmbeddedStore.open(tmp_path_factory.mktemp("hinc") / "s.sqlite", create=True)
    sel = selection_of(sorted(HOUSEHOLD_SCENARIOS))
    engine = s.patterns()
    k = 0
    for n in [*cuts, len(order)]:
        batch = [HOUSEHOLD_POOL[i] for i in order[k : k + n]]
        k += n
        if batch:
            load(s, batch)
        incremental = engine.scan(sel)
    fresh = type(engine)(EmbeddedCases(s)).scan(sel)
    assert fresh  # the pool holds every scenario that fires
    assert _norm(s, incremental) == _norm(s, fresh)
    s.close()


def test_an_unjoined_variant_of_the_child_is_not_another_child_of_the_household(tmp_path: Path) -> None:
    """ "A Jones", same date of birth, never named with Ada: perhaps Ada under a variant the
    resolution has not joined. In the household, but not counted as another child of it (the sibling patterns)."""
    variant = {"ref": "v", "role": "child", "name": {"given": "A", "family": "Jones"}, "dob": "2016-01-01"}
    s = open_store(
        tmp_path,
        [
            rec("2026-01-05", "contact", [mother("Dee Jones"), child("Ada Jones", "2016-01-01", address=None)],
                at="eh", concerns=[], relationships=[_with("m", "mother_of")]),
            rec("2026-02-05", "contact", [mother("Dee Jones"), variant], at="gp", concerns=[],
                relationships=[_with("m", "mother_of", "v")]),
            rec("2026-05-01", "disclosure", [child("Ada Jones", "2016-01-01", address=None)], at="school",
                concerns=["physical_abuse"], significance="high"),
        ],
    )  # fmt: skip
    h = home_of(s, "Ada Jones")
    (other,) = [m for q, m in h.members.items() if q not in (h.anchor, child_key(s, "Dee Jones"))]
    assert not other.distinct
    kid = child_key(s, "Ada Jones")
    (case,) = list(s.patterns().source.cases([kid]))
    assert case.household_children() == set() and case.household_children(distinct=False) == {other.pid}
    s.close()
