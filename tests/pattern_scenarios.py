"""Case-file scenarios for the pattern tests: each pattern has one written to contain it
and one written to look like it without containing it (tests/test_patterns.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

AGENCIES = {
    "police": ("northshire-police", "Northshire Police", "police", "Northshire"),
    "school": ("hill-primary", "Hill Primary School", "school", "Northshire"),
    "gp": ("oak-surgery", "Oak Surgery", "health", "Northshire"),
    "hospital": ("north-general", "Northshire General Hospital", "health", "Northshire"),
    "csc": ("northshire-csc", "Northshire Children's Social Care", "social_care", "Northshire"),
    "eh": ("northshire-eh", "Northshire Early Help", "early_help", "Northshire"),
    "east-health": ("eastmere-health", "Eastmere Community Health", "health", "Eastmere"),
    "east-school": ("eastmere-academy", "Eastmere Academy", "school", "Eastmere"),
    "east-hospital": ("eastmere-hospital", "Eastmere Hospital", "health", "Eastmere"),
}

HOME = {"text": "1 Elm Road, Northtown", "postcode": "NT1 1AA", "local_authority": "Northshire"}
OTHER_HOME = {"text": "9 Birch Lane, Fallowby", "postcode": "EM9 9ZZ", "local_authority": "Eastmere"}


def child(
    name: str, dob: str = "2018-04-01", *, ref: str = "c", address: dict[str, str] | None = HOME
) -> dict[str, Any]:
    m: dict[str, Any] = {"ref": ref, "role": "child", "name": name, "dob": dob}
    if address:
        m["addresses"] = [address]
    return m


def adult(
    name: str, dob: str, *, ref: str = "a", role: str = "parent", address: dict[str, str] | None = HOME
) -> dict[str, Any]:
    m: dict[str, Any] = {"ref": ref, "role": role, "name": name, "dob": dob}
    if address:
        m["addresses"] = [address]
    return m


_counter = [0]


def rec(
    day: str | date,
    kind: str,
    who: Sequence[dict[str, Any]],
    *,
    at: str = "police",
    concerns: Sequence[str] = ("neglect",),
    significance: str = "medium",
    summary: str = "A record",
    action: str | None = None,
    relationships: Sequence[dict[str, str]] = (),
    markings: dict[str, Any] | None = None,
    ref: str | None = None,
) -> dict[str, Any]:
    aid, name, atype, la = AGENCIES[at]
    d = day if isinstance(day, str) else day.isoformat()
    _counter[0] += 1
    doc: dict[str, Any] = {
        "agency": {"id": aid, "name": name, "type": atype, "local_authority": la},
        "author": {"role": "worker", "id": "W1"},
        "record_ref": ref or f"{aid.upper()}-{_counter[0]}",
        "recorded_at": f"{d}T18:00:00Z",
        "shared_at": f"{d}T18:30:00Z",
        "event": {"kind": kind, "when": d, "summary": summary},
        "people": [dict(m) for m in who],
        "relationships": list(relationships),
        "statement": {"kind": "fact"},
        "concerns": list(concerns),
        "significance": significance,
        "sharing": {"lawful_basis": "public_task", "family_told": True},
    }
    if action:
        doc["event"]["action_taken"] = action
    if markings:
        doc["markings"] = markings
    if atype == "health":
        doc["sharing"]["special_category"] = ["health"]
        doc["sharing"]["special_category_condition"] = "safeguarding_children"
    return doc


def days(start: str, step: int, n: int) -> list[date]:
    d0 = date.fromisoformat(start)
    return [d0 + timedelta(days=step * i) for i in range(n)]


# --------------------------------------------------------------------- per pattern
# name -> (scenario that contains it, look-alike that does not); the child of interest
# is always the first child mention, named in CHILD_OF.


def multi_agency(contains: bool) -> list[dict[str, Any]]:
    c = child("Ruby Ash")
    out = [
        rec("2026-01-10", "police_callout", [c], at="police", concerns=["domestic_abuse"]),
        rec("2026-02-01", "school_concern", [c], at="school", concerns=["neglect"], significance="low"),
        rec("2026-03-01", "missed_appointment", [c], at="gp", concerns=["unmet_health_needs"], significance="low"),
    ]
    if not contains:  # the look-alike: social care took a referral in the window
        out.append(rec("2026-02-15", "referral", [c], at="csc", concerns=["neglect"]))
    return out


def repeat_after_closure(contains: bool) -> list[dict[str, Any]]:
    c = child("Sam Birch")
    closed = "Case closed: no further action" if contains else "Case closed: support completed, needs met"
    return [
        rec("2026-01-05", "referral", [c], at="csc", concerns=["supervision"], summary="Call: child left alone"),
        rec("2026-01-07", "case_closed", [c], at="csc", concerns=[], significance="low", summary=closed),
        rec("2026-07-01", "school_concern", [c], at="school", concerns=["supervision"], summary="Not collected"),
    ]


def adult_across_households(contains: bool) -> list[dict[str, Any]]:
    a = adult("Gary Stone", "1980-02-02", role="partner", address=None)
    c1 = child("Tia Cole", "2017-05-05")
    c2 = child("Leo Drake", "2019-06-06", address=OTHER_HOME if contains else HOME)
    rels = [] if contains else [{"subject": "c", "kind": "sibling_of", "object": "a"}]
    out = [
        rec("2026-02-01", "police_callout", [c1, a], at="police", concerns=["domestic_abuse"]),
        rec("2026-05-01", "police_callout", [c2, a], at="police", concerns=["domestic_abuse"]),
    ]
    if not contains:  # the look-alike: the two children are brother and sister at one address
        out.append(
            rec(
                "2026-05-02",
                "school_concern",
                [child("Tia Cole", "2017-05-05"), {**child("Leo Drake", "2019-06-06"), "ref": "a"}],
                at="school",
                concerns=[],
                significance="low",
                relationships=rels,
            )
        )
    return out


def moved_authority(contains: bool) -> list[dict[str, Any]]:
    c = child("Max Fern")
    if contains:
        return [
            rec("2026-01-10", "school_concern", [c], at="school", concerns=["neglect"]),
            rec(
                "2026-06-01",
                "health_appointment",
                [child("Max Fern", address=OTHER_HOME)],
                at="east-health",
                concerns=[],
            ),
            rec("2026-07-01", "school_concern", [child("Max Fern", address=OTHER_HOME)], at="east-school"),
        ]
    # the look-alikes: seen by another authority's hospital, but never lived anywhere else;
    # and a move whose history followed (the new school holds what the old one knew)
    return [
        rec("2026-01-10", "school_concern", [c], at="school", concerns=["neglect"]),
        rec("2026-06-01", "hospital_attendance", [c], at="east-hospital", concerns=["neglect"]),
        rec("2026-01-10", "school_concern", [child("Kit Fern", "2016-03-03")], at="school"),
        rec(
            "2026-06-01",
            "health_appointment",
            [child("Kit Fern", "2016-03-03", address=OTHER_HOME)],
            at="east-health",
            concerns=[],
        ),
        # the new school's record of what happened at the old one (dated when it happened)
        rec("2026-01-12", "information_shared", [child("Kit Fern", "2016-03-03")], at="east-school"),
    ]


def repeated_injuries(contains: bool) -> list[dict[str, Any]]:
    c = child("Ivy Gale")
    out = [
        rec("2026-01-10", "injury", [c], at="school", concerns=["physical_abuse"], summary="Bruise; said she fell"),
        rec("2026-04-10", "injury", [c], at="gp", concerns=["physical_abuse"], summary="Burn; said it was the oven"),
    ]
    if not contains:  # the look-alike: each injury was followed by a strategy discussion
        out += [
            rec("2026-01-14", "strategy_discussion", [c], at="csc", concerns=["physical_abuse"]),
            rec("2026-04-13", "strategy_discussion", [c], at="csc", concerns=["physical_abuse"]),
        ]
    return out


def missed_health_and_falling_attendance(contains: bool) -> list[dict[str, Any]]:
    c = child("Zac Hale")
    pct = "82%" if contains else "97%"
    return [
        rec("2026-03-01", "missed_appointment", [c], at="gp", concerns=["unmet_health_needs"]),
        rec(
            "2026-04-01",
            "school_attendance",
            [c],
            at="school",
            concerns=[],
            significance="low",
            summary=f"Spring term attendance: Zac {pct}",
        ),
    ]


def escalation(contains: bool) -> list[dict[str, Any]]:
    c = child("Nia Irwin")
    before = days("2025-07-01", 40, 1 if contains else 4)  # July-Dec 2025
    recent = days("2026-02-01", 20, 4)  # Feb-Apr 2026
    ats = ["police", "school", "gp", "eh"]
    return [rec(d, "observation", [c], at=ats[i % 4]) for i, d in enumerate([*before, *recent])]


def siblings_not_considered(contains: bool) -> list[dict[str, Any]]:
    c1 = child("Ada Jones", "2016-01-01", ref="c1")
    c2 = child("Bea Jones", "2019-01-01", ref="c2")
    out = [
        rec(
            "2026-01-05",
            "contact",
            [c1, c2],
            at="school",
            concerns=[],
            significance="low",
            relationships=[{"subject": "c1", "kind": "sibling_of", "object": "c2"}],
        ),
        rec(
            "2026-05-01",
            "disclosure",
            [child("Ada Jones", "2016-01-01")],
            at="school",
            concerns=["physical_abuse"],
            significance="high",
        ),
    ]
    if not contains:  # the look-alike: the younger sister was seen the week after
        out.append(
            rec(
                "2026-05-08",
                "home_visit",
                [child("Bea Jones", "2019-01-01")],
                at="csc",
                concerns=[],
                significance="low",
            )
        )
    return out


def long_silence(contains: bool) -> list[dict[str, Any]]:
    c = child("Eli King")
    when = days("2024-06-01", 300, 3) if contains else days("2024-06-01", 60, 15)  # ... to Sep 2026
    return [rec(d, "observation", [c], at="school") for d in when]


SCENARIOS = {
    "multi_agency_concerns": (multi_agency, "Ruby Ash"),
    "repeat_after_closure": (repeat_after_closure, "Sam Birch"),
    "adult_across_households": (adult_across_households, "Tia Cole"),
    "moved_authority": (moved_authority, "Max Fern"),  # the look-alike's Kit Fern is checked too
    "repeated_injuries": (repeated_injuries, "Ivy Gale"),
    "missed_health_and_falling_attendance": (missed_health_and_falling_attendance, "Zac Hale"),
    "escalation": (escalation, "Nia Irwin"),
    "siblings_not_considered": (siblings_not_considered, "Ada Jones"),
    "long_silence": (long_silence, "Eli King"),
}


# --------------------------------------------------------------------- the household
# The place-based patterns again, where ONLY the household carries the address: no
# record gives the child an address; the adults they live with (graph/household.py) are
# given one in a record that names them with the child. Each has a look-alike the
# household rules tell apart. name -> (builder, the child of interest).


def mother(name: str = "Kim Fern", dob: str = "1990-01-01", *, ref: str = "m", address: Any = HOME) -> dict[str, Any]:
    return adult(name, dob, ref=ref, role="parent", address=address)


def _with(ref: str, kind: str, of: str = "c") -> dict[str, str]:
    return {"subject": ref, "kind": kind, "object": of}


def household_moved_authority(contains: bool) -> list[dict[str, Any]]:
    """Mother and child registered at the Northshire GP from the mother's Northshire home;
    later seen in Eastmere, where the mother gives an Eastmere address (contains); or the
    Eastmere address is the non-resident father's, in a record that also gives the
    mother's Northshire home (the look-alike)."""
    c = child("Max Fern", address=None)
    out = [
        rec(
            "2025-11-01",
            "health_appointment",
            [mother(), c],
            at="gp",
            concerns=[],
            relationships=[_with("m", "mother_of")],
        ),
        rec("2026-01-10", "school_concern", [c], at="school", concerns=["neglect"]),
    ]
    if contains:
        out.append(
            rec(
                "2026-06-01",
                "health_appointment",
                [mother(address=OTHER_HOME), c],
                at="east-health",
                concerns=[],
                relationships=[_with("m", "mother_of")],
            )
        )
    else:
        out.append(
            rec(
                "2026-06-01",
                "health_appointment",
                [mother(), adult("Dan Fern", "1988-08-08", ref="f", address=OTHER_HOME), c],
                at="east-health",
                concerns=[],
                relationships=[_with("m", "mother_of"), _with("f", "father_of"), _with("m", "ex_partner_of", "f")],
            )
        )
    out.append(rec("2026-07-01", "school_concern", [c], at="east-school"))
    return out


