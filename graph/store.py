"""The Store contract: what every backend (embedded SQLite + networkx, Neo4j) provides.

Callers above the graph layer (ingest, api, viz) talk only to ``Store``; nothing above it
may know which backend it runs on. Writes take canonical fragment documents (validated
and normalised by ``ingest``) and are durable when ``append`` returns. Reads go through a
reader's view (``view``), built on the one access decision in ``graph.access``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

from graph.errors import InvalidDecision

if TYPE_CHECKING:
    from graph.access import Reader
    from graph.audit import AuditEntry, VerifyReport
    from graph.incidents import IncidentDecision, IncidentItem
    from graph.meaning import Acknowledgement, Delivery, Notice, Outstanding, Webhook
    from graph.patterns.engine import PatternEngine
    from graph.registry import ShareDecision, ShareRequest, TokenInfo
    from graph.resolution import PairEvidence, ResolutionDecision, ReviewItem
    from graph.view import ReaderView

Status = Literal["accepted", "duplicate", "rejected", "not_written"]


def fragment_id(agency_id: str, record_ref: str) -> str:
    """The public id of a fragment: stable for (agency, record reference), so resends match.

    >>> fragment_id("northshire-police", "INC-1")
    'Fb3ce45775c2f237fe836debb'
    """
    h = hashlib.blake2b(f"{agency_id}\x1f{record_ref}".encode(), digest_size=12).hexdigest()
    return "F" + h[:24]


def canonical_bytes(doc: dict[str, Any]) -> bytes:
    """The journal's byte form of a document: JSON with sorted keys."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def body_hash(body: bytes) -> bytes:
    """Hash of a document's canonical bytes; equal documents (any key order) hash equal."""
    return hashlib.blake2b(body, digest_size=16).digest()


Prepared = tuple[int, str, bytes, bytes, dict[str, Any]]


def prepare(docs: Sequence[dict[str, Any]]) -> list[Prepared]:
    """(index, fragment id, canonical bytes, body hash, document) of each document: what
    every backend's ``append`` decides on."""
    out = []
    for i, doc in enumerate(docs):
        body = canonical_bytes(doc)
        out.append((i, fragment_id(doc["agency"]["id"], doc["record_ref"]), body, body_hash(body), doc))
    return out


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """What happened to one document of an ``append``."""

    index: int
    status: Status
    fragment_id: str
    seq: int | None = None
    field: str | None = None
    reason: str | None = None


def reused_reference(i: int, fid: str) -> AppendOutcome:
    """The outcome for a record reference reused with a different body (every backend)."""
    return AppendOutcome(
        i,
        "rejected",
        fid,
        None,
        "record_ref",
        "this agency already shared a different fragment under this record reference; "
        "send a correction (supersedes) instead of reusing the reference",
    )


NO_EARLIER = "names no earlier fragment from this agency"
ALREADY_SUPERSEDED = "that fragment has already been superseded; correct its latest version"


def all_or_nothing_refused(outcomes: list[AppendOutcome]) -> list[AppendOutcome] | None:
    """With all-or-nothing, the outcomes when anything was rejected (the accepted ones
    become ``not_written``), or None when everything may be written."""
    if not any(o.status == "rejected" for o in outcomes):
        return None
    return [AppendOutcome(o.index, "not_written", o.fragment_id) if o.status == "accepted" else o for o in outcomes]


@dataclass(frozen=True)
class PersonSummary:
    person_id: str
    names: list[str]
    dobs: list[str]
    identifiers: list[dict[str, Any]]
    descriptions: list[str] = field(default_factory=list)
    events: int = 0
    agencies: list[str] = field(default_factory=list)


