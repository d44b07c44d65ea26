"""The ingest pipeline: read -> validate and normalise -> journal (durable) -> projection.

``import_files`` is what ``jigsaw ingest`` runs. By default good rows go in and bad rows
go to a rejects file with their errors; with ``strict`` a file goes in whole or not at
all. Either way no fragment is ever half-applied: the store journals whole documents in
one transaction per batch, and a row with any error is not journalled at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from graph.store import Store
from ingest.glossary import Glossary
from ingest.meaning import warnings_for
from ingest.readers import Row, csv_column_for, read_file
from ingest.validate import FieldError, check_fragment

BATCH = 2_000
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RowError:
    """A rejected row: the file, the line, the field (or CSV column) and the reason."""

    source: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class RowWarning:
    """Something for the author to check in an imported row (never a rejection): an
    ambiguous or unknown term, or a fact that reads as opinion or hearsay."""

    source: str
    line: int
    field: str
    code: str
    words: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.field}: {self.message}"


@dataclass
class ImportSummary:
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    not_written: int = 0  # good rows left out because strict mode found a bad one
    errors: list[RowError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[RowWarning] = field(default_factory=list)

    def add(self, other: ImportSummary) -> None:
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.not_written += other.not_written
        self.errors.extend(other.errors)
        self.files.extend(other.files)
        self.warnings.extend(other.warnings)


def _row_errors(row: Row, errors: Iterable[FieldError]) -> list[RowError]:
    is_csv = row.source.lower().endswith(".csv")
    return [RowError(row.source, row.line, csv_column_for(e.field) if is_csv else e.field, e.reason) for e in errors]


class _Rejects:
    """Writes rejected rows, with their errors, as JSON Lines (opened on first use)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: IO[bytes] | None = None

    def write(self, row: Row, errors: list[RowError]) -> None:
        if self.path is None:
            return
        if self._fh is None:
            self._fh = self.path.open("ab")
        rec = {
            "source": row.source,
            "line": row.line,
            "errors": [{"field": e.field, "reason": e.reason} for e in errors],
            "row": row.raw if row.raw is not None else row.text,
        }
        self._fh.write(orjson.dumps(rec) + b"\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def import_rows(
    store: Store,
    rows: Iterable[Row],
    *,
    strict: bool = False,
    now: datetime | None = None,
    rejects: _Rejects | None = None,
    progress: Progress | None = None,
    batch: int = BATCH,
    markings: dict[str, Any] | None = None,
    actor: str = "import",
    glossary: Glossary | None = None,
) -> ImportSummary:
    """Validate rows and journal the good ones; see the module docstring for the modes.

    ``markings`` are given to every row that carries none of its own (set on import by
    the administrator who knows how the sending agency wants them read); ``actor`` is
    who the audit says wrote them. Each accepted row's warnings (``ingest.meaning``,
    against ``glossary``, default the shipped one) go into the summary.
    """
    now = now or datetime.now(UTC)
    summary = ImportSummary()
    pending: list[tuple[Row, dict[str, Any]]] = []
    rejected_rows: list[tuple[Row, list[RowError]]] = []

    def flush() -> None:
        if not pending:
            return
        outcomes = store.append([doc for _, doc in pending], all_or_nothing=strict, actor=actor)
        for (row, doc), out in zip(pending, outcomes, strict=True):
            if out.status == "accepted":
                summary.accepted += 1
                summary.warnings.extend(
                    RowWarning(row.source, row.line, w.field, w.code, w.words, w.message)
                    for w in warnings_for(doc, glossary)
                )
            elif out.status == "duplicate":
                summary.duplicate += 1
            elif out.status == "not_written":
                summary.not_written += 1
            else:
                errs = [RowError(row.source, row.line, out.field or "(fragment)", out.reason or "rejected")]
                rejected_rows.append((row, errs))
        pending.clear()
        if progress:
            progress(len(outcomes))

    for row in rows:
        if row.errors or row.raw is None:
            rejected_rows.append((row, _row_errors(row, row.errors)))
            continue
        raw = row.raw
        if markings and isinstance(raw, dict) and "markings" not in raw:
            raw = {**raw, "markings": markings}
        doc, errors = check_fragment(raw, now=now)
        if errors or doc is None:
            rejected_rows.append((row, _row_errors(row, errors)))
            continue
        pending.append((row, doc))
        if not strict and len(pending) >= batch:
            flush()
    if strict and rejected_rows:
        # Whole file or nothing: something was wrong, so nothing is journalled.
        summary.not_written += len(pending)
        pending.clear()
    flush()
    for row, errs in rejected_rows:
        summary.rejected += 1
        summary.errors.extend(errs)
        if rejects is not None:
            rejects.write(row, errs)
    return summary


def import_files(
    store: Store,
    paths: Iterable[str | Path],
    *,
    strict: bool = False,
    rejects_path: str | Path | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
    csv_defaults: dict[str, str] | None = None,
    markings: dict[str, Any] | None = None,
    actor: str = "import",
    glossary: Glossary | None = None,
) -> ImportSummary:
    """Import each file in turn (``strict`` applies per file)."""
    total = ImportSummary()
    rejects = _Rejects(Path(rejects_path) if rejects_path else None)
    try:
        for path in paths:
            s = import_rows(
                store,
                read_file(path, csv_defaults),
                strict=strict,
                now=now,
                rejects=rejects,
                progress=progress,
                markings=markings,
                actor=actor,
                glossary=glossary,
            )
            s.files.append(str(path))
            total.add(s)
    finally:
        rejects.close()
    return total


def import_docs(
    store: Store,
    raws: Iterable[dict[str, Any]],
    *,
    strict: bool = False,
    now: datetime | None = None,
    source: str = "(api)",
) -> ImportSummary:
    """Import raw fragments already parsed (the API and tests use this)."""
    rows = (Row(source, i, raw) for i, raw in enumerate(raws, start=1))
    return import_rows(store, rows, strict=strict, now=now)
