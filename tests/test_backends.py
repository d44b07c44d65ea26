"""The backend contract: the same behaviour from every backend that is reachable.

* ``embedded`` — always (a real SQLite file).
* ``neo4j-emulated`` — the Neo4j backend's own code over ``tests.neo4j_emulator``, a
  stand-in that does what each named statement means (no Neo4j server can be installed
  on our development and CI machines). It checks the backend's Python end to end, not
  its Cypher: ``tests/test_cypher.py`` checks the Cypher with Neo4j's parser.
* ``neo4j-live`` — the Neo4j backend on a real server, wherever ``NEO4J_URI`` is set (and
  ``NEO4J_TEST_ALLOW_WIPE=1``, because the test database is emptied first). Skipped
  otherwise, and the run's summary says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import _DEMO_ACCESS, DEMO_NOW, demo_files, setup_demo_access
from graph.embedded import EmbeddedStore
from graph.errors import NotFound
from graph.neo4j_store import Neo4jStore
from graph.store import Store
from ingest.linkage import Linker
from ingest.pipeline import import_files
from tests.neo4j_emulator import Emulator
from tests.test_store import canon, frag

LIVE_REASON = (
    "no Neo4j server: set NEO4J_URI (and NEO4J_USER, NEO4J_PASSWORD, NEO4J_DATABASE) and NEO4J_TEST_ALLOW_WIPE=1 "
    "to run the backend contract against a live Neo4j"
)
WIPE = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS"


def live_available() -> bool:
    return bool(os.environ.get("NEO4J_URI")) and os.environ.get("NEO4J_TEST_ALLOW_WIPE") == "1"


def _open(kind: str, tmp_path: Path, matcher: Linker | None = None) -> Store:
    if kind == "embedded":
        return EmbeddedStore.open(tmp_path / f"{kind}.sqlite", create=True, matcher=matcher)
    if kind == "neo4j-emulated":
        return Neo4jStore(Emulator(), matcher=matcher)
    if not live_available():
        pytest.skip(LIVE_REASON)
    import neo4j

    database = os.environ.get("NEO4J_DATABASE", "neo4j")
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""))
    with neo4j.GraphDatabase.driver(os.environ["NEO4J_URI"], auth=auth) as d, d.session(database=database) as s:
        s.run(WIPE).consume()
    return Neo4jStore.open(os.environ["NEO4J_URI"], *auth, database=database, matcher=matcher)


SURNAMES = ("Walsh", "Marsh", "Rourke", "Doyle", "Craig", "Leanne", "Kay")
BACKENDS = ["embedded", "neo4j-emulated", "neo4j-live"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = _open(request.param, tmp_path)
    yield s
    s.close()


def _demo(s: Store) -> Store:
    summary = import_files(s, demo_files(), now=DEMO_NOW)
    assert summary.rejected == 0
    setup_demo_access(s)
    return s


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = _demo(_open("embedded", tmp_path_factory.mktemp("ref"), Linker.from_file(None)))
    yield s
    s.close()


def _everyone(s: Store) -> dict[str, Any]:
    """Every reader's picture of every person: summaries, chronologies, networks."""
    system = s.system_view()
    people = sorted({p.person_id for word in SURNAMES for p in system.find_people(word, limit=1000)})
    assert len(people) > 10, "the demo has people"
    out: dict[str, Any] = {}
    readers = [rid for rid, *_ in _DEMO_ACCESS]
    for rid in readers:
        for purpose in ("safeguarding", "meeting", "analysis"):
            v = s.view(rid, purpose)
            for pid in people:
                lines = v.chronology(pid)
                g = v.network(pid)
                picture = (v.person(pid), lines, sorted(map(str, g.nodes)), sorted(map(str, g.edges)))
                # each store draws its own pseudonym key: compare everything but the key
                out[f"{rid}/{purpose}/{pid}"] = re.sub(r"#[0-9A-F]{6}", "#pseudonym", repr(picture))
            out[f"{rid}/{purpose}/count"] = v.fragment_count()
    return out


@pytest.mark.parametrize("kind", ["neo4j-emulated", "neo4j-live"])
def test_every_reader_sees_the_same_on_every_backend(kind: str, tmp_path: Path, reference: Store) -> None:
    s = _demo(_open(kind, tmp_path, Linker.from_file(None)))
    try:
        mine, theirs = _everyone(s), _everyone(reference)
        assert mine.keys() == theirs.keys()
        different = [k for k in mine if mine[k] != theirs[k]]
        assert different == []
        # and what is compared includes what access changes: placeholders, redacted
        # identities, and readers who see different things of one child
        pictures = "".join(map(str, mine.values()))
        assert "record_held_back" in pictures and "identity protected" in pictures
        dsl = [k for k in mine if k.startswith("dsl-hollybank/safeguarding/")]
        assert any(mine[k] != mine[k.replace("dsl-hollybank", "sw-northshire-118")] for k in dsl)
    finally:
        s.close()