class Store(ABC):
    """A journal of fragments and the graph projected from it."""

    @abstractmethod
    def append(
        self, docs: Sequence[dict[str, Any]], *, all_or_nothing: bool = False, actor: str = "import"
    ) -> list[AppendOutcome]:
        """Journal canonical documents; durable before this returns.

        Each document is accepted, a duplicate (same agency and record reference, same
        body: nothing changes), or rejected (same reference with a different body; a
        correction naming no earlier fragment of this agency). With ``all_or_nothing``
        any rejection means nothing at all is written, and the documents that were fine
        come back as ``not_written``. The write is audited under ``actor`` (a reader id,
        or "import" for a file import run by an administrator) in the same transaction.
        """

    @abstractmethod
    def get_fragment(self, fid: str) -> dict[str, Any] | None:
        """The canonical document of a current or earlier fragment, or None."""

    @abstractmethod
    def fragment_count(self) -> int: ...

    # Reading goes through a reader's view (graph.view): nothing reads the graph raw.

    @abstractmethod
    def view(self, reader_id: str, purpose: str) -> ReaderView:
        """What ``reader_id`` may see for ``purpose``; entitlements are read now, so a
        change to readers, cases or grants takes effect on the next view."""

    @abstractmethod
    def system_view(self) -> ReaderView:
        """Everything current, unfiltered: for tests, benchmarks and maintenance jobs
        only. Never serve it to a person."""

    # Administration. Every change is one durable transaction with its audit entry, made
    # ``by`` a named person; the command line and the HTTP API both come through these.

    @abstractmethod
    def reader(self, reader_id: str) -> Reader:
        """A reader's entitlements as they are now (NotFound if there is no such reader)."""

    @abstractmethod
    def put_reader(
        self,
        by: str,
        *,
        reader_id: str,
        agency: str,
        roles: Iterable[str],
        clearances: Iterable[str] = (),
        display_name: str = "",
        active: bool = True,
    ) -> Reader: ...

    @abstractmethod
    def set_reader_active(self, by: str, reader_id: str, active: bool) -> None: ...

    @abstractmethod
    def list_readers(self) -> list[Reader]: ...

    @abstractmethod
    def open_case(self, by: str, case_id: str, person_id: str) -> None: ...

    @abstractmethod
    def set_membership(self, by: str, case_id: str, reader_id: str, member: bool) -> None: ...

    @abstractmethod
    def issue_token(self, by: str, reader_id: str, expires_at: str | None = None) -> tuple[str, str]:
        """(token id, the token): the token is shown once; only its hash is kept."""

    @abstractmethod
    def revoke_token(self, by: str, token_id: str) -> None: ...

    @abstractmethod
    def list_tokens(self, reader_id: str | None = None) -> list[TokenInfo]: ...

    @abstractmethod
    def reader_for_token(self, token: str) -> str | None:
        """The reader a live (not revoked, not expired) bearer token belongs to, or None."""

    # The audit trail.

    @abstractmethod
    def audit_read(self, view: ReaderView, action: str, detail: dict[str, Any]) -> None:
        """Record a read or disclosure, durably, before the answer is given."""

    @abstractmethod
    def audit_verify(self, public_key: Any = None, exported: Sequence[dict[str, Any]] = ()) -> VerifyReport: ...

    @abstractmethod
    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action_prefix: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[AuditEntry]: ...

    @abstractmethod
    def who_saw(self, person_id: str) -> list[AuditEntry]: ...

    @abstractmethod
    def disclosures(self, person_id: str | None = None) -> list[AuditEntry]: ...

    # Requests for information and share decisions (golden rule 7).

    @abstractmethod
    def request_share(
        self, reader_id: str, *, holder_agency: str, person_id: str, purpose: str, need: str, urgency: str
    ) -> ShareRequest: ...

    @abstractmethod
    def decide_share(
        self,
        reader_id: str,
        request_id: str,
        *,
        outcome: str,
        necessity: str,
        proportionality: str,
        lawful_basis: str,
        released: Sequence[str] = (),
        special_condition: str | None = None,
        family_told: bool,
        family_not_told_reason: str | None = None,
        expires_at: str | None = None,
        reconsiders: str | None = None,
    ) -> ShareDecision: ...

    @abstractmethod
    def share_requests(self, agency: str) -> list[ShareRequest]:
        """Requests ``agency`` made or was asked."""

    @abstractmethod
    def share_request(self, request_id: str) -> ShareRequest: ...

    @abstractmethod
    def share_records(self, request_id: str | None = None) -> list[ShareDecision]: ...

    # Shared meaning (graph.meaning): read-and-understood, queries, correction notices and
    # the webhooks that carry them to agencies' own systems. Notices themselves are
    # written by ``append``, in the same transaction as the correction or withdrawal.

    @abstractmethod
    def acknowledge(self, view: ReaderView, subject: str, *, kind: str, text: str = "") -> Acknowledgement:
        """Record ``view``'s reader's word on ``subject`` (a fragment id, or a share
        decision id ``D...``): ``understood``, ``query`` (``text`` required), or
        ``confirmed_fact`` (the author's agency, answering an opinion-or-hearsay flag on
        its own fragment). Only a reader who may read the fragment, or a reader of the
        agency a share decision answered, may; anything else is NotFound, exactly as for
        no such record. Durable and audited (``acknowledgement.record``)."""

    @abstractmethod
    def acknowledgements(self, subjects: Sequence[str]) -> list[Acknowledgement]:
        """Every acknowledgement of these subjects, oldest first (ids, kinds, words)."""

    @abstractmethod
    def outstanding(self, agency: str) -> list[Outstanding]:
        """What ``agency`` sent (its current fragments other agencies read or were
        released, its share decisions) that a receiving agency has not acknowledged as
        understood, one item per (subject, receiving agency); open queries included."""

    @abstractmethod
    def notices(self, view: ReaderView, *, unread_only: bool = False) -> list[Notice]:
        """``view``'s reader's correction notices, newest first, as ``meaning.present``
        shows them: never more than the reader may see now."""

    @abstractmethod
    def mark_notice_read(self, view: ReaderView, notice_id: str) -> None:
        """Mark one of the reader's notices read (NotFound if it is not theirs); audited."""

    @abstractmethod
    def put_webhook(self, by: str, *, agency: str, url: str, secret: str, active: bool = True) -> Webhook:
        """Register or change an agency's webhook (URL and signing secret); audited."""

    @abstractmethod
    def webhooks(self) -> list[Webhook]:
        """Registered webhooks (never their secrets)."""

    @abstractmethod
    def due_deliveries(self, limit: int = 100) -> list[Delivery]:
        """Pending webhook deliveries whose next attempt is due (by the store's clock),
        claimed for ``meaning.LEASE`` seconds so two workers never send one at once."""

    @abstractmethod
    def record_delivery(self, delivery_id: str, *, ok: bool, error: str | None = None) -> str:
        """Record one attempt; a failure is retried after ``meaning.backoff(attempts)``
        seconds, and dead-lettered after ``meaning.MAX_ATTEMPTS``. Returns the new state:
        pending, delivered or dead."""

    # Resolution review (graph.resolution, docs/linkage.md): reviewers see and decide only
    # pairs of mentions they may see (a mention id is ``P<fragment>-<n>``); anything else is
    # InvalidDecision(field="mention"), exactly as for no such mention. Decisions are
    # appended, never changed; each is durable and audited (``resolution.decision``).

    @abstractmethod
    def review_queue(self, view: ReaderView, limit: int = 50) -> list[ReviewItem]:
        """Pairs of people the model could not decide on, best first, with its evidence:
        one item per pair of people, none already decided, only mentions ``view`` may see."""

    @abstractmethod
    def explain_pair(self, view: ReaderView, a: str, b: str) -> PairEvidence:
        """The model's field-by-field evidence for two mentions ``view`` may see."""

    @abstractmethod
    def decide(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> ResolutionDecision:
        """Record that mentions ``a`` and ``b`` are one person (``join``) or not
        (``apart``), with the reviewer's reason; the people follow at once."""

    @abstractmethod
    def undo_decision(self, view: ReaderView, decision_id: int, reason: str) -> ResolutionDecision:
        """Withdraw a join or apart decision: the people are as if it had never been made."""

    @abstractmethod
    def resolution_decisions(self, view: ReaderView) -> list[ResolutionDecision]:
        """The decisions (undos included) about records ``view`` may see, in the order made."""

    # Incident review (graph/incidents.py): two agencies' records that may tell one
    # incident. Records are named by fragment id; one the reviewer may not read (or not
    # current) is InvalidDecision(field="fragment"), exactly as for no such record.
    # Decisions are appended, never changed; each is durable and audited
    # (``incident.decision``). The embedded store implements these; a backend that does
    # not yet says so with InvalidDecision(field="backend").

    def incident_queue(self, view: ReaderView, limit: int = 50) -> list[IncidentItem]:
        """Pairs of records that may be one incident, only those ``view`` may read both of."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    def decide_incident(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> IncidentDecision:
        """Record that records ``a`` and ``b`` tell one incident (``join``) or two
        (``apart``), with the reviewer's reason; the events follow at once."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    def undo_incident_decision(self, view: ReaderView, decision_id: int, reason: str) -> IncidentDecision:
        """Withdraw an incident decision: the events are as if it had never been made."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    def incident_decisions(self, view: ReaderView) -> list[IncidentDecision]:
        """The incident decisions (undos included) about records ``view`` may read."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    def incident_decision_records(self) -> list[IncidentDecision]:
        """Every incident decision, undos included, in the order made (for moving a store)."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    def add_incident_decision(self, d: IncidentDecision) -> int:
        """Record an incident decision as made in another store; returns its id here."""
        raise InvalidDecision("incident review is not available on this backend yet", field="backend")

    @abstractmethod
    def relink(self) -> None:
        """Resolve every mention again from the journal and the decisions (after the
        model changed)."""

    @abstractmethod
    def mention_features(self) -> list[Any]:
        """Every mention's features (the matcher's), for training the model on the store's data."""

    # Retention (graph.retention: review dates, tombstones).

    @abstractmethod
    def retention_due(self, on: str, *, limit: int = 1000) -> list[tuple[str, str, str, str]]:
        """(fragment id, agency, retention class, review date) of records not erased whose
        review date is on or before ``on`` (YYYY-MM-DD), earliest first."""

    @abstractmethod
    def erase(self, fid: str, *, authority: str, reason: str, by: str) -> list[str]:
        """Erase a record: every version's content is replaced by its tombstone
        (``retention.tombstone``) and everything derived from it goes, in one transaction
        with its ``fragment.erase`` audit entry; every other reader of the store forgets
        the content before its next answer. Returns the ids erased (none if already)."""

    # Patterns (graph/patterns, docs/patterns.md).

    def patterns(self) -> PatternEngine:
        """The store's pattern engine: evaluates on the system's cases (a backend gives
        them through ``graph.patterns.engine.CaseSource``), caches across-the-store runs
        and re-evaluates only the children new fragments touch, and presents results
        through a reader's view. One per store, shared by its callers."""
        raise NotImplementedError(f"{type(self).__name__} does not run patterns yet")

    # The derived graph, where a backend keeps one apart from the journal (Neo4j's people,
    # events and places for analysts' Cypher), is written behind the writes.

    def write_derived(self, limit: int = 2_000) -> int:
        """Write the derived graph of up to ``limit`` fragments journaled since it was
        last written (by any replica); how many it covered, 0 when it is up to date. The
        API runs this every ``JIGSAW_DERIVED_INTERVAL`` seconds. A backend whose derived
        graph is its projection, kept with every write (the embedded store), has nothing
        to do."""
        return 0

    def derived_behind(self) -> int:
        """How many journaled fragments the derived graph has not been written for yet."""
        return 0

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