def household_adult_across_households(contains: bool) -> list[dict[str, Any]]:
    """A partner named in concerns about two children, neither given an address; each
    child's mother gives hers in a record with her child. Two homes (contains), or one
    home, the two mothers at the same address (the look-alike)."""
    a = adult("Gary Stone", "1980-02-02", role="partner", address=None)
    c1 = child("Tia Cole", "2017-05-05", address=None)
    c2 = child("Leo Drake", "2019-06-06", address=None)
    m1 = mother("Amy Cole", "1991-01-01")
    m2 = mother("Bea Drake", "1992-02-02", address=OTHER_HOME if contains else HOME)
    return [
        rec(
            "2026-01-05", "health_appointment", [m1, c1], at="gp", concerns=[], relationships=[_with("m", "mother_of")]
        ),
        rec(
            "2026-01-06", "health_appointment", [m2, c2], at="gp", concerns=[], relationships=[_with("m", "mother_of")]
        ),
        rec("2026-02-01", "police_callout", [c1, a], at="police", concerns=["domestic_abuse"]),
        rec("2026-05-01", "police_callout", [c2, a], at="police", concerns=["domestic_abuse"]),
    ]


def household_siblings_not_considered(contains: bool) -> list[dict[str, Any]]:
    """Ada lives with her mother. A home visit records the mother, her partner and his
    daughter Bea: all at the mother's address (contains: Bea lives with Ada, though no
    record calls them sisters) or the partner and Bea at their own (the look-alike: two
    homes). A concern about Ada, nothing about Bea."""
    c1 = child("Ada Jones", "2016-01-01", address=None)
    theirs = HOME if contains else OTHER_HOME
    p = adult("Carl Moss", "1985-05-05", ref="p", role="partner", address=theirs)
    b = child("Bea Moss", "2019-01-01", ref="b", address=theirs)
    return [
        rec("2026-01-05", "contact", [mother("Dee Jones"), c1], at="eh", concerns=[],
            relationships=[_with("m", "mother_of")]),
        rec("2026-01-20", "home_visit", [mother("Dee Jones"), p, b], at="eh", concerns=[], significance="low",
            relationships=[_with("p", "father_of", "b")]),
        rec("2026-05-01", "disclosure", [c1], at="school", concerns=["physical_abuse"], significance="high"),
    ]  # fmt: skip


