"""An analyst's own pattern as Cypher, on the Neo4j backend: run in a read transaction,
given the reader's visible fragment ids, and answered only with fragments the reader may
read (graph/patterns/custom.py, docs/patterns.md).

The emulator is not a Cypher engine: it knows the documented example and two fixed test
queries by their text (``tests.neo4j_emulator.PatternQueryEmulator``). Their Cypher is
checked here with Neo4j's parser; on a live Neo4j (``NEO4J_URI``) the same tests run them
for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.errors import StoreError
from graph.neo4j_store import Neo4jStore
from graph.patterns.custom import (
    EXAMPLE_MISSED_APPOINTMENTS,
    EXAMPLES,
    CustomCypherPattern,
    CustomPattern,
    run_custom,
)
from graph.store import Store
from tests.neo4j_emulator import TEST_QUERY_ALL_MENTIONS, TEST_QUERY_WRITES, PatternQueryEmulator
from tests.test_backends import _demo, _open
from tests.test_cypher import _lint, _params, _problems

MISSED = CustomCypherPattern("missed_health", "Missed health appointments", "medium", EXAMPLE_MISSED_APPOINTMENTS)


def _missed(g: Any, person: str) -> list[str]:
    """The networkx form of the example: fragments reporting a missed appointment."""
    return [
        a[1]
        for a, b, k in g.edges(keys=True)
        if a[0] == "fragment" and k == "reports" and g.nodes[b].get("kind") == "missed_appointment"
    ]


@pytest.fixture(params=["neo4j-emulated", "neo4j-live"])
def neo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Neo4jStore]:
    s = Neo4jStore(PatternQueryEmulator()) if request.param == "neo4j-emulated" else _open(request.param, tmp_path)
    assert isinstance(s, Neo4jStore)
    _demo(s)
    yield s
    s.close()


def _visible(s: Store, reader: str, person_id: str) -> set[str]:
    g = s.view(reader, "safeguarding").network(person_id, radius=2)
    return {n[1] for n in g if n[0] == "fragment"}


def test_a_cypher_pattern_shows_only_what_the_reader_may_read(neo: Neo4jStore) -> None:
    gp = neo.view("gp-millbrook-lead", "safeguarding")
    noah = gp.find_people("Noah Walsh")[0].person_id
    flag = run_custom(neo, gp, noah, MISSED)
    assert flag is not None and flag.evidence
    assert {(e.agency, e.kind) for e in flag.evidence} == {("millbrook-surgery", "missed_appointment")}
    # the same pattern written over the reader's networkx graph finds the same records
    same = run_custom(neo, gp, noah, CustomPattern("missed_health", "Missed health appointments", "medium", _missed))
    assert same == flag
    gp_records = {e.fragment_id for e in flag.evidence}
    # the school's DSL may not read the GP's records (special category, no clearance)
    dsl = neo.view("dsl-hollybank", "safeguarding")
    noah_dsl = dsl.find_people("Noah Walsh")[0].person_id
    assert run_custom(neo, dsl, noah_dsl, MISSED) is None
    # a query that ignores $visible and answers every record about Noah: only what the
    # DSL may read is shown, and the GP's records are dropped
    everything = CustomCypherPattern("all_records", "Every record", "low", TEST_QUERY_ALL_MENTIONS)
    shown = run_custom(neo, dsl, noah_dsl, everything)
    assert shown is not None and shown.evidence
    fids = {e.fragment_id for e in shown.evidence}
    assert fids <= _visible(neo, "dsl-hollybank", noah_dsl)
    assert not fids & gp_records
    if isinstance(neo._driver, PatternQueryEmulator):  # the query did answer them
        answered = {r["fid"] for r in neo._driver.answers[-1]}
        assert gp_records <= answered and answered - fids


def test_a_cypher_pattern_cannot_write(neo: Neo4jStore) -> None:
    from neo4j.exceptions import ClientError

    v = neo.view("gp-millbrook-lead", "safeguarding")
    noah = v.find_people("Noah Walsh")[0].person_id
    before = [neo.get_fragment(f) for f in neo.fragments_about(noah)]
    with pytest.raises(ClientError):
        run_custom(neo, v, noah, CustomCypherPattern("w", "Writes", "low", TEST_QUERY_WRITES))
    assert [neo.get_fragment(f) for f in neo.fragments_about(noah)] == before
    (line,) = [x for x in v.chronology(noah) if x.kind == "missed_appointment"][:1]
    assert line.summary != "changed by a pattern"
    if isinstance(neo._driver, PatternQueryEmulator):
        assert neo._driver.modes == ["read"]


def test_a_cypher_run_is_audited_with_the_query_digest_and_what_was_shown(neo: Neo4jStore) -> None:
    v = neo.view("gp-millbrook-lead", "safeguarding")
    noah = v.find_people("Noah Walsh")[0].person_id
    flag = run_custom(neo, v, noah, MISSED)
    assert flag is not None
    entry = neo.audit_entries(actor="gp-millbrook-lead", action_prefix="read.patterns_custom", limit=10)[-1]
    assert entry.detail["patterns"] == ["missed_health"] and entry.detail["people"] == [noah]
    assert entry.detail["fragments"] == sorted(e.fragment_id for e in flag.evidence)
    assert len(entry.detail["query_sha256"]) == 64
    assert [e.action for e in neo.who_saw(noah)][-1] == "read.patterns_custom"


def test_the_cypher_form_on_the_embedded_store_names_the_backend(tmp_path: Path) -> None:
    s = _demo(_open("embedded", tmp_path))
    try:
        v = s.view("gp-millbrook-lead", "safeguarding")
        noah = v.find_people("Noah Walsh")[0].person_id
        with pytest.raises(StoreError, match=r"Neo4j backend only.*EmbeddedStore") as err:
            run_custom(s, v, noah, MISSED)
        assert err.value.field == "pattern"
        # the networkx form runs there
        flag = run_custom(s, v, noah, CustomPattern("missed", "Missed", "medium", _missed))
        assert flag is not None and flag.evidence
    finally:
        s.close()


def test_the_networkx_form_gives_the_same_flags_on_both_backends(tmp_path: Path) -> None:
    stores = [_demo(_open("embedded", tmp_path)), _demo(_open("neo4j-emulated", tmp_path))]

    def everything(g: Any, person: str) -> list[str]:
        return [n[1] for n in g if n[0] == "fragment"]

    pats = [CustomPattern("missed", "Missed", "medium", _missed), CustomPattern("all", "All", "low", everything)]
    try:
        seen = []
        for reader in ("gp-millbrook-lead", "dsl-hollybank", "sw-northshire-118"):
            flags = []
            for s in stores:
                v = s.view(reader, "safeguarding")
                flags.append([run_custom(s, v, p.person_id, pat) for p in v.find_people("Walsh") for pat in pats])
            assert flags[0] == flags[1]
            assert any(flags[0])
            seen.append({e.fragment_id for f in flags[0] if f for e in f.evidence})
        assert len({frozenset(x) for x in seen}) >= 2  # each reader their own graph
    finally:
        for s in stores:
            s.close()


def test_the_example_and_test_queries_parse_against_the_schema() -> None:
    queries = {**EXAMPLES, "TEST_QUERY_ALL_MENTIONS": TEST_QUERY_ALL_MENTIONS, "TEST_QUERY_WRITES": TEST_QUERY_WRITES}
    out = _lint(queries)
    assert {name: _problems(d) for name, d in out.items() if _problems(d)} == {}
    for name in EXAMPLES:  # the documented examples use both parameters, and only them
        assert _params(out[name]) == {"visible", "person"}, name
    assert _params(out["TEST_QUERY_ALL_MENTIONS"]) == {"person"}
    # and the check is not a rubber stamp: a misspelt property in an example is caught
    bad = _lint({"bad": EXAMPLE_MISSED_APPOINTMENTS.replace("e.kind", "e.knd")})
    assert _problems(bad["bad"])
