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

import json
import os
import random
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import _DEMO_ACCESS, DEMO_NOW, demo_files, setup_demo_access
from graph import meaning
from graph.embedded import EmbeddedStore
from graph.errors import InvalidDecision, NotFound
from graph.neo4j_store import Neo4jStore
from graph.patterns import selection_of
from graph.resolution import ResolutionDecision
from graph.store import Store, fragment_id
from ingest.linkage import Linker
from ingest.pipeline import import_docs, import_files
from tests.conftest import fragment
from tests.neo4j_emulator import Emulator
from tests.pattern_scenarios import SCENARIOS
from tests.test_store import agency, canon, frag

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


# ---------------------------------------------------------------------- shared meaning (issue 7)
# Read-and-understood, correction notices and their webhooks through the Store contract;
# tests/test_shared_meaning.py runs the same over HTTP on every backend.

POLICE = ("nt-police", "police")
SECRET = "whsec_" + "k" * 40


class Clock:
    """The store's clock, moved by the test (backoff and leases are by the store's clock)."""

    def __init__(self) -> None:
        self.now = "2026-06-01T09:00:00.000000Z"

    def __call__(self) -> str:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now = meaning.later(self.now, seconds)


def _read_by(backend: Store, refs: dict[str, list[str]]) -> tuple[dict[str, str], Clock]:
    """Police records about Mia (``refs``: record reference -> the readers who read it),
    on the case of a social worker and a school's DSL; webhooks for both their agencies."""
    clock = Clock()
    backend.clock = clock  # type: ignore[attr-defined]
    fids = {ref: o.fragment_id for ref, o in zip(refs, backend.append([canon(frag(r)) for r in refs]), strict=True)}
    (p,) = backend.system_view().find_people("Mia Walsh")
    backend.put_reader("admin", reader_id="pc1", agency="nt-police", roles=["police_officer"])
    backend.put_reader("admin", reader_id="sw1", agency="nt-csws", roles=["social_worker"])
    backend.put_reader("admin", reader_id="dsl1", agency="nt-school", roles=["designated_safeguarding_lead"])
    backend.put_reader("admin", reader_id="hou1", agency="nt-housing", roles=["practitioner"])
    backend.open_case("admin", "C1", p.person_id)
    for rid in ("sw1", "dsl1"):
        backend.set_membership("admin", "C1", rid, True)
    for ref, readers in refs.items():
        for rid in readers:
            v = backend.view(rid, "safeguarding")
            assert v.fragment(fids[ref]) is not None
            backend.audit_read(v, "read.fragment", {"fragments": [fids[ref]]})
    for a in ("nt-csws", "nt-school"):
        backend.put_webhook("admin", agency=a, url=f"https://{a}.example/jigsaw", secret=SECRET)
    return fids, clock


def _correct(backend: Store, ref: str, new_ref: str, *, retract: bool = False, **changes: Any) -> str:
    sup = {"record_ref": ref, "reason": "wrong date", **({"retract": True} if retract else {})}
    if retract:
        doc = fragment(
            agency=agency(*POLICE),
            record_ref=new_ref,
            recorded_at="2026-05-22T09:00:00Z",
            shared_at="2026-05-22T09:00:00Z",
            event=None,
            people=[],
            relationships=[],
            supersedes=sup,
        )
    else:
        doc = frag(new_ref, supersedes=sup, when="2026-05-19", **changes)
    (o,) = backend.append([canon(doc)], actor="pc1")
    assert o.status == "accepted", o
    return o.fragment_id


def test_acknowledgements_and_what_is_outstanding(backend: Store) -> None:
    fids, clock = _read_by(backend, {"INC-1": ["sw1", "dsl1"]})
    fid = fids["INC-1"]
    assert {(o.subject, o.to_agency, o.status) for o in backend.outstanding("nt-police")} == {
        (fid, "nt-csws", "unacknowledged"),
        (fid, "nt-school", "unacknowledged"),
    }
    backend.acknowledge(backend.view("sw1", "safeguarding"), fid, kind="understood")
    clock.wait(1)
    dsl = backend.view("dsl1", "safeguarding")
    with pytest.raises(meaning.InvalidAcknowledgement) as e:
        backend.acknowledge(dsl, fid, kind="query")
    assert e.value.field == "text"
    backend.acknowledge(dsl, fid, kind="query", text="What does welfare check cover?")
    (left,) = backend.outstanding("nt-police")
    assert (left.to_agency, left.status, left.query, left.query_by) == (
        "nt-school",
        "query",
        "What does welfare check cover?",
        "dsl1",
    )
    # a reader who may not read it is told exactly what a reader of no such record is
    hidden = backend.view("hou1", "safeguarding")
    with pytest.raises(NotFound) as a:
        backend.acknowledge(hidden, fid, kind="understood")
    with pytest.raises(NotFound) as b:
        backend.acknowledge(hidden, "F" + "0" * 24, kind="understood")
    assert str(a.value) == str(b.value)
    with pytest.raises(meaning.InvalidAcknowledgement):  # its author's agency does not acknowledge it
        backend.acknowledge(backend.view("pc1", "safeguarding"), fid, kind="understood")
    clock.wait(1)
    backend.acknowledge(backend.view("pc1", "safeguarding"), fid, kind="confirmed_fact")
    got = backend.acknowledgements([fid, fid])
    assert [(k.reader_id, k.kind) for k in got] == [("sw1", "understood"), ("dsl1", "query"), ("pc1", "confirmed_fact")]
    backend.acknowledge(dsl, fid, kind="understood")
    assert backend.outstanding("nt-police") == []
    entries = backend.audit_entries(action_prefix="acknowledgement.", limit=100)
    assert [e.detail["fragments"] for e in entries] == [[fid]] * 4
    assert all("welfare" not in str(e.detail) for e in entries)  # the words stay out of the audit
    assert backend.audit_verify().ok


