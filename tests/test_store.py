"""The embedded store on a real SQLite file: durability, idempotency, conflicts,
corrections, the Core's resolution and corroboration, and chronology reading."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from graph.chronology import ChronologyFilters, to_csv
from graph.embedded import EmbeddedStore
from graph.errors import StoreNotInitialised
from graph.store import fragment_id
from ingest.normalise import make_nhs_number
from ingest.pipeline import import_docs
from ingest.validate import check_fragment
from tests.conftest import NOW, fragment

NHS = make_nhs_number("943476591")


def agency(aid: str, atype: str) -> dict[str, str]:
    return {"id": aid, "name": aid.replace("-", " ").title(), "type": atype}


def frag(
    ref: str,
    *,
    ag: tuple[str, str] = ("nt-police", "police"),
    when: str = "2026-05-20",
    kind: str = "welfare_check",
    people: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "agency": agency(*ag),
        "record_ref": ref,
        "recorded_at": "2026-05-21T09:00:00Z",
        "shared_at": "2026-05-21T10:00:00Z",
        "event": {"kind": kind, "when": when, "summary": f"summary of {ref}"},
        "people": people
        if people is not None
        else [{"ref": "c", "role": "child", "name": "Mia Walsh", "dob": "2019-03-14"}],
        "relationships": [],
    }
    base.update(extra)
    return fragment(**base)


def canon(raw: dict[str, Any]) -> dict[str, Any]:
    doc, errors = check_fragment(raw, now=NOW)
    assert errors == [], errors
    assert doc is not None
    return doc


def test_open_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreNotInitialised, match="jigsaw init"):
        EmbeddedStore.open(tmp_path / "nope.sqlite")


def test_store_uses_wal_and_full_sync(store: EmbeddedStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check the store's own connection
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_acknowledged_fragments_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    s = EmbeddedStore.open(path, create=True)
    out = s.append([canon(frag("A1")), canon(frag("A2", when="2026-05-19"))])
    assert [o.status for o in out] == ["accepted", "accepted"]
    s.close()
    s2 = EmbeddedStore.open(path)
    assert s2.fragment_count() == 2
    assert s2.get_fragment(out[0].fragment_id)["record_ref"] == "A1"  # type: ignore[index]
    s2.close()


def test_resend_is_idempotent_and_reused_reference_is_refused(store: EmbeddedStore) -> None:
    first = store.append([canon(frag("A1"))])[0]
    again = store.append([canon(frag("A1"))])[0]
    assert again.status == "duplicate" and again.fragment_id == first.fragment_id and again.seq == first.seq
    changed = canon(frag("A1", when="2026-05-18"))
    refused = store.append([changed])[0]
    assert refused.status == "rejected" and refused.field == "record_ref"
    assert store.fragment_count() == 1
    # the original is untouched
    assert store.get_fragment(first.fragment_id)["event"]["when"]["start"] == "2026-05-20"  # type: ignore[index]


def test_same_reference_from_another_agency_is_a_different_fragment(store: EmbeddedStore) -> None:
    a = store.append([canon(frag("X-1"))])[0]
    b = store.append([canon(frag("X-1", ag=("nt-health", "health")))])[0]
    assert a.status == b.status == "accepted" and a.fragment_id != b.fragment_id


def test_all_or_nothing_writes_nothing_when_one_is_refused(store: EmbeddedStore) -> None:
    store.append([canon(frag("A1"))])
    out = store.append([canon(frag("B1")), canon(frag("A1", when="2026-05-01"))], all_or_nothing=True)
    assert [o.status for o in out] == ["not_written", "rejected"]
    assert store.fragment_count() == 1
    assert store.get_fragment(fragment_id("nt-police", "B1")) is None


def test_supersede_shows_current_version_with_history(store: EmbeddedStore) -> None:
    store.append([canon(frag("A1", when="2026-05-20"))])
    fix = canon(frag("A2", when="2026-05-19", supersedes={"record_ref": "A1", "reason": "wrong date"}))
    assert store.append([fix])[0].status == "accepted"
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    lines = store.system_view().chronology(pid)
    assert len(lines) == 1
    assert lines[0].start == "2026-05-19" and lines[0].corrected
    assert lines[0].sources[0].replaces == [fragment_id("nt-police", "A1")]
    # the earlier version is still reachable
    assert store.get_fragment(fragment_id("nt-police", "A1")) is not None


def test_retraction_removes_the_line(store: EmbeddedStore) -> None:
    store.append([canon(frag("A1"))])
    retraction = fragment(
        agency=agency("nt-police", "police"),
        record_ref="A1-R",
        recorded_at="2026-05-22T09:00:00Z",
        shared_at="2026-05-22T09:00:00Z",
        event=None,
        people=[],
        relationships=[],
        supersedes={"record_ref": "A1", "reason": "sent about the wrong family", "retract": True},
    )
    assert store.append([canon(retraction)])[0].status == "accepted"
    assert store.system_view().find_people("Mia Walsh") == []


@pytest.mark.parametrize(
    ("target", "agency_pair", "reason"),
    [
        ("NOPE", ("nt-police", "police"), "names no earlier fragment"),
        ("A1", ("nt-health", "health"), "names no earlier fragment"),  # another agency's record
    ],
)
def test_supersede_must_name_own_earlier_fragment(
    store: EmbeddedStore, target: str, agency_pair: tuple[str, str], reason: str
) -> None:
    store.append([canon(frag("A1"))])
    out = store.append([canon(frag("A9", ag=agency_pair, supersedes={"record_ref": target, "reason": "r"}))])[0]
    assert out.status == "rejected" and out.field == "supersedes.record_ref" and reason in (out.reason or "")


def test_a_fragment_is_superseded_once(store: EmbeddedStore) -> None:
    store.append([canon(frag("A1"))])
    store.append([canon(frag("A2", supersedes={"record_ref": "A1", "reason": "r"}))])
    out = store.append([canon(frag("A3", supersedes={"record_ref": "A1", "reason": "r"}))])[0]
    assert out.status == "rejected" and "latest version" in (out.reason or "")


def person(name: str, dob: str | None = None, role: str = "child", ref: str = "c", **kw: Any) -> dict[str, Any]:
    p: dict[str, Any] = {"ref": ref, "role": role, "name": name, **kw}
    if dob:
        p["dob"] = dob
    return p


def test_joins_on_nhs_number_and_on_name_with_dob(store: EmbeddedStore) -> None:
    store.append(
        [
            canon(frag("P1", people=[person("Mia Walsh", "2019-03-14")])),
            canon(
                frag(
                    "H1",
                    ag=("nt-health", "health"),
                    kind="health_appointment",
                    when="2026-04-01",
                    people=[person("M. Walsh", "2019-03-14", identifiers=[{"scheme": "nhs", "value": NHS}])],
                )
            ),
            canon(
                frag(
                    "H2",
                    ag=("nt-health", "health"),
                    kind="health_appointment",
                    when="2026-04-02",
                    people=[person("Mia Walsh", "2019-03-14", identifiers=[{"scheme": "nhs", "value": NHS}])],
                )
            ),
        ]
    )
    found = store.system_view().find_people("Walsh")
    # "M. Walsh" joined the NHS-number person; "Mia Walsh" joined both by NHS number and name+dob
    assert len(found) == 1
    assert sorted(found[0].names) == ["M. Walsh", "Mia Walsh"]
    assert found[0].events == 3


def test_initials_name_only_and_unverified_ids_stay_apart(store: EmbeddedStore) -> None:
    bad_nhs = NHS[:-1] + str((int(NHS[-1]) + 1) % 10)
    store.append(
        [
            canon(frag("1", people=[person("Leanne Walsh", "1990-02-01", role="parent")])),
            canon(frag("2", when="2026-05-01", people=[person("Mrs L Walsh", "1990-02-01", role="parent")])),
            canon(frag("3", when="2026-05-02", people=[person("Craig", role="partner")])),
            canon(frag("4", when="2026-05-03", people=[person("Craig", role="partner")])),
            canon(
                frag(
                    "5",
                    when="2026-05-04",
                    people=[person("Ann Bell", identifiers=[{"scheme": "nhs", "value": bad_nhs}])],
                )
            ),
            canon(
                frag(
                    "6",
                    when="2026-05-05",
                    people=[person("Ann Bell2", identifiers=[{"scheme": "nhs", "value": bad_nhs}])],
                )
            ),
        ]
    )
    assert len(store.system_view().find_people("Walsh")) == 2
    assert len(store.system_view().find_people("Craig")) == 2
    assert len(store.system_view().find_people(bad_nhs)) == 2


def test_conflicting_verified_nhs_numbers_never_join(store: EmbeddedStore) -> None:
    other = make_nhs_number("943476592") or make_nhs_number("943476593")
    assert other and other != NHS
    store.append(
        [
            canon(frag("1", people=[person("Mia Walsh", "2019-03-14", identifiers=[{"scheme": "nhs", "value": NHS}])])),
            canon(
                frag(
                    "2",
                    when="2026-05-01",
                    people=[person("Mia Walsh", "2019-03-14", identifiers=[{"scheme": "nhs", "value": other}])],
                )
            ),
        ]
    )
    assert len(store.system_view().find_people("Mia Walsh")) == 2


def test_twins_in_one_fragment_are_two_people_even_with_same_name_key(store: EmbeddedStore) -> None:
    twins = [person("Ava Jones", "2018-06-01", ref="a"), person("Ava Jones", "2018-06-01", ref="b")]
    store.append([canon(frag("1", people=twins))])
    assert len(store.system_view().find_people("Ava Jones")) == 2


def test_same_incident_from_two_agencies_is_one_corroborated_event(store: EmbeddedStore) -> None:
    store.append(
        [
            canon(frag("POL-1", kind="welfare_check")),
            canon(frag("SC-1", ag=("nt-social-care", "social_care"), kind="home_visit")),
            canon(frag("SC-2", ag=("nt-social-care", "social_care"), kind="home_visit", when="2026-05-10")),
        ]
    )
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    lines = store.system_view().chronology(pid)
    assert [ln.start for ln in lines] == ["2026-05-10", "2026-05-20"]
    assert lines[1].corroborated and lines[1].agencies == ["nt-police", "nt-social-care"]
    assert not lines[0].corroborated


def test_two_records_from_one_agency_on_one_day_stay_two_events(store: EmbeddedStore) -> None:
    store.append([canon(frag("A")), canon(frag("B"))])
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    assert len(store.system_view().chronology(pid)) == 2


def test_chronology_order_places_approximate_dates_by_their_middle(store: EmbeddedStore) -> None:
    docs = [
        canon(frag("1", when="2026-05-20")),
        canon(frag("2", when="2026-05")),
        canon(frag("3", when="2026-05-02")),
        canon(frag("4", when="2026")),
        canon(frag("5", when="2026-05-21T08:00")),
    ]
    store.append(docs)
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    lines = store.system_view().chronology(pid)
    # recorded on 21 May: "2026" means 1 Jan to 21 May (middle 11 Mar), "May" 1 to 21 May
    assert [ln.sources[0].record_ref for ln in lines] == ["4", "3", "2", "1", "5"]
    assert [ln.when for ln in lines] == ["2026", "2 May 2026", "May 2026", "20 May 2026", "21 May 2026 08:00"]


def test_chronology_filters(store: EmbeddedStore) -> None:
    store.append(
        [
            canon(frag("1", when="2026-01-10", concerns=["neglect"], significance="low")),
            canon(
                frag(
                    "2",
                    ag=("nt-school", "school"),
                    when="2026-02-10",
                    kind="school_concern",
                    concerns=["school_attendance"],
                    significance="medium",
                    statement={"kind": "opinion", "whose": "class teacher"},
                )
            ),
            canon(
                frag(
                    "3",
                    ag=("nt-health", "health"),
                    when="2026-03-10",
                    kind="missed_appointment",
                    concerns=["unmet_health_needs"],
                    significance="high",
                )
            ),
        ]
    )
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]

    def refs(**kw: Any) -> list[str]:
        return [ln.sources[0].record_ref for ln in store.system_view().chronology(pid, ChronologyFilters(**kw))]

    from datetime import date

    assert refs() == ["1", "2", "3"]
    assert refs(date_from=date(2026, 2, 1)) == ["2", "3"]
    assert refs(date_to=date(2026, 2, 10)) == ["1", "2"]
    assert refs(agencies=frozenset({"nt-school"})) == ["2"]
    assert refs(concerns=frozenset({"neglect", "unmet_health_needs"})) == ["1", "3"]
    assert refs(significance=frozenset({"high"})) == ["3"]
    assert refs(statements=frozenset({"opinion"})) == ["2"]


def test_chronology_csv_opens_cleanly(store: EmbeddedStore) -> None:
    store.append([canon(frag("1", event={"kind": "incident", "when": "2026-05-20", "summary": '=HYPERLINK("x")'}))])
    (pid,) = [p.person_id for p in store.system_view().find_people("Mia Walsh")]
    text = to_csv(store.system_view().chronology(pid))
    assert text.startswith("\ufeff") and "\r\n" in text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "date" and len(rows) == 2
    assert rows[1][5].startswith("'=")  # formula defused


def test_pipeline_rejects_and_stores_nothing_for_bad_rows(store: EmbeddedStore) -> None:
    bad = frag("B1")
    bad["agency"]["type"] = "wizardry"
    summary = import_docs(store, [frag("G1"), bad], now=NOW)
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert summary.errors[0].field == "agency.type" and summary.errors[0].line == 2
    assert store.get_fragment(fragment_id("nt-police", "B1")) is None


def test_store_sees_commits_from_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    a = EmbeddedStore.open(path, create=True)
    b = EmbeddedStore.open(path)
    a.append([canon(frag("1"))])
    assert b.fragment_count() == 1 and len(b.system_view().find_people("Mia")) == 1
    a.close()
    b.close()


def test_a_retracted_mention_does_not_keep_someone_in_an_event(store: EmbeddedStore) -> None:
    """Mark is named only in the police record of a visit, which police retract; social
    care's record of the same visit (Leo alone) still stands. Mark's count of events,
    chronology and network must not keep him in that visit."""
    leo = person("Leo Stone", "2020-01-02")
    mark = person("Mark Stone", "1985-05-05", role="parent", ref="m")
    store.append(
        [
            canon(frag("POL-1", people=[leo, mark])),
            canon(frag("SC-1", ag=("nt-social-care", "social_care"), kind="home_visit", people=[leo])),
            canon(frag("H-1", ag=("nt-health", "health"), kind="health_appointment", when="2026-04-01", people=[mark])),
        ]
    )
    (mark_id,) = [p.person_id for p in store.system_view().find_people("Mark Stone")]
    assert store.system_view().person(mark_id).events == 2  # type: ignore[union-attr]
    retraction = fragment(
        agency=agency("nt-police", "police"),
        record_ref="POL-1-R",
        recorded_at="2026-05-22T09:00:00Z",
        shared_at="2026-05-22T09:00:00Z",
        event=None,
        people=[],
        relationships=[],
        supersedes={"record_ref": "POL-1", "reason": "wrong address attended", "retract": True},
    )
    assert store.append([canon(retraction)])[0].status == "accepted"
    summary = store.system_view().person(mark_id)
    assert summary is not None
    # his id named his mention in the withdrawn record; it still leads to him, by his other record
    assert summary.person_id != mark_id
    lines = store.system_view().chronology(mark_id)
    assert summary.events == len(lines) == 1 and lines[0].kind == "health_appointment"
    g = store.system_view().network(summary.person_id)
    assert {n for n in g if n[0] == "event"} == {("event", lines[0].event_id)}
    assert {d["name"] for n, d in g.nodes(data=True) if n[0] == "person"} == {"Mark Stone"}
