"""Validation: every bad-input kind is refused with the field and the reason, and the
canonical form carries the normalised dates, names and identifier checks."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.normalise import make_nhs_number
from ingest.schema import MAX_MENTIONS, MAX_NARRATIVE
from ingest.validate import check_fragment
from tests.conftest import EXAMPLE, NOW, fragment


def errors_of(raw: Any) -> dict[str, str]:
    doc, errors = check_fragment(raw, now=NOW)
    assert doc is None, "expected the fragment to be refused"
    return {e.field: e.reason for e in errors}


def with_event(**changes: Any) -> dict[str, Any]:
    ev = dict(EXAMPLE["event"])
    ev.update(changes)
    return fragment(event=ev)


def test_example_is_valid_and_normalised() -> None:
    doc, errors = check_fragment(fragment(), now=NOW)
    assert errors == []
    assert doc is not None
    assert doc["event"]["when"] == {
        "text": "2026-11-19T09:30",
        "start": "2026-11-19",
        "end": "2026-11-19",
        "at": "09:30",
        "precision": "exact",
        "approximate": False,
        "relative": False,
    }
    assert doc["people"][2]["norm"] == {"given": ["leanne"], "family": "walsh"}
    assert doc["event"]["place"]["address"]["postcode"] == "NT4 2QP"


def test_not_an_object() -> None:
    assert errors_of([1, 2]) == {"(fragment)": "a fragment must be a JSON object"}


def test_missing_fields_are_named() -> None:
    raw = fragment()
    del raw["significance"], raw["agency"]["type"]
    errs = errors_of(raw)
    assert errs["significance"] == "required and missing"
    assert errs["agency.type"] == "required and missing"


def test_wrong_types_are_named() -> None:
    errs = errors_of(fragment(people="Mia", recorded_at=12.5))
    assert "people" in errs and "recorded_at" in errs


def test_unknown_agency_type() -> None:
    raw = fragment()
    raw["agency"]["type"] = "wizardry"
    errs = errors_of(raw)
    assert "agency.type" in errs
    assert "police" in errs["agency.type"]  # the reason lists what is allowed
    assert "wizardry" not in errs["agency.type"]  # and never quotes the value back


def test_unknown_field_is_refused_not_ignored() -> None:
    errs = errors_of(fragment(notes="x"))
    assert "notes" in errs and "jigsaw schema" in errs["notes"]


def test_dates_in_the_future() -> None:
    errs = errors_of(fragment(recorded_at="2027-01-01T00:00:00Z", shared_at="2027-01-01T00:00:00Z"))
    assert errs["recorded_at"] == "is in the future"
    assert errs["shared_at"] == "is in the future"


def test_event_after_recording_is_refused() -> None:
    errs = errors_of(with_event(when="2026-11-20"))
    assert errs["event.when"] == "is after the date the record was made"


def test_event_before_a_childs_birth_is_refused() -> None:
    _, errors = check_fragment(with_event(when="2018-01-01"), now=NOW)
    reasons = {e.reason for e in errors if e.field == "event.when"}
    assert reasons == {"is before the date of birth of people[0]", "is before the date of birth of people[1]"}


def test_dob_after_recording() -> None:
    raw = fragment()
    raw["people"][0]["dob"] = "2026-12-01"
    assert errors_of(raw)["people[0].dob"] == "is after the date the record was made"


def test_shared_before_recorded() -> None:
    errs = errors_of(fragment(shared_at="2026-11-18T10:00:00Z"))
    assert "shared_at" in errs


def test_oversize_narrative() -> None:
    errs = errors_of(with_event(narrative="x" * (MAX_NARRATIVE + 1)))
    assert "event.narrative" in errs and str(MAX_NARRATIVE) in errs["event.narrative"]


def test_thousands_of_mentions() -> None:
    people = [{"ref": f"p{i}", "role": "other", "name": f"Person {i}"} for i in range(2000)]
    errs = errors_of(fragment(people=people, relationships=[]))
    assert "people" in errs and str(MAX_MENTIONS) in errs["people"]


def test_unreadable_when() -> None:
    errs = errors_of(with_event(when="the other day, probably"))
    assert "event.when" in errs and "relative wording" in errs["event.when"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"statement": {"kind": "opinion"}}, "statement.whose"),
        ({"statement": {"kind": "hearsay"}}, "statement.reported_by"),
        ({"sharing": {"lawful_basis": "consent", "family_told": True}}, "sharing.consent"),
        (
            {"sharing": {"lawful_basis": "public_task", "family_told": True, "special_category": ["health"]}},
            "sharing.special_category_condition",
        ),
        ({"sharing": {"lawful_basis": "public_task", "family_told": False}}, "sharing.family_not_told_reason"),
        ({"markings": {"audience": "named_agencies"}}, "markings.agencies"),
        ({"relationships": [{"subject": "m", "kind": "mother_of", "object": "zz"}]}, "relationships[0].object"),
        ({"relationships": [{"subject": "m", "kind": "mother_of", "object": "m"}]}, "relationships[0]"),
        ({"event": None}, "event"),
        ({"grading": {"source": "4", "information": "A", "handling": "P"}}, "grading.source"),
    ],
)
def test_whole_fragment_rules(changes: dict[str, Any], field: str) -> None:
    assert field in errors_of(fragment(**changes))


def test_duplicate_mention_refs() -> None:
    raw = fragment()
    raw["people"][1]["ref"] = "c1"
    assert "people[1].ref" in errors_of(raw)


def test_person_needs_a_name_or_description() -> None:
    raw = fragment()
    del raw["people"][0]["name"]
    assert "people[0].name" in errors_of(raw)


def test_retraction_needs_no_event() -> None:
    doc, errors = check_fragment(
        fragment(
            event=None,
            people=[],
            relationships=[],
            supersedes={"record_ref": "X", "reason": "sent in error", "retract": True},
        ),
        now=NOW,
    )
    assert errors == [] and doc is not None


def test_identifiers_are_checked_and_invalid_kept_unverified() -> None:
    good = make_nhs_number("943476591")
    assert good is not None
    raw = fragment()
    raw["people"][0]["identifiers"] = [
        {"scheme": "nhs", "value": f"{good[:3]} {good[3:6]} {good[6:]}"},
        {"scheme": "nhs", "value": good[:-1] + str((int(good[-1]) + 1) % 10)},
        {"scheme": "upn", "value": "B123456789012"},
        {"scheme": "agency_person_id", "value": "SC-00012"},
    ]
    doc, errors = check_fragment(raw, now=NOW)
    assert errors == [] and doc is not None
    ids = doc["people"][0]["identifiers"]
    assert [i["verified"] for i in ids] == [True, False, False, True]
    assert ids[0]["value"] == good  # spaces removed
    assert ids[3]["issuer"] == raw["agency"]["id"]


def test_author_cannot_claim_an_identifier_is_verified() -> None:
    raw = fragment()
    raw["people"][0]["identifiers"] = [{"scheme": "nhs", "value": "1234567890", "verified": True}]
    doc, _ = check_fragment(raw, now=NOW)
    assert doc is not None and doc["people"][0]["identifiers"][0]["verified"] is False


def test_relative_wording_is_resolved_against_recorded_date_and_kept() -> None:
    doc, errors = check_fragment(with_event(when="six months previously"), now=NOW)
    assert errors == [] and doc is not None
    when = doc["event"]["when"]
    assert when["text"] == "six months previously"
    assert when["relative"] is True and when["precision"] == "approximate"
    assert when["start"] == "2026-05-04" and when["end"] == "2026-06-03"


def test_explicit_range() -> None:
    doc, errors = check_fragment(with_event(when={"start": "2026-10-01", "end": "2026-10-14"}), now=NOW)
    assert errors == [] and doc is not None
    assert doc["event"]["when"]["precision"] == "range"


def test_errors_never_quote_personal_values() -> None:
    raw = fragment()
    raw["people"][0]["dob"] = "not-a-date-Mia-Walsh-secret"
    raw["people"][0]["sex"] = "Mia-Walsh-secret"
    _, errors = check_fragment(raw, now=NOW)
    assert errors
    assert all("secret" not in e.reason for e in errors)


def test_an_agency_vouches_only_for_its_own_person_ids() -> None:
    raw = fragment()
    raw["people"][0]["identifiers"] = [
        {"scheme": "agency_person_id", "value": "X1"},
        {"scheme": "agency_person_id", "value": "X2", "issuer": "another-agency"},
    ]
    doc, _ = check_fragment(raw, now=NOW)
    assert doc is not None
    assert [i["verified"] for i in doc["people"][0]["identifiers"]] == [True, False]


def test_fields_filled_on_ingest_are_never_taken_from_the_sender() -> None:
    raw = fragment()
    raw["people"][3]["norm"] = {"given": ["someone"], "family": "else"}  # the neighbour has no name
    raw["event"] = dict(raw["event"], when={"start": "2026-11-18", "precision": "year", "relative": True})
    doc, errors = check_fragment(raw, now=NOW)
    assert errors == [] and doc is not None
    assert "norm" not in doc["people"][3]
    assert doc["event"]["when"]["precision"] == "day" and doc["event"]["when"]["relative"] is False


def test_consent_given_after_the_record_is_refused() -> None:
    sharing = {
        "lawful_basis": "consent",
        "family_told": True,
        "consent": {"given_by": "mother", "scope": "all", "given_on": "2026-12-01"},
    }
    assert "sharing.consent.given_on" in errors_of(fragment(sharing=sharing))


def test_a_month_ends_no_later_than_the_record() -> None:
    doc, errors = check_fragment(with_event(when="2026-11"), now=NOW)
    assert errors == [] and doc is not None
    assert (doc["event"]["when"]["start"], doc["event"]["when"]["end"]) == ("2026-11-01", "2026-11-19")


def test_validating_a_canonical_fragment_again_changes_nothing() -> None:
    """A canonical fragment is a fixed point: exports can be imported again (another
    store, a replay) and the journal's bodies stay the same."""
    import itertools

    from api.cli import DEMO_NOW, demo_files
    from ingest.generate import generate
    from ingest.readers import read_file

    raws = [r.raw for f in demo_files() for r in read_file(f) if r.raw is not None]
    raws += list(itertools.islice(generate(300, seed=7), 300))
    raws += [with_event(when=w) for w in ("2026-05", "2026", "six months previously", "last week", "yesterday")]
    raws.append(with_event(when={"text": "early in the month", "start": "2026-11-01", "end": "2026-11-07"}))
    for raw in raws:
        doc, errors = check_fragment(raw, now=DEMO_NOW)
        assert errors == [], errors
        again, errors = check_fragment(doc, now=DEMO_NOW)
        assert errors == [] and again == doc