def test_a_correction_and_a_withdrawal_tell_exactly_those_who_read_them(backend: Store) -> None:
    fids, _ = _read_by(backend, {"INC-1": ["sw1", "dsl1"], "INC-2": ["dsl1"]})
    new = _correct(backend, "INC-1", "INC-1a")
    _correct(backend, "INC-2", "INC-2x", retract=True)
    sw, dsl = backend.view("sw1", "safeguarding"), backend.view("dsl1", "safeguarding")
    (n,) = backend.notices(sw)
    assert (n.kind, n.fragment_id, n.correction_id, n.link, n.read) == (
        "corrected",
        fids["INC-1"],
        new,
        f"/fragments/{fids['INC-1']}",
        False,
    )
    assert n.by_agency == "nt-police" and "Mia" not in n.message
    told = {x.fragment_id: x for x in backend.notices(dsl)}
    assert told.keys() == {fids["INC-1"], fids["INC-2"]}
    gone = told[fids["INC-2"]]
    assert gone.kind == "retracted" and gone.correction_id is None and "withdrawn" in gone.message
    for rid in ("pc1", "hou1"):  # the author, and a reader who never read them
        assert backend.notices(backend.view(rid, "safeguarding")) == []
    # marking read: one's own notices only
    backend.mark_notice_read(sw, n.id)
    backend.mark_notice_read(sw, n.id)  # again: no change
    assert [x.read for x in backend.notices(sw)] == [True] and backend.notices(sw, unread_only=True) == []
    for rid, nid in (("dsl1", n.id), ("sw1", "N" + "0" * 16)):
        with pytest.raises(NotFound):
            backend.mark_notice_read(backend.view(rid, "safeguarding"), nid)
    assert all(not x.read for x in backend.notices(dsl))
    created = backend.audit_entries(action_prefix="notice.create", limit=100)
    assert [(e.detail["readers"], e.detail["webhooks"]) for e in created] == [(["dsl1", "sw1"], 2), (["dsl1"], 1)]
    assert [e.detail["notice"] for e in backend.audit_entries(action_prefix="notice.read", limit=100)] == [n.id] * 2
    assert backend.audit_verify().ok


def test_a_notice_shows_no_more_than_its_reader_may_see_now(backend: Store) -> None:
    fids, _ = _read_by(backend, {"INC-1": ["sw1", "dsl1"]})
    restricted = {"audience": "originating_agency", "existence_visible": False}
    new = _correct(backend, "INC-1", "INC-1a", markings=restricted)
    backend.set_membership("admin", "C1", "dsl1", False)
    (sw,) = backend.notices(backend.view("sw1", "safeguarding"))
    assert sw.fragment_id == fids["INC-1"] and sw.correction_id is None  # may not read the new version
    (dsl,) = backend.notices(backend.view("dsl1", "safeguarding"))  # off the case now
    assert (dsl.fragment_id, dsl.correction_id, dsl.link) == (None, None, None)
    assert "nt-police" in dsl.message and fids["INC-1"] not in dsl.message and new not in dsl.message


def test_webhooks_are_listed_without_their_secrets_and_checked(backend: Store) -> None:
    hook = backend.put_webhook("admin", agency="nt-csws", url="https://csws.example/in", secret=SECRET)
    assert (hook.agency, hook.url, hook.active) == ("nt-csws", "https://csws.example/in", True)
    backend.put_webhook("admin", agency="nt-csws", url="https://csws.example/v2", secret=SECRET, active=False)
    (listed,) = backend.webhooks()
    assert (listed.url, listed.active) == ("https://csws.example/v2", False)
    assert not hasattr(listed, "secret") and SECRET not in repr(backend.webhooks())
    for url, secret, field in (("ftp://x", SECRET, "url"), ("https://x", "short", "secret")):
        with pytest.raises(meaning.InvalidAcknowledgement) as e:
            backend.put_webhook("admin", agency="nt-school", url=url, secret=secret)
        assert e.value.field == field
    assert [h.agency for h in backend.webhooks()] == ["nt-csws"]  # nothing half-applied
    changes = backend.audit_entries(action_prefix="webhook.", limit=100)
    assert [(e.actor, e.detail) for e in changes] == [
        ("admin", {"agency": "nt-csws", "active": True}),
        ("admin", {"agency": "nt-csws", "active": False}),
    ]
    assert SECRET not in str([e.detail for e in changes])


def test_due_deliveries_are_claimed_by_one_worker_each(backend: Store) -> None:
    refs = {f"INC-{i}": ["sw1", "dsl1"] for i in range(1, 4)}
    _, clock = _read_by(backend, refs)
    for ref in refs:
        _correct(backend, ref, ref + "a")
    claimed: list[str] = []
    go = threading.Barrier(6)

    def worker() -> None:
        go.wait()
        for _ in range(10):  # bounded: a claim that does not lease would otherwise loop for ever
            got = backend.due_deliveries(limit=1)
            claimed.extend(d.id for d in got)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 6 and len(set(claimed)) == 6  # three corrections, two agencies: each sent once
    assert backend.due_deliveries() == []  # all leased
    clock.wait(meaning.LEASE + 1)  # a worker that took them and died: they come back
    again = backend.due_deliveries()
    assert sorted(d.id for d in again) == sorted(claimed)
    assert {(d.url, d.secret, d.kind, d.by_agency) for d in again} == {
        (f"https://{a}.example/jigsaw", SECRET, "corrected", "nt-police") for a in ("nt-csws", "nt-school")
    }


