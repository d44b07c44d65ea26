"""The one exception hierarchy for Jigsaw's graph layer (ingest and api build on it).

    JigsawError
    ├── StoreError                  the store cannot do what was asked
    │   ├── StoreBusy               another writer holds the lock; retry later (HTTP 503)
    │   ├── StoreFull               the disk is full; nothing was written (HTTP 503)
    │   ├── StoreCorrupt            the journal cannot be read back as written
    │   └── StoreNotInitialised     no store at that path; run ``jigsaw init``
    ├── ConflictError               same agency + record reference, different body (HTTP 409)
    ├── SupersedeError              a correction names a fragment it may not replace (HTTP 422)
    └── NotFound                    no such thing, or not one this reader may know of (HTTP 404)

Every error carries ``status`` (the HTTP status the API answers with) and a message that
names the field and the reason but never quotes personal data.
"""

from __future__ import annotations


class JigsawError(Exception):
    """Base class of every error Jigsaw raises on purpose."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class StoreError(JigsawError):
    status = 500


class StoreBusy(StoreError):
    status = 503


class StoreFull(StoreError):
    status = 503


class StoreCorrupt(StoreError):
    status = 500


class StoreNotInitialised(StoreError):
    status = 404


class ConflictError(JigsawError):
    status = 409


class SupersedeError(JigsawError):
    status = 422


class NotFound(JigsawError):
    status = 404


class InvalidDecision(JigsawError):
    """A resolution decision that cannot be recorded (unknown mention, no reason...)."""

    status = 422
