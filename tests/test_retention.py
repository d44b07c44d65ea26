"""Retention classes and review dates on every fragment; erasure that leaves a tombstone,
an audit entry, a verifying chain, and no trace of the content in the store's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graph import audit, registry
from graph.embedded import EmbeddedStore
from graph.store import Store, fragment_id
from ingest.validate import check_fragment
from tests.conftest import NOW, fragment
from tests.test_backends import BACKENDS, _open, _second

MARKER = "ZQXERASEME"


def _canon(**changes: object) -> dict[str, object]:
    doc, errors = check_fragment(fragment(**changes), now=NOW)
    assert doc is not None, errors
    return doc


def _files(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def any_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    """Every backend (tests/test_backends.py): embedded, Neo4j emulated, Neo4j live."""
    s = _open(kind, tmp_path)
    yield s
    s.close()


def test_every_fragment_gets_a_class_and_review_date(any_store: Store) -> None:
    store = any_store
    store.append([_canon()])
    # the example names two children; the younger was born on 2 July 2021: reviewed on his 25th birthday
    (row,) = store.retention_due("2100-01-01")
    assert row[2] == "child_record" and row[3] == "2046-07-02"
    assert store.retention_due("2040-01-01") == []


def test_erasure_removes_the_content_everywhere_and_keeps_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = EmbeddedStore.open(path, create=True)
    raw = fragment()
    raw["event"]["narrative"] = f"Recorded for a court case {MARKER}."
    first = _canon(**raw)
    correction = _canon(
        **{**raw, "record_ref": "CC-2", "supersedes": {"record_ref": raw["record_ref"], "reason": "typo"}}
    )
    store.append([first])
    store.append([correction])
    other = _canon(**{**fragment(), "record_ref": "CC-3"})
    store.append([other])
    assert MARKER.encode() in _files(path)
    before = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    assert before

    fid = fragment_id(raw["agency"]["id"], raw["record_ref"])
    erased = store.erase(fid, authority="court_order", reason="order of 1 Dec 2026", by="dpo-1")
    assert sorted(erased) == sorted([fid, fragment_id(raw["agency"]["id"], "CC-2")])

    # the content has gone from the journal, the write-ahead log and free pages
    assert MARKER.encode() not in _files(path)
    stone = store.get_fragment(fid)
    assert stone is not None and stone["erased"]["authority"] == "court_order" and stone["people"] == []
    # derived people and events from the erased versions are gone; the other record stays
    lines = store.system_view().chronology(store.system_view().find_people("Mia Walsh")[0].person_id)
    assert [s.record_ref for ln in lines for s in ln.sources] == ["CC-3"]
    # a resend of the erased record is recognised, not restored
    assert store.append([first])[0].status == "duplicate"
    with store.transaction() as conn:
        assert audit.verify(conn).ok
        (entry,) = audit.entries(conn, action_prefix="fragment.erase")
    assert entry.actor == "dpo-1" and set(entry.detail["fragments"]) == set(erased)
    store.close()

    # another process opening the store sees the erasure too
    again = EmbeddedStore.open(path)
    mia = next(p for p in lines[0].people if p.name == "Mia Walsh").person_id
    assert [s.record_ref for ln in again.system_view().chronology(mia) for s in ln.sources] == ["CC-3"]
    assert MARKER not in str(again.system_view().find_people("Mia Walsh"))
    again.close()


def test_a_second_connection_forgets_erased_content(any_store: Store, kind: str) -> None:
    a = any_store
    b = _second(kind, a)
    a.append([_canon()])
    assert len(b.system_view().find_people("Mia Walsh")) == 1
    fid = fragment_id(fragment()["agency"]["id"], fragment()["record_ref"])
    a.erase(fid, authority="retention_review", reason="reviewed 2047", by="records-officer")
    assert b.system_view().find_people("Mia Walsh") == []
    b.close()


def test_erasure_needs_an_authority_and_a_short_reason(any_store: Store) -> None:
    store = any_store
    store.append([_canon()])
    fid = fragment_id(fragment()["agency"]["id"], fragment()["record_ref"])
    with pytest.raises(registry.InvalidRecord) as bad:
        store.erase(fid, authority="because", reason="x", by="dpo")
    assert bad.value.field == "authority"
    with pytest.raises(registry.InvalidRecord) as empty:
        store.erase(fid, authority="court_order", reason=" ", by="dpo")
    assert empty.value.field == "reason"
    assert "erased" not in (store.get_fragment(fid) or {})