def test_a_failing_delivery_backs_off_and_is_dead_lettered(backend: Store) -> None:
    _, clock = _read_by(backend, {"INC-1": ["sw1"], "INC-2": ["sw1"]})
    _correct(backend, "INC-1", "INC-1a")
    for attempt in range(1, meaning.MAX_ATTEMPTS + 1):
        (d,) = backend.due_deliveries()
        assert (d.agency, d.attempts) == ("nt-csws", attempt - 1)
        state = backend.record_delivery(d.id, ok=False, error="HTTP 500")
        if attempt == meaning.MAX_ATTEMPTS:
            assert state == "dead"
            break
        assert state == "pending"
        clock.wait(meaning.backoff(attempt) - 1)
        assert backend.due_deliveries() == []  # backing off
        clock.wait(2)
    clock.wait(30 * 24 * 3600)
    assert backend.due_deliveries() == []  # dead: never sent again
    _correct(backend, "INC-2", "INC-2a")
    (ok,) = backend.due_deliveries()
    assert backend.record_delivery(ok.id, ok=True) == "delivered"
    clock.wait(30 * 24 * 3600)
    assert backend.due_deliveries() == []
    with pytest.raises(NotFound):
        backend.record_delivery("W" + "0" * 16, ok=True)
    outcomes = backend.audit_entries(action_prefix="notice.deliver", limit=100)  # final outcomes only
    assert [(e.actor, e.detail["state"]) for e in outcomes] == [("webhooks", "dead"), ("webhooks", "delivered")]
    assert backend.audit_verify().ok


def test_a_correction_retried_after_a_transient_error_writes_its_notices_once() -> None:
    """A correction's notices are written in its own transaction: when the driver runs
    the work again after a leader switch, nothing is doubled and nothing is lost."""
    flaky = Emulator(transient_failures=2)
    s = Neo4jStore(flaky)
    _read_by(s, {"INC-1": ["sw1", "dsl1"]})
    _correct(s, "INC-1", "INC-1a")
    notices = flaky.state.__dict__["meaning"].notices
    assert sorted(n["reader_id"] for n in notices.values()) == ["dsl1", "sw1"]
    assert len(flaky.state.__dict__["meaning"].deliveries) == 2
    assert [e.action for e in s.audit_entries(action_prefix="notice.", limit=100)] == ["notice.create"]
    assert s.audit_verify().ok


# ------------------------------------------------------------------ patterns (issue 8)
# The pattern engine on every backend: the same flags for the same readers, and an
# incremental refresh equal to a full run (graph/patterns/neo4j_source.py).

PATTERN_READERS = [  # (reader, agency, roles, case opened on this child, purposes)
    ("pat-analyst", "partnership", ["analyst"], None, ["analysis"]),
    ("pat-police", "northshire-police", ["analyst"], None, ["analysis"]),
    ("pat-sw", "northshire-csc", ["social_worker"], "Ruby Ash", ["safeguarding", "meeting", "analysis"]),
    ("pat-dsl", "hill-primary", ["designated_safeguarding_lead"], "Ivy Gale", ["safeguarding"]),
]


def _pattern_store(kind: str, tmp_path: Path, docs: list[dict[str, Any]], key: str | None = None) -> Store:
    from tests.conftest import NOW

    s = _open(kind, tmp_path)
    summary = import_docs(s, docs, now=NOW)
    assert summary.rejected == 0, summary.errors[:3]
    for rid, reader_agency, roles, case_child, _ in PATTERN_READERS:
        s.put_reader("admin", reader_id=rid, agency=reader_agency, roles=roles)
        if case_child:
            (child,) = s.system_view().find_people(case_child)
            s.open_case("admin", f"CASE-{rid}", child.person_id)
            s.set_membership("admin", f"CASE-{rid}", rid, True)
    if key is not None:  # pseudonyms are keyed hashes: the same key gives the same ones
        s.set_pseudonym_key("admin", key)
    return s


def _pattern_pictures(s: Store) -> dict[str, Any]:
    """Every pattern reader's scan, and their flags for every scenario child they can find."""
    from tests.test_patterns import AS_OF

    sel = selection_of(params=AS_OF)
    engine = s.patterns()
    out: dict[str, Any] = {}
    names = sorted({name for _, name in SCENARIOS.values()} | {"Kit Fern"})
    for rid, *_, purposes in PATTERN_READERS:
        for purpose in purposes:
            v = s.view(rid, purpose)
            flags, more = engine.scan_for(s, v, sel, limit=500)
            out[f"{rid}/{purpose}/scan"] = (flags, more)
            for name in names:
                for p in v.find_people(name):
                    out[f"{rid}/{purpose}/{name}/{p.person_id}"] = engine.run_for(s, v, p.person_id, sel)
    return out


