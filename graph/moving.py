"""What moves between backends besides the journal, as plain records, and the checks
every backend's restore makes (``graph.transfer`` drives the move; docs/scaling.md).

Each kind is exported by ``all_<kind>`` and put back by ``restore_<kind>(by, records)`` on
both backends (``EmbeddedStore``, ``Neo4jStore``), like ``all_share_records`` /
``restore_share_records``: one transaction per kind, refused (``NotEmpty``, naming the
kind) when the destination already holds records of that kind, and audited on the
destination (``store.restore``: what was restored and how many, never content).

The audit
    Entries are copied verbatim, in order, with their own times, actors, purposes,
    details and hashes: the chain (``graph.audit.entry_hash``) is the same bytes on both
    backends, so the destination's ``audit_verify`` passes and its next entry (the
    restore's own) continues from the copied head. ``check_chain`` recomputes every hash
    and link before anything is written: a tampered entry is refused, never carried over.
    Signed checkpoints travel with the entries (the Neo4j backend keeps them as
    ``(:AuditCheckpoint)`` nodes so they come back; it does not yet check them itself).

Tokens
    Only their SHA-256 hashes and metadata exist (``graph.registry.token_hash``): a moved
    token keeps working, and no token is ever readable from either store.

Shared meaning
    Acknowledgements, correction notices with who marked them read, webhooks *with their
    signing secrets* (the destination must sign deliveries), and the outbox with each
    delivery's state, attempts and errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from graph import audit
from graph.errors import JigsawError, StoreError
from graph.meaning import Acknowledgement, NoticeRecord


class NotEmpty(JigsawError):
    """The destination already holds records of the kind being restored."""

    status = 409


class BrokenChain(StoreError):
    """Audit entries offered for a restore that are not an intact chain."""


def refuse_if_held(kind: str, held: int) -> None:
    """``NotEmpty`` naming ``kind`` when the destination already holds ``held`` of them."""
    if held:
        raise NotEmpty(
            f"the destination already holds {held} {kind}: restore {kind} only into a store that has none",
            field=kind.replace(" ", "_"),
        )


@dataclass(frozen=True)
class TokenRecord:
    """A bearer token as stored: its SHA-256 (hex), never the token itself."""

    id: str
    reader_id: str
    hash: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class AuditRecords:
    """The whole audit log, oldest first, and its signed checkpoints."""

    entries: list[audit.AuditEntry]
    checkpoints: list[audit.Checkpoint] = field(default_factory=list)

    @property
    def head(self) -> tuple[int, bytes]:
        """(seq, hash) of the newest entry; (0, GENESIS) for an empty log."""
        return (self.entries[-1].seq, self.entries[-1].hash) if self.entries else (0, audit.GENESIS)


@dataclass(frozen=True)
class NoticeRead:
    """A reader marked a notice read at ``at``."""

    notice_id: str
    reader_id: str
    at: str


@dataclass(frozen=True)
class WebhookRecord:
    """A webhook with its signing secret (kept out of ``repr``, so it is not logged)."""

    agency: str
    url: str
    secret: str = field(repr=False)
    active: bool
    updated_at: str


@dataclass(frozen=True)
class OutboxRecord:
    """One webhook delivery as stored, whatever its state."""

    id: str
    agency: str
    created_at: str
    kind: str
    fragment_id: str
    by_agency: str
    state: str
    attempts: int
    next_at: str
    last_error: str | None
    delivered_at: str | None


@dataclass(frozen=True)
class MeaningRecords:
    """Everything of shared meaning (graph.meaning) a store holds."""

    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    notices: list[NoticeRecord] = field(default_factory=list)
    reads: list[NoticeRead] = field(default_factory=list)
    webhooks: list[WebhookRecord] = field(default_factory=list)
    outbox: list[OutboxRecord] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each (what the restore's audit entry records)."""
        return {
            "acknowledgements": len(self.acknowledgements),
            "notices": len(self.notices),
            "notice_reads": len(self.reads),
            "webhooks": len(self.webhooks),
            "deliveries": len(self.outbox),
        }


def detail_bytes(e: audit.AuditEntry) -> bytes:
    """An entry's detail as the chain hashed it (canonical JSON, keys sorted)."""
    return orjson.dumps(e.detail, option=orjson.OPT_SORT_KEYS)


def check_chain(records: AuditRecords) -> None:
    """``BrokenChain`` naming the first entry that is not what was written: numbers run
    1, 2, 3 ...; each entry follows the one before; each hash is ``entry_hash`` of the
    entry; each checkpoint is signed by the key it carries and matches its entry."""
    prev, hashes = audit.GENESIS, {}
    for expected, e in enumerate(records.entries, start=1):
        if e.seq != expected:
            raise BrokenChain(f"audit entry {expected} is missing (found entry {e.seq} in its place)", field="audit")
        if e.prev_hash != prev:
            raise BrokenChain(f"audit entry {e.seq} does not follow entry {e.seq - 1}", field="audit")
        if audit.entry_hash(e.seq, e.at, e.actor, e.action, e.purpose, detail_bytes(e), prev) != e.hash:
            raise BrokenChain(f"audit entry {e.seq} was changed after it was written", field="audit")
        prev = hashes[e.seq] = e.hash
    for cp in records.checkpoints:
        try:
            key = Ed25519PublicKey.from_public_bytes(cp.public_key)
        except ValueError:
            raise BrokenChain(f"the checkpoint of entry {cp.seq} carries no valid public key", field="audit") from None
        if not cp.signed_by(key) or hashes.get(cp.seq) != cp.hash:
            raise BrokenChain(f"the checkpoint of entry {cp.seq} does not match the log", field="audit")


def restore_detail(records: AuditRecords) -> dict[str, Any]:
    """The ``store.restore`` entry for an audit restore: counts and the copied head."""
    seq, h = records.head
    return {
        "restored": "audit",
        "entries": len(records.entries),
        "checkpoints": len(records.checkpoints),
        "head_seq": seq,
        "head_hash": h.hex(),
    }


def same_entries(a: Sequence[audit.AuditEntry], b: Sequence[audit.AuditEntry]) -> bool:
    """Whether two runs of entries are the same entries (every field, hashes included)."""
    return list(a) == list(b)
