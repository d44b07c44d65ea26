"""Request and response bodies of the HTTP API (their JSON Schemas are in /openapi.json)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from graph.access import Clearance, Role
from graph.chronology import ChronologyLine
from graph.registry import ShareDecision, ShareRequest, TokenInfo
from graph.store import PersonSummary
from ingest.schema import Author, Fragment, LongText, RecordRef, Text

# Answers that are the graph's own records (a person, a chronology line, a share request
# or decision, a token's details) use its dataclasses as they are: no copy to keep in step.
__all__ = ["ChronologyLine", "PersonSummary", "ShareDecision", "ShareRequest", "TokenInfo"]

T = TypeVar("T")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# ---------------------------------------------------------------------- fragments


class WarningOut(BaseModel):
    """Something for the author to check (never a refusal): a term that may be read
    differently, a term the glossary does not know, or words in a fact that read as
    opinion or hearsay."""

    field: str = Field(description="Where, e.g. event.narrative.")
    code: Literal["ambiguous_term", "unknown_term", "reads_as_opinion", "reads_as_hearsay"]
    words: str = Field(description="The term or words concerned.")
    message: str


class FragmentReceipt(BaseModel):
    id: str = Field(description="The fragment's id: the same for a resend of the same record reference.")
    status: Literal["accepted", "duplicate"] = Field(
        description="accepted: stored now, durably; duplicate: already stored, nothing changed."
    )
    location: str
    warnings: list[WarningOut] = Field(
        default_factory=list,
        description="Things to check in what you wrote: ambiguous or unknown terms, a fact that reads as opinion.",
    )


class BatchIn(_In):
    fragments: list[Fragment] = Field(min_length=1, max_length=1000, description="Stored all together or not at all.")


class BatchItem(BaseModel):
    index: int
    id: str
    status: Literal["accepted", "duplicate"]
    warnings: list[WarningOut] = Field(default_factory=list)


class BatchReceipt(BaseModel):
    accepted: int
    duplicate: int
    items: list[BatchItem]


class CorrectionIn(_In):
    reason: Text = Field(description="Why the earlier version is being corrected.")
    fragment: Fragment = Field(description="The new version, under a new record reference.")


class RetractionIn(_In):
    record_ref: RecordRef = Field(description="Your agency's reference for this retraction.")
    reason: Text = Field(description="Why the record is withdrawn.")
    author: Author


class FragmentOut(BaseModel):
    id: str
    held_back: bool = Field(description="True: you may know this record exists, not what it says.")
    agency: str
    ask: str | None = Field(None, description="For a record held back: whom to ask.")
    fragment: dict[str, Any] | None = Field(
        None, description="The fragment as you may see it (protected identities redacted)."
    )


# ---------------------------------------------------------------------- people and events


class Page(BaseModel, Generic[T]):
    """One page of a list: every list answers so."""

    items: list[T]
    total: int | None = Field(None, description="How many there are in all, where that is known.")
    limit: int
    offset: int
    next: str | None = Field(None, description="The URL of the next page, if there may be one.")


class ChronologyPage(Page[ChronologyLine]):
    person: PersonSummary
    terms: list[TermOut] = Field(default_factory=list, description="Terms the lines on this page use.")


class TermOut(BaseModel):
    """An agency term used in what is shown, with its plain meaning (None: not in the
    glossary) and, for an ambiguous one, its other meanings."""

    term: str
    kind: Literal["known", "ambiguous", "unknown"]
    meaning: str | None
    alternatives: list[str]


class NodeOut(BaseModel):
    id: str = Field(description="kind:identifier, e.g. person:P1a2b...-0")
    kind: Literal["person", "event", "fragment", "agency", "place"]
    attributes: dict[str, Any]
    sources: list[str]


class EdgeOut(BaseModel):
    source: str
    target: str
    kind: str
    attributes: dict[str, Any]
    sources: list[str]


class NetworkOut(BaseModel):
    person_id: str
    nodes: list[NodeOut]
    edges: list[EdgeOut]


class HouseholdMemberOut(BaseModel):
    person_id: str
    evidence: list[str] = Field(description="How records say they live together: lives_with, shared_address, parent.")
    sources: list[str] = Field(description="Ids of the records that put them in the household.")


class HouseholdAddressOut(BaseModel):
    address: str | None
    postcode: str | None
    local_authority: str | None
    from_: str = Field(alias="from", description="First day a record puts the household here.")
    to: str = Field(description="Last day a record puts the household here.")
    sources: list[str]

    model_config = {"populate_by_name": True}


class HouseholdOut(BaseModel):
    """Who lives with the person, where and when (graph/household.py), as you may see it."""

    person_id: str
    members: list[HouseholdMemberOut]
    addresses: list[HouseholdAddressOut]


# ---------------------------------------------------------------------- sharing


class ShareRequestIn(_In):
    holder_agency: Text = Field(description="The agency you are asking.")
    person_id: Text = Field(description="Who it is about, as you know them (a person id).")
    purpose: Literal["safeguarding", "meeting"] = Field(description="What the information would be used for.")
    need: LongText = Field(min_length=1, description="What you need and why, in words.")
    urgency: Literal["immediate", "within_24_hours", "routine"]


class ShareDecisionIn(_In):
    outcome: Literal["share_in_full", "share_in_part", "do_not_share"]
    necessity: LongText = Field(min_length=1, description="Why sharing is (or is not) necessary.")
    proportionality: LongText = Field(min_length=1, description="Why what is shared is proportionate.")
    lawful_basis: Text
    released: list[str] = Field(default_factory=list, max_length=500, description="Your fragments released.")
    special_condition: Text | None = None
    family_told: StrictBool
    family_not_told_reason: LongText | None = None
    expires_at: str | None = Field(None, description="When the release lapses (date-time with zone).")
    reconsiders: str | None = Field(None, description="An earlier decision this one replaces.")


class ShareRequestDetail(BaseModel):
    request: ShareRequest
    decisions: list[ShareDecision]


# ---------------------------------------------------------------------- audit


class AuditEntryOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    purpose: str | None
    detail: dict[str, Any]
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None
    checkpoints: int


# ---------------------------------------------------------------------- administration


class ReaderIn(_In):
    agency: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="The agency id, as in its fragments.")
    roles: list[Role] = Field(min_length=1, max_length=10)
    clearances: list[Clearance] = Field(default_factory=list, max_length=3)
    display_name: str = Field("", max_length=200, description="Role words, not a person's name, e.g. 'school DSL'.")
    active: StrictBool = True


class ReaderOut(BaseModel):
    id: str
    agency: str
    roles: list[str]
    clearances: list[str]
    cases: list[str]
    active: bool
    display_name: str


class TokenIn(_In):
    expires_at: str | None = Field(None, description="When it stops working (date-time with zone).")


class TokenIssued(BaseModel):
    token_id: str
    reader_id: str
    token: str = Field(description="Shown once: only its hash is kept.")


class CaseIn(_In):
    case_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
    person_id: str = Field(min_length=3, max_length=40, description="The child's person id.")


class Status(BaseModel):
    status: str


# ---------------------------------------------------------------------- shared meaning


class AcknowledgementIn(_In):
    kind: Literal["understood", "query", "confirmed_fact"] = Field(
        description="understood: read and understood; query: a question in words (text required); "
        "confirmed_fact: the author's agency confirms a flagged record is fact."
    )
    text: LongText = Field("", description="Your words: required for a query.")


class SubjectAcknowledgementIn(AcknowledgementIn):
    subject: str = Field(
        pattern=r"^(F[0-9a-f]{24}|D[0-9a-f]{12})$", description="A fragment id (F...) or a share decision id (D...)."
    )


class FlagsOut(BaseModel):
    """A fragment's shared-meaning flags (derived from it, so always current) and the
    answers given to them."""

    fragment_id: str
    statement: str
    warnings: list[WarningOut]
    terms: list[TermOut]
    answers: list[dict[str, Any]] = Field(
        description="The author's agency's answers (confirmed_fact); a record changed to opinion is a correction."
    )


class WebhookIn(_In):
    url: str = Field(min_length=8, max_length=2000, description="Where to POST notices (https in production).")
    secret: str | None = Field(
        None, min_length=24, max_length=200, description="The signing secret; leave out to have one made (shown once)."
    )
    active: StrictBool = True


class WebhookOut(BaseModel):
    agency: str
    url: str
    active: bool
    updated_at: str
    secret: str | None = Field(None, description="Only when Jigsaw made the secret: shown this once.")