@pytest.mark.parametrize("kind", ["neo4j-emulated", "neo4j-live"])
def test_patterns_give_every_reader_the_same_flags_on_every_backend(kind: str, tmp_path: Path) -> None:
    from tests.test_patterns import POOL

    ref = _pattern_store("embedded", tmp_path, POOL)
    key = ref.pseudonym_key  # type: ignore[attr-defined]
    s = _pattern_store(kind, tmp_path, POOL, key)
    try:
        mine, theirs = _pattern_pictures(s), _pattern_pictures(ref)
        assert mine.keys() == theirs.keys()
        assert [k for k in mine if mine[k] != theirs[k]] == []
        # what is compared includes what access changes: pseudonyms for the analysts,
        # the case member's own ids with summaries, evidence held back by other agencies
        flags = [f for k, (fl, _) in ((k, v) for k, v in mine.items() if k.endswith("/scan")) for f in fl]
        assert any(f.pseudonymised for f in flags) and any(not f.pseudonymised for f in flags)
        assert any(e.held_back for f in flags for e in f.evidence)
        assert any(e.summary for f in flags for e in f.evidence)
        assert sum(1 for v in mine.values() if isinstance(v, list) and v) > 3  # run_for flags too
        # and the pseudonyms are the store's: another key gives others
        other = _pattern_store(kind if kind == "neo4j-emulated" else "embedded", tmp_path / "other", POOL)
        try:
            v = other.view("pat-analyst", "analysis")
            theirs_flags, _ = other.patterns().scan_for(other, v, selection_of(), limit=500)
            mine_flags, _ = s.patterns().scan_for(s, s.view("pat-analyst", "analysis"), selection_of(), limit=500)
            assert {f.child for f in theirs_flags}.isdisjoint({f.child for f in mine_flags})
        finally:
            other.close()
    finally:
        s.close()
        ref.close()


def _norm_findings(s: Store, found: list[tuple[Any, Any]]) -> list[tuple[Any, ...]]:
    src = s.patterns().source
    fids = src.fragment_ids(sorted({x for _, f in found for x in f.evidence}))
    return sorted((c, f.pattern, f.explanation, tuple(fids[x] for x in f.evidence)) for c, f in found)


@pytest.mark.parametrize("kind", ["neo4j-emulated", "neo4j-live"])
def test_patterns_refreshed_after_appends_equal_a_full_run(kind: str, tmp_path: Path) -> None:
    from graph.patterns.engine import PatternEngine
    from graph.patterns.neo4j_source import Neo4jCases
    from tests.conftest import NOW
    from tests.test_patterns import AS_OF, POOL

    # corrections after what they correct; the rest in a fixed shuffled order
    order = list(range(len(POOL)))
    random.Random(8).shuffle(order)
    order = [i for i in order if "supersedes" not in POOL[i]] + [i for i in order if "supersedes" in POOL[i]]
    s = _open(kind, tmp_path)
    assert isinstance(s, Neo4jStore)
    sel = selection_of(params=AS_OF)
    engine = s.patterns()
    try:
        k = 0
        partial = []
        for n in (20, *[1] * 12, 9, 5, len(order)):
            batch = [POOL[i] for i in order[k : k + n]]
            k += n
            if batch:
                assert import_docs(s, batch, now=NOW).rejected == 0
            found = engine.scan(sel)
            kids = list(engine.source.children())
            for kid in kids[:4]:  # warm the single-child report cache
                engine.for_child(kid, sel)
            partial.append(engine.last_evaluated < len(kids))
        assert any(partial[1:]), "a small append re-evaluates only the children it touches"
        fresh = PatternEngine(Neo4jCases(s))
        assert _norm_findings(s, found) == _norm_findings(s, fresh.scan(sel))
        for kid in engine.source.children():
            assert engine.for_child(kid, sel) == fresh.for_child(kid, sel)
        # one more record: only that child's component is evaluated again
        (ruby,) = s.system_view().find_people("Ruby Ash")
        again_ruby = [{"ref": "c", "role": "child", "name": "Ruby Ash", "dob": "2018-04-01"}]
        s.append([canon(frag("INC-PAT", people=again_ruby))])
        engine.scan(sel)
        assert engine.last_evaluated == 1
        # a resolution decision can move anyone: everything is evaluated again
        p = s.projection
        mentions = sorted(p.people[s.global_pid(ruby.person_id)].mentions)
        (s0, i0, _), (s1, i1, _) = mentions[0], mentions[1]
        fids = s._fids([s0, s1])
        s.add_resolution_decision(
            ResolutionDecision(0, "apart", (fids[s0], i0), (fids[s1], i1), "reviewed", "pat-sw", "2026-11-23T00:00:00Z")
        )
        after = engine.scan(sel)
        assert engine.last_evaluated == sum(1 for _ in engine.source.children())
        again = PatternEngine(Neo4jCases(s))
        assert _norm_findings(s, after) == _norm_findings(s, again.scan(sel))
    finally:
        s.close()


def test_a_record_about_a_sibling_refreshes_the_child_it_changes(backend: Store) -> None:
    """The sister seen a week after the disclosure: the flag on the child, not on the
    sister the new record names, goes away on the next refresh."""
    from tests.conftest import NOW
    from tests.pattern_scenarios import child, rec

    sel = selection_of(["siblings_not_considered"])
    assert import_docs(backend, SCENARIOS["siblings_not_considered"][0](True), now=NOW).rejected == 0
    engine = backend.patterns()
    (ada,) = backend.system_view().find_people("Ada Jones")
    found = engine.scan(sel)
    assert [c for c, _ in found] == [backend.global_pid(ada.person_id)]  # type: ignore[attr-defined]
    visit = rec("2026-05-08", "home_visit", [child("Bea Jones", "2019-01-01")], at="csc", concerns=[])
    assert import_docs(backend, [visit], now=NOW).rejected == 0
    assert engine.scan(sel) == []
    assert engine.last_evaluated == 2  # the two sisters: one component


