"""The reviewers' resolution decisions, as rows of the store (SQLite).

Append-only, like the journal: a decision is never changed or deleted; an ``undo`` row
withdraws an earlier one. The projection applies the decisions in force
(``graph.resolution.active_decisions``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from graph.errors import InvalidDecision
from graph.resolution import ResolutionDecision

DECISIONS_DDL = """
CREATE TABLE IF NOT EXISTS resolution_decisions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('join', 'apart', 'undo')),
    a_fragment TEXT NOT NULL,
    a_mention INTEGER NOT NULL,
    b_fragment TEXT NOT NULL,
    b_mention INTEGER NOT NULL,
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    undoes INTEGER REFERENCES resolution_decisions(id),
    evidence TEXT
) STRICT;
CREATE TRIGGER IF NOT EXISTS resolution_decisions_no_update BEFORE UPDATE ON resolution_decisions
BEGIN SELECT RAISE(ABORT, 'resolution decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS resolution_decisions_no_delete BEFORE DELETE ON resolution_decisions
BEGIN SELECT RAISE(ABORT, 'resolution decisions are append-only'); END;
"""

_COLUMNS = "id, kind, a_fragment, a_mention, b_fragment, b_mention, reason, decided_by, decided_at, undoes, evidence"


def _row(r: tuple[Any, ...]) -> ResolutionDecision:
    return ResolutionDecision(
        id=r[0],
        kind=r[1],
        a=(r[2], r[3]),
        b=(r[4], r[5]),
        reason=r[6],
        decided_by=r[7],
        decided_at=r[8],
        undoes=r[9],
        evidence=orjson.loads(r[10]) if r[10] else None,
    )


def all_decisions(conn: sqlite3.Connection) -> list[ResolutionDecision]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM resolution_decisions ORDER BY id")]


def latest_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM resolution_decisions").fetchone()[0])


def get(conn: sqlite3.Connection, decision_id: int) -> ResolutionDecision | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM resolution_decisions WHERE id = ?", (decision_id,)).fetchone()
    return None if r is None else _row(r)


def undone(conn: sqlite3.Connection, decision_id: int) -> bool:
    return conn.execute("SELECT 1 FROM resolution_decisions WHERE undoes = ?", (decision_id,)).fetchone() is not None


def checked(kind: str, reason: str) -> str:
    """The reason a decision is recorded with, once its kind and reason are checked (every
    backend records decisions so)."""
    if kind not in ("join", "apart", "undo"):
        raise InvalidDecision("must be join, apart or undo", field="kind")
    if not reason.strip():
        raise InvalidDecision("a decision needs a reason", field="reason")
    return reason.strip()


def add(
    conn: sqlite3.Connection,
    *,
    kind: str,
    a: tuple[str, int],
    b: tuple[str, int],
    reason: str,
    by: str,
    at: str,
    undoes: int | None = None,
    evidence: dict[str, Any] | None = None,
) -> ResolutionDecision:
    reason = checked(kind, reason)
    cur = conn.execute(
        "INSERT INTO resolution_decisions (kind, a_fragment, a_mention, b_fragment, b_mention, reason,"
        " decided_by, decided_at, undoes, evidence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            a[0],
            a[1],
            b[0],
            b[1],
            reason,
            by,
            at,
            undoes,
            orjson.dumps(evidence).decode() if evidence is not None else None,
        ),
    )
    found = get(conn, int(cur.lastrowid or 0))
    assert found is not None
    return found