def test_append_outcomes(backend: Store) -> None:
    a, b = canon(frag("INC-1")), canon(frag("INC-2"))
    out = backend.append([a, b])
    assert [o.status for o in out] == ["accepted", "accepted"]
    assert [o.status for o in backend.append([a])] == ["duplicate"]
    changed = canon(frag("INC-1", when="2026-05-21"))
    (rej,) = backend.append([changed])
    assert (rej.status, rej.field) == ("rejected", "record_ref")
    c = canon(frag("INC-3"))
    out = backend.append([c, changed], all_or_nothing=True)
    assert [o.status for o in out] == ["not_written", "rejected"]
    assert backend.fragment_count() == 2
    assert backend.get_fragment(out[0].fragment_id) is None
    assert backend.get_fragment(out[1].fragment_id) == a


def test_corrections(backend: Store) -> None:
    backend.append([canon(frag("INC-1"))])
    fix = canon(frag("INC-1a", supersedes={"record_ref": "INC-1", "reason": "wrong date"}, when="2026-05-19"))
    assert backend.append([fix])[0].status == "accepted"
    again = canon(frag("INC-1b", supersedes={"record_ref": "INC-1", "reason": "again"}))
    (o,) = backend.append([again])
    assert (o.status, o.field) == ("rejected", "supersedes.record_ref")
    (p,) = backend.system_view().find_people("Mia Walsh")
    (line,) = backend.system_view().chronology(p.person_id)
    assert line.start == "2026-05-19" and line.corrected


def test_readers_tokens_and_audit(backend: Store) -> None:
    backend.append([canon(frag("INC-1"))])
    (p,) = backend.system_view().find_people("Mia Walsh")
    backend.put_reader("admin", reader_id="sw1", agency="nt-csws", roles=["social_worker"])
    backend.open_case("admin", "C1", p.person_id)
    backend.set_membership("admin", "C1", "sw1", True)
    assert backend.reader("sw1").cases == frozenset({"C1"})
    tid, token = backend.issue_token("admin", "sw1")
    assert backend.reader_for_token(token) == "sw1"
    backend.revoke_token("admin", tid)
    assert backend.reader_for_token(token) is None
    with pytest.raises(NotFound):
        backend.reader("nobody")
    v = backend.view("sw1", "safeguarding")
    assert v.chronology(p.person_id)
    backend.audit_read(v, "read.chronology", {"people": [p.person_id]})
    seen = backend.who_saw(p.person_id)
    assert [(e.actor, e.action) for e in seen] == [("sw1", "read.chronology")]
    report = backend.audit_verify()
    assert report.ok and report.checked == len(backend.audit_entries(limit=1000)) >= 6
    backend.set_reader_active("admin", "sw1", False)
    assert backend.view("sw1", "safeguarding").chronology(p.person_id) == []


def test_share_decision_grants_exactly_what_it_releases(backend: Store) -> None:
    police = canon(frag("INC-1", markings={"audience": "originating_agency", "existence_visible": True}))
    backend.append([police])
    (p,) = backend.system_view().find_people("Mia Walsh")
    backend.put_reader("admin", reader_id="sw1", agency="nt-csws", roles=["social_worker"])
    backend.put_reader("admin", reader_id="pc1", agency="nt-police", roles=["police_officer"])
    assert backend.view("sw1", "safeguarding").chronology(p.person_id) == []
    req = backend.request_share(
        "sw1", holder_agency="nt-police", person_id=p.person_id, purpose="safeguarding", need="s47", urgency="routine"
    )
    assert [r.id for r in backend.share_requests("nt-police")] == [req.id]
    dec = backend.decide_share(
        "pc1",
        req.id,
        outcome="share_in_full",
        necessity="n",
        proportionality="p",
        lawful_basis="CA 1989 s47",
        released=[police_fid := backend.append([police])[0].fragment_id],
        family_told=True,
    )
    assert [d.id for d in backend.share_records(req.id)] == [dec.id]
    (line,) = backend.view("sw1", "safeguarding").chronology(p.person_id)
    assert [s.fragment_id for s in line.sources] == [police_fid]
    assert [e.action for e in backend.disclosures()] == ["share.decision"]


def test_a_write_retried_after_a_transient_error_is_written_once() -> None:
    """Each write transaction fails twice at commit before it succeeds (a leader switch
    in a cluster); the driver runs the work again and nothing is doubled or lost."""
    flaky = Emulator(transient_failures=2)
    s = Neo4jStore(flaky)
    docs = [canon(frag("INC-1")), canon(frag("INC-2"))]
    assert [o.status for o in s.append(docs)] == ["accepted", "accepted"]
    assert [o.seq for o in s.append(docs)] == [1, 2]  # duplicates: the same seqs
    s.put_reader("admin", reader_id="sw1", agency="nt-csws", roles=["social_worker"])
    assert flaky.attempts >= 3 * 3
    assert s.fragment_count() == 2
    assert sorted(flaky.state.fragments) == [1, 2]
    report = s.audit_verify()
    assert report.ok and report.checked == 2  # one write entry, one reader change: no doubles