# ---------------------------------------------------------------------- resolution review and erasure (issue 7)
# Reviewing the model's undecided pairs, deciding and undoing, and erasing a record,
# through the Store contract: the same answers on every backend, and a second replica
# (another store object on the same database or file) follows at once.

LINKER = Linker.from_file(None)
MARKER = "ZQXERASEME"


def _second(kind: str, first: Store, matcher: Linker | None = None) -> Store:
    """Another store object on the same data: a second process or API replica."""
    if kind == "embedded":
        assert isinstance(first, EmbeddedStore)
        return EmbeddedStore.open(first.path, matcher=matcher)
    assert isinstance(first, Neo4jStore)
    if kind == "neo4j-emulated":
        return Neo4jStore(first._driver, matcher=matcher)
    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", ""))
    return Neo4jStore.open(os.environ["NEO4J_URI"], *auth, database=first.database, matcher=matcher)


def _picture(s: Store) -> str:
    """Every demo person as the system resolves them: summary and whole chronology."""
    v = s.system_view()
    pids = sorted({p.person_id for word in SURNAMES for p in v.find_people(word, limit=1000)})
    return re.sub(r"#[0-9A-F]{6}", "#pseudonym", repr([(v.person(pid), v.chronology(pid)) for pid in pids]))


def _mention_of(s: Store, person_id: str, full_name: str) -> str:
    """The mention id (P<fragment>-<n>) of the person's mention written ``full_name``."""
    for line in s.system_view().chronology(person_id):
        for src in line.sources:
            doc = s.get_fragment(src.fragment_id)
            assert doc is not None
            for i, m in enumerate(doc["people"]):
                if (m.get("name") or {}).get("full") == full_name:
                    return f"P{src.fragment_id[1:17]}-{i}"
    raise AssertionError(f"no mention {full_name!r}")


def _items(queue: list[Any]) -> list[tuple[Any, ...]]:
    return [(it.a.mention_id, it.b.mention_id, it.a.record_ref, it.b.record_ref, it.evidence) for it in queue]


def _review(s: Store) -> list[tuple[str, Any]]:
    """A reviewer's session on the demo: the queue (whole, and as a school's DSL may see
    it), evidence, a join and its undo, a split of an automatic join and its undo, and
    refusals. Returns what was seen, to compare between backends; asserts the behaviour."""
    from api.cli import DEMO_SCHOOL_DSL

    seen: list[tuple[str, Any]] = []
    system, school = s.system_view(), s.view(DEMO_SCHOOL_DSL, "safeguarding")
    queue = s.review_queue(system, 200)
    theirs = s.review_queue(school, 200)
    seen += [("queue", _items(queue)), ("school's queue", _items(theirs))]
    assert theirs and set(_items(theirs)) < set(_items(queue))
    item = next(it for it in queue if "Mrs L Walsh" in str(it.a.mention) + str(it.b.mention))
    a, b = item.a.mention_id, item.b.mention_id
    assert s.explain_pair(system, a, b) == item.evidence
    before = _picture(s)

    joined = s.decide(system, "join", a, b, "same address, school confirms mother's name")
    assert (joined.kind, joined.reason, joined.decided_by) == (
        "join",
        "same address, school confirms mother's name",
        "system",
    )
    after_join = _picture(s)
    assert after_join != before
    assert any("Leanne Walsh" in p.names for p in s.system_view().find_people("Mrs L Walsh"))
    assert (a, b) not in {(x[0], x[1]) for x in _items(s.review_queue(system, 200))}  # decided: not offered again
    seen.append(("after the join", after_join))
    with pytest.raises(InvalidDecision) as e:
        s.undo_decision(system, joined.id + 100, "x")
    assert e.value.field == "decision"
    s.undo_decision(system, joined.id, "the school record was about the aunt")
    assert _picture(s) == before
    with pytest.raises(InvalidDecision, match="already undone"):
        s.undo_decision(system, joined.id, "again")

    # split an automatic join (Kay / Kayleigh), then undo the split
    (kay,) = s.system_view().find_people("Kay Rourke")
    k1, k2 = _mention_of(s, kay.person_id, "Kay ROURKE"), _mention_of(s, kay.person_id, "Kayleigh Rourke")
    split = s.decide(system, "apart", k1, k2, "different people")
    assert [p.names for p in s.system_view().find_people("Kay Rourke")] == [["Kay ROURKE"]]
    assert "Kay ROURKE" not in str(s.system_view().find_people("Kayleigh Rourke"))
    seen.append(("after the split", _picture(s)))
    s.undo_decision(system, split.id, "checked: the same young woman")
    assert _picture(s) == before

    # refused, with the field, and nothing recorded
    hidden = next(it for it in queue if _items([it])[0] not in set(_items(theirs)))
    for x, y, field in ((hidden.a.mention_id, hidden.b.mention_id, "mention"), (a, "P0000000000000000-0", "mention")):
        with pytest.raises(InvalidDecision) as e:
            s.decide(school, "join", x, y, "x")
        assert e.value.field == field and "no such mention" in e.value.message
    with pytest.raises(InvalidDecision):
        s.explain_pair(school, hidden.a.mention_id, hidden.b.mention_id)
    same_record = a.rsplit("-", 1)[0] + "-0", a.rsplit("-", 1)[0] + "-1"
    for kind, x, y, reason, field in (
        ("merge", a, b, "x", "kind"),
        ("join", a, b, " ", "reason"),
        ("join", *same_record, "x", "mention"),
    ):
        with pytest.raises(InvalidDecision) as e:
            s.decide(system, kind, x, y, reason)
        assert e.value.field == field

    made = s.resolution_decisions(system)
    assert [d.kind for d in made] == ["join", "undo", "apart", "undo"]
    assert [d.undoes for d in made] == [None, joined.id, None, split.id]
    assert all(d in made for d in s.resolution_decisions(school))
    audited = s.audit_entries(action_prefix="resolution.decision", limit=100)
    assert [(e.detail["kind"], e.detail.get("undoes")) for e in audited] == [
        ("join", None),
        ("undo", joined.id),
        ("apart", None),
        ("undo", split.id),
    ]
    assert s.audit_verify().ok
    seen.append(("decisions", [(d.id, d.kind, d.a, d.b, d.reason, d.undoes) for d in made]))
    seen.append(("features", len(s.mention_features())))
    return seen


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Any]]:
    s = _demo(_open("embedded", tmp_path_factory.mktemp("reviewed"), LINKER))
    try:
        return _review(s)
    finally:
        s.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_review_decide_and_undo_alike_on_every_backend(
    kind: str, tmp_path: Path, reviewed: list[tuple[str, Any]]
) -> None:
    """The queue, the evidence, what a join and a split do to who is one person and to
    every chronology, undo restoring the picture exactly, the refusals and the audit:
    equal to the embedded store's, step by step."""
    s = _demo(_open(kind, tmp_path, LINKER))
    try:
        mine = _review(s)
        assert [name for name, _ in mine] == [name for name, _ in reviewed]
        assert [name for (name, x), (_, y) in zip(mine, reviewed, strict=True) if x != y] == []
    finally:
        s.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_decision_reaches_another_replica_at_once(kind: str, tmp_path: Path) -> None:
    s = _demo(_open(kind, tmp_path, LINKER))
    other = _second(kind, s, LINKER)
    try:
        before = _picture(other)
        item = next(
            it for it in s.review_queue(s.system_view(), 50) if "Mrs L Walsh" in str(it.a.mention) + str(it.b.mention)
        )
        d = s.decide(s.system_view(), "join", item.a.mention_id, item.b.mention_id, "confirmed")
        assert _picture(other) == _picture(s) != before
        # and the other replica's undo reaches the first
        other.undo_decision(other.system_view(), d.id, "withdrawn")
        assert _picture(s) == _picture(other) == before
        assert [x.kind for x in s.resolution_decisions(s.system_view())] == ["join", "undo"]
    finally:
        other.close()
        s.close()


