"""Plain words for the codes fragments carry, and dates as people in a UK meeting read them.

Every code a page shows (a concern, a statement kind, a lawful basis, an event kind, a
relationship) goes through here, so the room reads "Supervision (home alone)" rather than
``supervision`` and "4 Nov 2026" rather than ``2026-11-04``. A code this module does not
know is still shown, in words made from the code itself (underscores to spaces), never
dropped: a new concern added to the schema must not vanish from a page.
"""

from __future__ import annotations

from datetime import date, datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def words(code: str) -> str:
    """A code in plain words, first letter capital.

    >>> words("school_attendance")
    'School attendance'
    """
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def uk_date(value: str | date | None) -> str:
    """A date as "4 Nov 2026" (ISO date or timestamp in; empty for none).

    >>> uk_date("2026-11-04")
    '4 Nov 2026'
    >>> uk_date("2026-11-05T08:30:00Z")
    '5 Nov 2026'
    """
    if value is None or value == "":
        return ""
    d = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def uk_datetime(value: str | datetime | None) -> str:
    """A timestamp as "5 Nov 2026 at 08:30 UTC" (as stored: UTC); a bare date as a date.

    >>> uk_datetime("2026-11-05T08:30:00Z")
    '5 Nov 2026 at 08:30 UTC'
    """
    if value is None or value == "":
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if len(text) <= 10:
        return uk_date(text)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    offset = t.utcoffset()
    zone = " UTC" if offset is not None and offset.total_seconds() == 0 else ""
    return f"{uk_date(t.date())} at {t:%H:%M}{zone}"


def month_label(d: date) -> str:
    """A month as "Sep 2026".

    >>> month_label(date(2026, 9, 1))
    'Sep 2026'
    """
    return f"{MONTHS[d.month - 1]} {d.year}"


CONCERNS = {
    "neglect": "Neglect",
    "supervision": "Supervision (home alone)",
    "physical_abuse": "Physical abuse",
    "emotional_abuse": "Emotional abuse",
    "sexual_abuse": "Sexual abuse",
    "domestic_abuse": "Domestic abuse",
    "missing": "Missing from home or care",
    "sexual_exploitation": "Child sexual exploitation",
    "criminal_exploitation": "Child criminal exploitation",
    "parental_substance_misuse": "Parent's drug misuse",
    "parental_alcohol_misuse": "Parent's alcohol misuse",
    "parental_mental_health": "Parent's mental health",
    "self_harm": "Self-harm",
    "school_attendance": "School attendance",
    "unmet_health_needs": "Unmet health needs",
    "housing": "Housing",
    "online_safety": "Online safety",
    "radicalisation": "Radicalisation",
    "female_genital_mutilation": "Female genital mutilation",
    "trafficking": "Trafficking",
    "other": "Other concern",
}

# Concerns fall into families; the timeline colours an event by its most serious family
# (the first in this order that any of its concerns belongs to). Colours are dark enough
# for 3:1 against white (WCAG 1.4.11) and never carry meaning alone: the table and each
# marker's label say the concerns in words.
CONCERN_FAMILIES: tuple[tuple[str, str, str, frozenset[str]], ...] = (
    (
        "abuse",
        "Abuse",
        "#b2182b",
        frozenset({"physical_abuse", "emotional_abuse", "sexual_abuse", "female_genital_mutilation"}),
    ),
    ("domestic", "Domestic abuse", "#762a83", frozenset({"domestic_abuse"})),
    (
        "exploitation",
        "Missing and exploitation",
        "#a34700",
        frozenset(
            {
                "missing",
                "sexual_exploitation",
                "criminal_exploitation",
                "trafficking",
                "radicalisation",
                "online_safety",
            }
        ),
    ),
    ("neglect", "Neglect and supervision", "#1b6e3a", frozenset({"neglect", "supervision", "unmet_health_needs"})),
    (
        "parents",
        "Parents' health and substance use",
        "#1f5fa8",
        frozenset({"parental_substance_misuse", "parental_alcohol_misuse", "parental_mental_health"}),
    ),
    ("child", "Child's wellbeing and school", "#00607a", frozenset({"self_harm", "school_attendance"})),
    ("other", "Other or none recorded", "#505050", frozenset({"housing", "other"})),
)


