"""The fragment contract: what one agency shares about one event, as pydantic models.

A fragment is validated in two passes. ``Fragment`` (pydantic) checks shapes, types,
enumerations and sizes. ``ingest.validate`` then checks what needs the whole fragment
(dates against the recorded date and dates of birth, consent when the basis is consent,
a condition when special-category data is present, relationships that name real
mentions) and fills in the normalised forms (dates with precision, folded names,
verified identifiers) that matching and the chronology use. Both passes report errors
as a field path and a reason; neither ever quotes the value back.

The JSON Schema (``jigsaw schema``) is generated from these models; docs/fragment-format.md
explains every field with an example.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator


def _text_only(v: Any) -> Any:
    # JSON has no date type; a number here is a mistake, not a Unix timestamp.
    if not isinstance(v, str | date):
        raise ValueError("write dates as text: YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ for a time")
    return v


Day = Annotated[date, BeforeValidator(_text_only)]
Timestamp = Annotated[datetime, BeforeValidator(_text_only)]

MAX_NARRATIVE = 20_000
MAX_MENTIONS = 50
MAX_RELATIONSHIPS = 100

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2_000)]
Narrative = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NARRATIVE)]
Slug = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"),
]
RecordRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class AgencyType(StrEnum):
    police = "police"
    health = "health"
    ambulance = "ambulance"
    school = "school"
    early_years = "early_years"
    education = "education"
    social_care = "social_care"
    early_help = "early_help"
    children_centre = "children_centre"
    housing = "housing"
    probation = "probation"
    youth_justice = "youth_justice"
    voluntary = "voluntary"


class EventKind(StrEnum):
    referral = "referral"
    anonymous_report = "anonymous_report"
    contact = "contact"
    home_visit = "home_visit"
    welfare_check = "welfare_check"
    police_callout = "police_callout"
    incident = "incident"
    strategy_discussion = "strategy_discussion"
    assessment = "assessment"
    section47_enquiry = "section47_enquiry"
    child_protection_conference = "child_protection_conference"
    case_closed = "case_closed"
    school_attendance = "school_attendance"
    school_concern = "school_concern"
    health_appointment = "health_appointment"
    missed_appointment = "missed_appointment"
    injury = "injury"
    hospital_attendance = "hospital_attendance"
    disclosure = "disclosure"
    observation = "observation"
    information_shared = "information_shared"
    change_of_address = "change_of_address"
    household_change = "household_change"
    meeting = "meeting"
    other = "other"


class PersonRole(StrEnum):
    child = "child"
    parent = "parent"
    step_parent = "step_parent"
    carer = "carer"
    sibling = "sibling"
    partner = "partner"
    relative = "relative"
    household_member = "household_member"
    neighbour = "neighbour"
    referrer = "referrer"
    witness = "witness"
    professional = "professional"
    alleged_perpetrator = "alleged_perpetrator"
    other = "other"


class RelationshipKind(StrEnum):
    mother_of = "mother_of"
    father_of = "father_of"
    parent_of = "parent_of"
    step_parent_of = "step_parent_of"
    carer_of = "carer_of"
    sibling_of = "sibling_of"
    half_sibling_of = "half_sibling_of"
    partner_of = "partner_of"
    ex_partner_of = "ex_partner_of"
    grandparent_of = "grandparent_of"
    aunt_or_uncle_of = "aunt_or_uncle_of"
    relative_of = "relative_of"
    neighbour_of = "neighbour_of"
    lives_with = "lives_with"


class StatementKind(StrEnum):
    fact = "fact"
    opinion = "opinion"
    hearsay = "hearsay"
    allegation = "allegation"


class Significance(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class Concern(StrEnum):
    """Concern categories; the CIN census factor each aligns with is in docs/fragment-format.md."""

    neglect = "neglect"
    supervision = "supervision"
    physical_abuse = "physical_abuse"
    emotional_abuse = "emotional_abuse"
    sexual_abuse = "sexual_abuse"
    domestic_abuse = "domestic_abuse"
    missing = "missing"
    sexual_exploitation = "sexual_exploitation"
    criminal_exploitation = "criminal_exploitation"
    parental_substance_misuse = "parental_substance_misuse"
    parental_alcohol_misuse = "parental_alcohol_misuse"
    parental_mental_health = "parental_mental_health"
    self_harm = "self_harm"
    school_attendance = "school_attendance"
    unmet_health_needs = "unmet_health_needs"
    housing = "housing"
    online_safety = "online_safety"
    radicalisation = "radicalisation"
    female_genital_mutilation = "female_genital_mutilation"
    trafficking = "trafficking"
    other = "other"


class IdentifierScheme(StrEnum):
    nhs = "nhs"
    upn = "upn"
    agency_person_id = "agency_person_id"


class LawfulBasis(StrEnum):
    consent = "consent"
    public_task = "public_task"
    legal_obligation = "legal_obligation"
    vital_interests = "vital_interests"
    legitimate_interests = "legitimate_interests"


class SpecialCategory(StrEnum):
    health = "health"
    sex_life = "sex_life"
    sexual_orientation = "sexual_orientation"
    racial_or_ethnic_origin = "racial_or_ethnic_origin"
    religious_belief = "religious_belief"
    criminal_offence = "criminal_offence"


class SpecialCondition(StrEnum):
    safeguarding_children = "safeguarding_children"
    health_or_social_care = "health_or_social_care"
    vital_interests = "vital_interests"
    substantial_public_interest = "substantial_public_interest"
    explicit_consent = "explicit_consent"
    legal_claims = "legal_claims"


class Audience(StrEnum):
    case_team = "case_team"
    safeguarding_leads = "safeguarding_leads"
    originating_agency = "originating_agency"
    named_agencies = "named_agencies"


class Handling(StrEnum):
    do_not_tell_family = "do_not_tell_family"
    share_with_conditions = "share_with_conditions"


class Precision(StrEnum):
    exact = "exact"
    day = "day"
    month = "month"
    year = "year"
    approximate = "approximate"
    range = "range"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, str_strip_whitespace=True)


class Agency(_Model):
    id: Slug = Field(description="Stable short id of the agency, e.g. 'northshire-police'.")
    name: Text = Field(description="The agency's name as people know it.")
    type: AgencyType
    local_authority: Text | None = Field(None, description="Local authority area it serves.")


class Author(_Model):
    role: Text = Field(description="The author's role, e.g. 'family support worker'.")
    id: Text = Field(description="The author's id within their agency (not their name).")


class When(_Model):
    """When something happened. Give ``text`` (a date or words) or ``start`` (and ``end``).

    The normalised fields (``precision``, ``start``, ``end``, ``at``, ``relative``) are
    filled in on ingest; ``text`` keeps the original wording.
    """

    text: Text | None = Field(
        None,
        description="As written: '2026-11-19', '19/11/2026 09:30', '2026-05', 'six months previously'.",
    )
    start: Day | None = None
    end: Day | None = None
    at: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")] | None = Field(
        None, description="Time of day, HH:MM, when known."
    )
    precision: Precision | None = None
    approximate: bool = Field(False, description="The author marks the date as approximate.")
    relative: bool = Field(False, description="Set on ingest when worked out from relative wording.")


class Name(_Model):
    full: Text | None = Field(None, description="The name as written, e.g. 'Mrs L Walsh'.")
    given: Text | None = None
    family: Text | None = None
    known_as: Text | None = None


class NormalisedName(_Model):
    """Filled in on ingest: folded given names and family name."""

    given: list[str] = Field(default_factory=list)
    family: str | None = None
    title: str | None = None
    previous_family: list[str] | None = Field(None, description="Folded family names of previous_names.")


class Identifier(_Model):
    scheme: IdentifierScheme
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    issuer: Slug | None = Field(None, description="For agency_person_id: the agency that issued it.")
    verified: bool = Field(
        False,
        description="Set on ingest: the check digit or letter is right. Unverified ids are never matched on.",
    )


class Address(_Model):
    text: LongText | None = None
    postcode: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None
    local_authority: Text | None = None


class Mention(_Model):
    """A person mentioned in the fragment, as this agency holds their details."""

    ref: Slug = Field(description="Local reference within this fragment, e.g. 'p1', used by relationships.")
    role: PersonRole
    name: Name | None = None
    previous_names: list[Name] | None = Field(
        None,
        max_length=5,
        description="Names this person was known by before, e.g. a maiden name: 'Leanne Doyle'. Used in matching.",
    )
    description: Text | None = Field(None, description="When no name is known: 'the neighbour at no. 14'.")
    dob: Day | None = None
    sex: Literal["female", "male", "unknown"] | None = None
    identifiers: list[Identifier] = Field(default_factory=list, max_length=10)
    addresses: list[Address] = Field(default_factory=list, max_length=10)
    identity_protected: bool = Field(
        False, description="Only the originating agency and those cleared may see who this is."
    )
    norm: NormalisedName | None = Field(None, description="Filled in on ingest.")

    @field_validator("name", mode="before")
    @classmethod
    def _name_from_string(cls, v: Any) -> Any:
        return {"full": v} if isinstance(v, str) else v

    @field_validator("previous_names", mode="before")
    @classmethod
    def _names_from_strings(cls, v: Any) -> Any:
        return [{"full": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v


class Relationship(_Model):
    subject: Slug = Field(description="Mention ref of the one who is ... (e.g. the mother).")
    kind: RelationshipKind
    object: Slug = Field(description="Mention ref of the one they are it to (e.g. the child).")


class Place(_Model):
    description: Text | None = None
    address: Address | None = None


class Event(_Model):
    kind: EventKind
    when: When
    summary: Text = Field(description="One line: what happened.")
    narrative: Narrative = Field("", description="Free text, as the agency recorded it.")
    place: Place | None = None
    action_taken: LongText | None = None
    source_of_information: LongText | None = Field(
        None, description="Who told the author, as the chronology export records it."
    )

    @field_validator("when", mode="before")
    @classmethod
    def _when_from_string(cls, v: Any) -> Any:
        return {"text": v} if isinstance(v, str) else v


class Statement(_Model):
    kind: StatementKind
    whose: Text | None = Field(None, description="Whose opinion (required for an opinion).")
    reported_by: Text | None = Field(
        None, description="Who reported it (required for hearsay); a mention ref or words."
    )


class Grading(_Model):
    """The 3x5x2 grading used by UK police intelligence."""

    source: Literal["1", "2", "3"]
    information: Literal["A", "B", "C", "D", "E"]
    handling: Literal["P", "C"]

    @field_validator("source", mode="before")
    @classmethod
    def _source_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class Consent(_Model):
    given_by: Text
    scope: LongText
    given_on: Day | None = None


class Sharing(_Model):
    lawful_basis: LawfulBasis
    consent: Consent | None = None
    special_category: list[SpecialCategory] = Field(default_factory=list)
    special_category_condition: SpecialCondition | None = None
    family_told: bool
    family_not_told_reason: LongText | None = None


class Markings(_Model):
    audience: Audience = Audience.case_team
    agencies: list[Slug] = Field(default_factory=list, description="For audience named_agencies.")
    handling: list[Handling] = Field(default_factory=list)
    conditions: LongText | None = None
    existence_visible: bool = Field(True, description="Others may know a record exists (shown as a placeholder).")


class Supersedes(_Model):
    record_ref: RecordRef = Field(description="The record reference of this agency's earlier fragment.")
    reason: LongText
    retract: bool = Field(False, description="True: the earlier fragment is withdrawn, not replaced.")


class Fragment(_Model):
    """One piece of information one agency shared."""

    schema_version: Literal[1] = 1
    agency: Agency
    author: Author
    record_ref: RecordRef = Field(
        description="The agency's own reference; a resend with the same reference is the same fragment."
    )
    recorded_at: Timestamp
    shared_at: Timestamp
    event: Event | None = Field(None, description="Required unless this fragment retracts an earlier one.")
    people: list[Mention] = Field(default_factory=list, max_length=MAX_MENTIONS)
    relationships: list[Relationship] = Field(default_factory=list, max_length=MAX_RELATIONSHIPS)
    statement: Statement
    grading: Grading | None = None
    concerns: list[Concern] = Field(default_factory=list, max_length=20)
    significance: Significance
    sharing: Sharing
    markings: Markings = Field(default_factory=Markings)
    supersedes: Supersedes | None = None


def fragment_json_schema() -> dict[str, Any]:
    """The JSON Schema of a fragment as an agency sends it."""
    return Fragment.model_json_schema(mode="validation")