def _erasable(s: Store) -> tuple[str, list[str], dict[str, Any]]:
    """A police record about Mia with a marker in its narrative, corrected once, and
    another record about her: (the first version's id, both versions' ids, the first doc)."""
    raw = frag("INC-1")
    raw["event"]["narrative"] = f"Recorded for a court case {MARKER}."
    first = canon(raw)
    fix = canon({**raw, "record_ref": "INC-1a", "supersedes": {"record_ref": "INC-1", "reason": "typo"}})
    (o1,) = s.append([first])
    (o2,) = s.append([fix])
    assert s.append([canon(frag("INC-3", when="2026-05-18"))])[0].status == "accepted"
    return o1.fragment_id, [o1.fragment_id, o2.fragment_id], first


@pytest.mark.parametrize("kind", BACKENDS)
def test_erasure_alike_on_every_backend(kind: str, tmp_path: Path) -> None:
    s = _open(kind, tmp_path)
    other = _second(kind, s)
    try:
        fid, versions, first = _erasable(s)
        assert len(other.system_view().find_people("Mia Walsh")) == 1
        assert MARKER in repr(other.system_view().fragment(versions[1]))  # the replica has read the content
        assert {r[0] for r in s.retention_due("2100-01-01")} >= set(versions)

        erased = s.erase(fid, authority="court_order", reason="order of 1 Dec 2026", by="dpo-1")
        assert sorted(erased) == sorted(versions)
        for f in versions:  # every version is a tombstone
            stone = s.get_fragment(f)
            assert stone is not None and stone["erased"]["authority"] == "court_order" and stone["people"] == []
            assert MARKER not in repr(stone)
        (entry,) = s.audit_entries(action_prefix="fragment.erase")
        assert entry.actor == "dpo-1" and set(entry.detail["fragments"]) == set(versions)
        assert entry.detail["authority"] == "court_order"
        assert s.audit_verify().ok
        # both replicas: the chronology shows only the other record; nothing shows the content
        for store in (s, other):
            v = store.system_view()
            (p,) = v.find_people("Mia Walsh")
            lines = v.chronology(p.person_id)
            assert [src.record_ref for ln in lines for src in ln.sources] == ["INC-3"]
            assert MARKER not in repr(lines) + repr(v.find_people("Mia Walsh")) + repr(v.fragment(versions[1]))
        assert not {r[0] for r in other.retention_due("2100-01-01")} & set(versions)
        # a resend is recognised, not restored; erasing again erases nothing more
        assert s.append([first])[0].status == "duplicate"
        assert other.erase(versions[1], authority="court_order", reason="again", by="dpo-1") == []
        with pytest.raises(NotFound) as nf:
            s.erase("Fnothing", authority="court_order", reason="x", by="dpo-1")
        assert nf.value.field == "fragment_id"
        # (an authority and a reason are required: tests/test_retention.py, on every backend)
        assert len(s.audit_entries(action_prefix="fragment.erase")) == 1
    finally:
        other.close()
        s.close()