def household_missed_health(contains: bool) -> list[dict[str, Any]]:
    """Zac's attendance falls while the toddler he lives with is not brought to the GP.
    The toddler is in his household (his mother, with her address, named with both:
    contains) or a cousin living with his aunt elsewhere (the look-alike)."""
    c = child("Zac Hale", "2016-02-02", address=None)
    t = child("Ola Hale", "2023-03-03", ref="t", address=None)
    m = mother("Eve Hale")
    aunt = adult("Fay Hale", "1989-09-09", ref="x", role="relative", address=OTHER_HOME)
    if contains:
        home = rec(
            "2026-01-05",
            "home_visit",
            [m, c, t],
            at="eh",
            concerns=[],
            relationships=[_with("m", "mother_of"), _with("m", "mother_of", "t")],
        )
    else:
        home = rec(
            "2026-01-05",
            "home_visit",
            [m, c, aunt, t],
            at="eh",
            concerns=[],
            relationships=[_with("m", "mother_of"), _with("x", "mother_of", "t")],
        )
    return [
        home,
        rec("2026-03-01", "missed_appointment", [child("Ola Hale", "2023-03-03", address=None)], at="gp"),
        rec(
            "2026-04-01",
            "school_attendance",
            [c],
            at="school",
            concerns=[],
            significance="low",
            summary="Spring term attendance: Zac 82%",
        ),
    ]


HOUSEHOLD_SCENARIOS = {
    "moved_authority": (household_moved_authority, "Max Fern"),
    "adult_across_households": (household_adult_across_households, "Tia Cole"),
    "siblings_not_considered": (household_siblings_not_considered, "Ada Jones"),
    "missed_health_and_falling_attendance": (household_missed_health, "Zac Hale"),
}