def concern_family(concerns: list[str]) -> tuple[str, str, str]:
    """(key, words, colour) of the most serious family among ``concerns``.

    >>> concern_family(["supervision", "domestic_abuse"])[1]
    'Domestic abuse'
    >>> concern_family([])[0]
    'other'
    """
    have = set(concerns)
    for key, label, colour, members in CONCERN_FAMILIES:
        if have & members:
            return key, label, colour
    key, label, colour, _ = CONCERN_FAMILIES[-1]
    return key, label, colour


def concern(code: str) -> str:
    return CONCERNS.get(code) or words(code)


STATEMENTS = {
    "fact": "Fact (observed)",
    "opinion": "Opinion",
    "hearsay": "Hearsay (reported by someone else)",
    "allegation": "Allegation",
}
STATEMENT_SHORT = {"fact": "Fact", "opinion": "Opinion", "hearsay": "Hearsay", "allegation": "Allegation"}


def statement(code: str) -> str:
    return STATEMENTS.get(code) or words(code)


SIGNIFICANCE = {"low": "Low", "medium": "Medium", "high": "High"}

PRECISION = {
    "exact": "exact date and time",
    "day": "on the day",
    "month": "month only",
    "year": "year only",
    "range": "over a period",
    "approximate": "approximate",
}

LAWFUL_BASIS = {
    "consent": "Consent (UK GDPR Art. 6(1)(a))",
    "public_task": "Public task (UK GDPR Art. 6(1)(e))",
    "legal_obligation": "Legal obligation (UK GDPR Art. 6(1)(c))",
    "vital_interests": "Vital interests (UK GDPR Art. 6(1)(d))",
    "legitimate_interests": "Legitimate interests (UK GDPR Art. 6(1)(f))",
}

SPECIAL_CATEGORY = {
    "health": "Health",
    "sex_life": "Sex life",
    "sexual_orientation": "Sexual orientation",
    "racial_or_ethnic_origin": "Racial or ethnic origin",
    "religious_belief": "Religious belief",
    "criminal_offence": "Criminal offence data",
}

SPECIAL_CONDITION = {
    "safeguarding_children": "Safeguarding of children and individuals at risk (DPA 2018 Sch. 1 para. 18)",
    "health_or_social_care": "Health or social care (DPA 2018 Sch. 1 para. 2)",
    "vital_interests": "Vital interests (UK GDPR Art. 9(2)(c))",
    "substantial_public_interest": "Substantial public interest (UK GDPR Art. 9(2)(g))",
    "explicit_consent": "Explicit consent (UK GDPR Art. 9(2)(a))",
    "legal_claims": "Legal claims (UK GDPR Art. 9(2)(f))",
}

AUDIENCE = {
    "case_team": "Everyone working on the child's case",
    "safeguarding_leads": "Designated safeguarding leads on the case",
    "originating_agency": "The agency that recorded it only",
    "named_agencies": "The agencies named on the record",
}

HANDLING = {
    "do_not_tell_family": "Do not tell the family",
    "share_with_conditions": "Share only with conditions",
}

# The 3x5x2 grading used by UK police intelligence
GRADING_SOURCE = {
    "1": "1 — reliable source",
    "2": "2 — source untested",
    "3": "3 — not reliable",
}
GRADING_INFORMATION = {
    "A": "A — known directly to the source",
    "B": "B — known indirectly, but corroborated",
    "C": "C — known indirectly",
    "D": "D — not known",
    "E": "E — suspected to be false",
}
GRADING_HANDLING = {
    "P": "P — lawful sharing permitted",
    "C": "C — lawful sharing permitted with conditions",
}


def lookup(table: dict[str, str], code: str | None) -> str:
    """``table[code]``, or the code in plain words; empty for none."""
    if not code:
        return ""
    return table.get(code) or words(code)


def agency_from_id(agency_id: str) -> str:
    """An agency id in words, for a record whose content (and so its agency's own name) the
    reader may not see.

    >>> agency_from_id("millbrook-surgery")
    'Millbrook Surgery'
    """
    return " ".join(w.capitalize() for w in agency_id.replace("_", "-").split("-") if w)