def test_erasure_on_neo4j_removes_the_derived_graph_of_the_content() -> None:
    """On Neo4j the derived graph (people, events) is content too: the erased versions'
    go in the erasure's transaction; the people of the records that remain are written
    again from the journal."""
    db = Emulator()
    s = Neo4jStore(db)
    fid, versions, _ = _erasable(s)
    seqs = {db.state.by_fid[f] for f in versions}
    assert not db.state.people  # appends write the journal only: the derived graph comes behind
    assert s.write_derived() == 3 and s.derived_behind() == 0
    assert any({m["seq"] for m in p["mentions"]} & seqs for p in db.state.people.values())
    s.erase(fid, authority="court_order", reason="order", by="dpo-1")
    assert not any({m["seq"] for m in p["mentions"]} & seqs for p in db.state.people.values())
    assert not any(set(e["sources"]) & seqs for e in db.state.events.values())
    assert all(db.state.fragments[q]["summary"] is None and db.state.fragments[q]["erased_at"] for q in seqs)
    assert MARKER not in repr(db.state.__dict__)
    remaining = db.state.by_fid[fragment_id("nt-police", "INC-3")]
    assert any(remaining in {m["seq"] for m in p["mentions"]} for p in db.state.people.values())
    # tombstones moved to another Neo4j store (jigsaw backend export) are not due for review
    moved = Neo4jStore(Emulator())
    stones = [s.get_fragment(f) for f in versions]
    assert [o.status for o in moved.append([d for d in stones if d is not None])] == ["accepted", "accepted"]
    assert moved.retention_due("2100-01-01") == []


