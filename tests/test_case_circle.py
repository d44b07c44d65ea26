"""The adults around a child are part of the child's case (real SQLite store, real
readers and cases).

A police record about the mother's partner names no child. It is still about the
child's case, and the case team may read it under the same rule as any record on the
case, provided they may read the record that makes him part of the child's circle:
who the adults around a child are is itself evidence, and evidence a reader cannot read
is never used in their view.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.cli import DEMO_NOW
from graph import registry
from graph.embedded import EmbeddedStore
from ingest.linkage import Linker
from ingest.validate import check_fragment

TYPES = {"csc": "social_care", "police": "police", "gp": "health", "housing": "housing"}


def record(
    ref: str,
    agency: str,
    people: list[dict[str, Any]],
    relationships: list[tuple[str, str, str]] | None = None,
    audience: str = "case_team",
    summary: str = "Contact.",
) -> dict[str, Any]:
    raw = {
        "agency": {"id": agency, "name": agency.upper(), "type": TYPES[agency]},
        "record_ref": ref,
        "recorded_at": "2026-10-01T10:00:00Z",
        "shared_at": "2026-10-01T11:00:00Z",
        "author": {"id": "w-1", "role": "worker"},
        "event": {"kind": "contact", "when": {"start": "2026-10-01"}, "summary": summary},
        "people": people,
        "relationships": [{"subject": s, "kind": k, "object": o} for s, k, o in relationships or []],
        "statement": {"kind": "fact"},
        "significance": "medium",
        "sharing": {"lawful_basis": "public_task", "family_told": True},
        "markings": {"audience": audience},
    }
    doc, errors = check_fragment(raw, now=DEMO_NOW)
    assert doc is not None, errors
    return doc


MIA = {"ref": "c", "role": "child", "name": "Mia Walsh", "dob": "2019-03-14"}
LEANNE = {"ref": "m", "role": "parent", "name": "Leanne Walsh", "dob": "1994-10-05", "sex": "female"}
DEAN = {"ref": "d", "role": "partner", "name": "Dean Price", "dob": "1990-01-01", "sex": "male"}
STRANGER = {"ref": "x", "role": "other", "name": "Gary Ellison", "dob": "1985-05-05", "sex": "male"}


def build(path: Path, mother_record_audience: str) -> EmbeddedStore:
    s = EmbeddedStore.open(path, create=True, matcher=Linker())
    s.append(
        [
            record("CSC-1", "csc", [MIA], summary="Referral about Mia."),
            # what makes Leanne Mia's mother (its audience decides who may use it)
            record("GP-1", "gp", [MIA, LEANNE], [("m", "mother_of", "c")], audience=mother_record_audience),
            # the police record names only the adults: Leanne and her partner Dean
            record("POL-1", "police", [LEANNE, DEAN], [("d", "partner_of", "m")], summary="Dean arrested."),
            # a police record about someone outside the family
            record("POL-2", "police", [STRANGER], summary="Unrelated arrest."),
        ]
    )
    (mia,) = s.system_view().find_people("Mia Walsh")
    fid, mention = s.person_anchor(mia.person_id)
    with s.transaction() as conn:
        registry.put_reader(conn, reader_id="sw", agency="csc", roles=["social_worker"], at="t")
        registry.put_reader(conn, reader_id="housing", agency="housing", roles=["practitioner"], at="t")
        registry.open_case(conn, case_id="K1", fragment_id=fid, mention=mention, at="t", by="admin")
        registry.set_membership(conn, "sw", "K1", True)
    return s


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = build(tmp_path / "s.sqlite", "case_team")
    yield s
    s.close()


def summaries(s: EmbeddedStore, reader: str, query: str) -> set[str]:
    v = s.view(reader, "safeguarding")
    out: set[str] = set()
    for p in v.find_people(query):
        out |= {ln.summary or "" for ln in v.chronology(p.person_id) if not ln.held_back}
    return out


def test_a_record_about_the_mothers_partner_reaches_the_childs_case(shared: EmbeddedStore) -> None:
    assert "Dean arrested." in summaries(shared, "sw", "Dean Price")
    assert "Dean arrested." in summaries(shared, "sw", "Leanne Walsh")


def test_nobody_outside_the_case_and_no_stranger_gains_from_it(shared: EmbeddedStore) -> None:
    assert summaries(shared, "housing", "Dean Price") == set()
    assert "Unrelated arrest." not in summaries(shared, "sw", "Gary Ellison")


def test_the_circle_rests_only_on_records_the_reader_may_read(tmp_path: Path) -> None:
    """When only the GP may read that Leanne is Mia's mother, the police record about
    her partner is not on the social worker's case: it would rest on the GP's record."""
    s = build(tmp_path / "s.sqlite", "originating_agency")
    try:
        assert summaries(s, "sw", "Dean Price") == set()
        assert summaries(s, "sw", "Leanne Walsh") == set()
    finally:
        s.close()
