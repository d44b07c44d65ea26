"""The Store contract: what every backend (embedded SQLite + networkx, Neo4j) provides.

Callers above the graph layer (ingest, api, viz) talk only to ``Store``; nothing above it
may know which backend it runs on. Writes take canonical fragment documents (validated
and normalised by ``ingest``) and are durable when ``append`` returns. Reads go through a
reader's view (``view``), built on the one access decision in ``graph.access``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
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


@dataclass(frozen=True, slots=True)
class AppendOutcome:
    """What happened to one document of an ``append``."""

    index: int
    status: Status
    fragment_id: str
    seq: int | None = None
    field: str | None = None
    reason: str | None = None


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

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