def test_a_failed_erasure_leaves_nothing_half_done() -> None:
    """The audit write fails inside the erasure's transaction: no tombstone, no count."""
    db = Emulator()
    s = Neo4jStore(db)
    fid, _, first = _erasable(s)
    before = repr(db.state.fragments)
    original = s._audit

    def failing(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("the audit could not be written")

    s._audit = failing  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        s.erase(fid, authority="court_order", reason="order", by="dpo-1")
    s._audit = original  # type: ignore[method-assign]
    assert repr(db.state.fragments) == before and db.state.meta["journal"].get("erasures", 0) == 0
    assert s.get_fragment(fid) == first


def test_the_review_and_erasure_commands_use_the_configured_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With JIGSAW_BACKEND=neo4j the commands open the store as the API does
    (``api.app.open_store``, here handing out the Neo4j backend on the emulator)."""
    from typer.testing import CliRunner

    import api.app
    from api.cli import app

    db = Emulator()
    _demo(Neo4jStore(db, matcher=LINKER)).close()
    opened: list[str] = []

    def open_store(settings: Any) -> Store:
        opened.append(f"{settings.backend} {settings.neo4j_uri}")
        return Neo4jStore(db, matcher=LINKER)

    monkeypatch.setattr(api.app, "open_store", open_store)
    monkeypatch.chdir(tmp_path)  # no .env here
    env = {"JIGSAW_BACKEND": "neo4j", "NEO4J_URI": "bolt://neo4j.test:7687", "NEO4J_PASSWORD": "pw", "COLUMNS": "250"}
    runner = CliRunner()

    def run(*args: str, **more: str | None) -> Any:
        return runner.invoke(app, list(args), env={**env, **more})

    reviewer = ("--as", "sw-northshire-118")
    queue = run("resolve", "queue", "--limit", "5", *reviewer)
    assert queue.exit_code == 0, queue.output
    a, b = re.findall(r"P[0-9a-f]{16}-\d+", queue.output)[:2]
    assert run("resolve", "explain", a, b, *reviewer).exit_code == 0
    decided = run("resolve", "decide", "join", a, b, "--reason", "confirmed at the meeting", *reviewer)
    assert decided.exit_code == 0 and "Decision 1:" in decided.output, decided.output
    assert [d["kind"] for d in db.state.resolution] == ["join"]
    assert run("resolve", "undo", "1", "--reason", "withdrawn", *reviewer).exit_code == 0
    listed = run("resolve", "decisions", *reviewer)
    assert listed.exit_code == 0 and "withdrawn" in listed.output
    due = run("retention", "due", "--on", "2100-01-01")
    (fid, *_) = re.findall(r"F[0-9a-f]{24}", due.output)
    erased = run("erase", fid, "--authority", "court_order", "--reason", "order of the court", "--by", "dpo-1")
    assert erased.exit_code == 0 and "Erased" in erased.output, erased.output
    assert "erased" in db.state.fragments[db.state.by_fid[fid]]["body"]
    assert opened and set(opened) == {"neo4j bolt://neo4j.test:7687"}
    # a store file named as well, or no server named: refused, saying why
    both = run("retention", "due", "--on", "2100-01-01", "--store", str(tmp_path / "x.sqlite"))
    assert both.exit_code == 2 and "JIGSAW_BACKEND=neo4j" in both.output
    unnamed = run("retention", "due", "--on", "2100-01-01", NEO4J_URI=None)
    assert unnamed.exit_code == 2 and "NEO4J_URI" in unnamed.output


# ---------------------------------------------------------------------------- replicas see each other's changes
# Several API replicas share one Neo4j (or several processes one embedded file): a case,
# a membership or a pseudonym key changed through one must hold on the next answer of
# every other, not when the journal next moves.


def _ava(s: Store) -> str:
    """A health record (for the case team only) about a child no case is open on yet,
    and a reader at the council who may read it only once on her case (she works on
    another child's case already, so every replica has worked out the cases before)."""
    fid = ""
    for ref, name in (("GP-AVA-1", "Ava Lund"), ("GP-BEN-1", "Ben Moss")):
        person = {"ref": "c", "role": "child", "name": name, "dob": "2020-02-02"}
        raw = frag(ref, ag=("nt-health", "health"), people=[person])
        raw["markings"] = {"audience": "case_team"}
        (o,) = s.append([canon(raw)])
        assert o.status == "accepted"
        fid = fid or o.fragment_id
    s.put_reader("admin", reader_id="sw-ava", agency="nt-council", roles=["social_worker"])
    (ben,) = s.system_view().find_people("Ben Moss")
    s.open_case("admin", "CASE-BEN", ben.person_id)
    s.set_membership("admin", "CASE-BEN", "sw-ava", True)
    return fid


def _reads(s: Store, fid: str) -> bool:
    """Whether reader sw-ava, working on a case, is shown the record's content (and
    that she is shown Ben's, on her other case: the cases were worked out)."""
    shown = []
    for name, ref in (("Ava Lund", "GP-AVA-1"), ("Ben Moss", "GP-BEN-1")):
        (child,) = s.system_view().find_people(name)
        lines = s.view("sw-ava", "safeguarding").chronology(child.person_id)
        shown.append(any(f"summary of {ref}" in repr(line) for line in lines))
    assert shown[1]
    return shown[0]


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_case_opened_on_one_replica_holds_on_another_at_once(kind: str, tmp_path: Path) -> None:
    s = _open(kind, tmp_path)
    other = _second(kind, s)
    try:
        fid = _ava(s)
        assert not _reads(other, fid) and not _reads(s, fid)  # not on a case: the content is not for her
        (ava,) = s.system_view().find_people("Ava Lund")
        s.open_case("admin", "CASE-AVA", ava.person_id)
        s.set_membership("admin", "CASE-AVA", "sw-ava", True)
        assert _reads(s, fid)
        assert _reads(other, fid)  # the other replica knows the case without a new fragment
        other.set_membership("admin", "CASE-AVA", "sw-ava", False)
        assert not _reads(s, fid) and not _reads(other, fid)
    finally:
        other.close()
        s.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_new_pseudonym_key_holds_on_every_replica_at_once(kind: str, tmp_path: Path) -> None:
    s = _open(kind, tmp_path)
    other = _second(kind, s)
    try:
        _ava(s)

        def pseudonym(st: Store) -> str:  # how a pattern names Ava to another agency
            (ava,) = st.system_view().find_people("Ava Lund")
            return st.patterns().source.pseudonym("nt-council", st.global_pid(ava.person_id))  # type: ignore[attr-defined]

        before = pseudonym(other)
        assert before == pseudonym(s)
        s.set_pseudonym_key("admin", "ab" * 32)
        assert pseudonym(other) == pseudonym(s) != before
        assert other.pseudonym_key == s.pseudonym_key == "ab" * 32
    finally:
        other.close()
        s.close()


def test_every_transaction_of_a_replica_is_chained_by_its_bookmarks() -> None:
    """What a replica reads is causally after what it wrote or saw (on a cluster, a read
    routed to a secondary waits for it), and the journal's head is read where writes
    are made, so a write acknowledged by one replica is in another's next answer. The
    emulator has one copy of the data: it checks the backend asks for this, not that a
    cluster honours it (a live cluster does, by Neo4j's causal consistency)."""
    db = Emulator()
    manager = object()  # Neo4jStore.open gives it neo4j.GraphDatabase.bookmark_manager()
    s = Neo4jStore(db, bookmarks=manager)
    s.append([canon(frag("INC-1"))])
    s.system_view().find_people("Mia Walsh")
    assert db.bookmark_managers and all(m is manager for m in db.bookmark_managers)
    assert db.routed and set(db.routed) == {"w"}  # the head, from the leader


def test_the_pattern_commands_use_the_configured_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``jigsaw patterns run|scan`` on JIGSAW_BACKEND=neo4j (the emulator, opened as the
    API opens it) give what they give on the embedded store holding the same demo."""
    from typer.testing import CliRunner

    import api.app
    from api.cli import app

    db = Emulator()
    neo = _demo(Neo4jStore(db, matcher=LINKER))
    monkeypatch.setattr(api.app, "open_store", lambda settings: Neo4jStore(db, matcher=LINKER))
    monkeypatch.chdir(tmp_path)  # no .env here
    embedded = _demo(_open("embedded", tmp_path, LINKER))
    assert isinstance(embedded, EmbeddedStore)
    embedded.set_pseudonym_key("test", neo.pseudonym_key)  # children hidden from the reader: the same pseudonyms
    neo.close()
    neo4j_env = {"JIGSAW_BACKEND": "neo4j", "NEO4J_URI": "bolt://neo4j.test:7687", "NEO4J_PASSWORD": "pw"}
    file_env = {"JIGSAW_BACKEND": "embedded", "JIGSAW_STORE": str(embedded.path)}
    try:
        sw = ("--as", "sw-northshire-118")
        (mia,) = embedded.system_view().find_people("Mia Walsh")
        for args in (["patterns", "run", mia.person_id, *sw, "--json"], ["patterns", "scan", *sw, "--json"]):
            on_neo4j = CliRunner().invoke(app, args, env=neo4j_env)
            on_file = CliRunner().invoke(app, args, env=file_env)
            assert on_neo4j.exit_code == 0 == on_file.exit_code, on_neo4j.output + on_file.output
            assert json.loads(on_neo4j.output) == json.loads(on_file.output)
            assert '"pattern":' in on_file.output  # there are flags to compare
    finally:
        embedded.close()
