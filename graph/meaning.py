"""Shared meaning: acknowledgements, correction notices and their webhook outbox.

Three records beside the journal, each written inside the caller's transaction with its
audit entry (like ``graph.registry``):

* an **acknowledgement** — a reader says a fragment or a share decision was *read and
  understood*, or raises a *query* about it in words; the author's agency can answer an
  opinion-or-hearsay flag on its own fragment with *confirmed_fact*. Kept for good.
* a **notice** — when a fragment is corrected or withdrawn, everyone the audit says read
  it (reads and disclosures naming its id, of it or any earlier version) and every agency
  it was released to by a share decision gets one. A notice holds ids only: which
  fragment, corrected or withdrawn, by which agency, when. What a reader is shown of it is
  decided when they look (``present``), by what they may see *then*.
* the **outbox** — one delivery per notice event per agency that registered a webhook,
  with its attempts, next attempt time and state (pending, delivered, dead); delivered by
  ``api.webhooks`` with retries and backoff.

Nothing here holds narrative.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from graph.errors import JigsawError, NotFound

if TYPE_CHECKING:
    from graph.view import ReaderView

MEANING_DDL = """
CREATE TABLE IF NOT EXISTS acknowledgements (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    reader_id TEXT NOT NULL REFERENCES readers(id),
    agency TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    at TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS acknowledgements_subject ON acknowledgements(subject, at);
CREATE TABLE IF NOT EXISTS notices (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    fragment_id TEXT NOT NULL,
    correction_id TEXT NOT NULL,
    by_agency TEXT NOT NULL,
    reader_id TEXT,
    agency TEXT NOT NULL,
    why TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS notices_reader ON notices(reader_id, at);
CREATE INDEX IF NOT EXISTS notices_agency ON notices(agency, at);
CREATE TABLE IF NOT EXISTS notice_reads (
    notice_id TEXT NOT NULL REFERENCES notices(id),
    reader_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (notice_id, reader_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhooks (
    agency TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    active INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    fragment_id TEXT NOT NULL,
    by_agency TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at TEXT NOT NULL,
    last_error TEXT,
    delivered_at TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(next_at) WHERE state = 'pending';
"""

ACK_KINDS = ("understood", "query", "confirmed_fact")
MAX_TEXT = 2_000
MAX_ATTEMPTS = 8
BACKOFF_FIRST = 30.0  # seconds before the second attempt; doubles each time
BACKOFF_CAP = 3600.0
LEASE = 120.0  # seconds a worker holds the deliveries it took (longer than one attempt's timeout)


class InvalidAcknowledgement(JigsawError):
    """An acknowledgement that cannot be recorded as given (names the field)."""

    status = 422


@dataclass(frozen=True)
class Acknowledgement:
    """A reader's word on a fragment or share decision: understood, a query, or (from the
    author's agency) confirmed as fact."""

    id: str
    subject: str
    subject_kind: Literal["fragment", "share_decision"]
    reader_id: str
    agency: str
    kind: Literal["understood", "query", "confirmed_fact"]
    text: str
    at: str


@dataclass(frozen=True)
class NoticeRecord:
    """A correction notice as stored: ids only. ``reader_id`` is None for a notice to a
    whole agency (one a share decision released the fragment to). ``read_at`` is when
    the asking reader marked it read."""

    id: str
    at: str
    kind: Literal["corrected", "retracted"]
    fragment_id: str
    correction_id: str
    by_agency: str
    reader_id: str | None
    agency: str
    why: Literal["read", "shared"]
    read_at: str | None = None


@dataclass(frozen=True)
class Notice:
    """A notice as its reader is shown it, decided by what they may see now.

    ``fragment_id`` and ``link`` are None when the reader may no longer know the record
    exists; ``correction_id`` is None unless they may read the new version."""

    id: str
    at: str
    kind: str
    by_agency: str
    message: str
    read: bool
    fragment_id: str | None
    correction_id: str | None
    link: str | None


@dataclass(frozen=True)
class Outstanding:
    """Something an agency sent (a fragment it wrote, a share decision it made) that a
    receiving agency has not acknowledged as understood; ``status`` is ``unacknowledged``
    or ``query`` (an open query, with its words)."""

    subject: str
    subject_kind: Literal["fragment", "share_decision"]
    to_agency: str
    status: Literal["unacknowledged", "query"]
    significance: str | None
    query: str | None = None
    query_by: str | None = None


@dataclass(frozen=True)
class Webhook:
    agency: str
    url: str
    active: bool
    updated_at: str


@dataclass(frozen=True)
class Delivery:
    """One pending webhook delivery, with what it needs to be sent."""

    id: str
    agency: str
    url: str
    secret: str
    created_at: str
    kind: str
    fragment_id: str
    by_agency: str
    attempts: int


def _words(text: str, field: str, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise InvalidAcknowledgement("required: say it in words", field=field)
    if len(text) > MAX_TEXT:
        raise InvalidAcknowledgement(f"too long (at most {MAX_TEXT:,} characters)", field=field)
    return text


def add_acknowledgement(
    conn: sqlite3.Connection,
    *,
    subject: str,
    subject_kind: str,
    reader_id: str,
    agency: str,
    kind: str,
    text: str,
    at: str,
) -> Acknowledgement:
    if kind not in ACK_KINDS:
        raise InvalidAcknowledgement(f"use one of: {', '.join(ACK_KINDS)}", field="kind")
    words = _words(text, "text", required=kind == "query")
    ack = Acknowledgement(
        "K" + secrets.token_hex(6),
        subject,
        subject_kind,  # type: ignore[arg-type]
        reader_id,
        agency,
        kind,  # type: ignore[arg-type]
        words,
        at,
    )
    conn.execute("INSERT INTO acknowledgements VALUES (?,?,?,?,?,?,?,?)", tuple(ack.__dict__.values()))
    return ack


def acknowledgements(conn: sqlite3.Connection, subjects: Sequence[str]) -> list[Acknowledgement]:
    out: list[Acknowledgement] = []
    for k in range(0, len(subjects), 500):
        chunk = list(subjects[k : k + 500])
        rows = conn.execute(
            f"SELECT * FROM acknowledgements WHERE subject IN ({','.join('?' * len(chunk))}) ORDER BY at, id", chunk
        )
        out += [Acknowledgement(*r) for r in rows]
    return sorted(out, key=lambda a: (a.at, a.id))


def standing(acks: Iterable[Acknowledgement]) -> dict[tuple[str, str], Acknowledgement]:
    """Each (subject, agency)'s latest understood-or-query acknowledgement: a query
    stays open until someone of that agency says understood after it."""
    out: dict[tuple[str, str], Acknowledgement] = {}
    for a in sorted(acks, key=lambda a: (a.at, a.id)):
        if a.kind in ("understood", "query"):
            out[(a.subject, a.agency)] = a
    return out


# ---------------------------------------------------------------------- who saw, who received


def readers_who_saw(conn: sqlite3.Connection, fragment_ids: Sequence[str]) -> dict[str, str]:
    """Reader id -> agency of everyone the audit records reading or being disclosed any
    of these fragments (reads and exports name the fragment ids they showed)."""
    if not fragment_ids:
        return {}
    marks = ",".join("?" * len(fragment_ids))
    rows = conn.execute(
        "SELECT DISTINCT a.actor, r.agency FROM audit_fragments af JOIN audit a ON a.seq = af.audit_seq "
        f"JOIN readers r ON r.id = a.actor WHERE af.fragment_id IN ({marks}) "
        "AND (a.action LIKE 'read.%' OR a.action LIKE 'disclosure.%')",
        list(fragment_ids),
    )
    return dict(rows.fetchall())


def agencies_released_to(conn: sqlite3.Connection, fragment_ids: Sequence[str]) -> set[str]:
    """Agencies a share decision released any of these fragments to (revoked or not:
    they received it)."""
    if not fragment_ids:
        return set()
    marks = ",".join("?" * len(fragment_ids))
    return {
        a
        for (a,) in conn.execute(
            f"SELECT DISTINCT agency FROM grants WHERE fragment_id IN ({marks})", list(fragment_ids)
        )
    }


def notify_correction(
    conn: sqlite3.Connection,
    *,
    at: str,
    earlier: Sequence[str],
    correction_id: str,
    kind: str,
    by_agency: str,
    actor: str,
) -> dict[str, Any]:
    """Write the notices for one correction or withdrawal of ``earlier[0]`` (``earlier``:
    it and its earlier versions), and the webhook deliveries for the agencies concerned.
    Returns what the audit entry records (ids and counts)."""
    original = earlier[0]
    saw = readers_who_saw(conn, earlier)
    saw.pop(actor, None)  # the one correcting it knows
    shared = agencies_released_to(conn, earlier) - {by_agency}
    rows: list[tuple[str, str, str, str, str, str, str | None, str, str]] = []
    for rid, agency in sorted(saw.items()):
        rows.append(("N" + secrets.token_hex(8), at, kind, original, correction_id, by_agency, rid, agency, "read"))
    for agency in sorted(shared):
        rows.append(("N" + secrets.token_hex(8), at, kind, original, correction_id, by_agency, None, agency, "shared"))
    conn.executemany("INSERT INTO notices VALUES (?,?,?,?,?,?,?,?,?)", rows)
    agencies = sorted(set(saw.values()) | shared)
    hooked = {
        a
        for (a,) in conn.execute(
            f"SELECT agency FROM webhooks WHERE active = 1 AND agency IN ({','.join('?' * len(agencies))})", agencies
        )
    }
    conn.executemany(
        "INSERT INTO webhook_outbox VALUES (?,?,?,?,?,?,'pending',0,?,NULL,NULL)",
        [("W" + secrets.token_hex(8), a, at, kind, original, by_agency, at) for a in sorted(hooked)],
    )
    return {
        "fragments": [original],
        "correction": correction_id,
        "kind": kind,
        "readers": sorted(saw),
        "agencies": agencies,
        "webhooks": len(hooked),
    }


def notices_for(conn: sqlite3.Connection, reader_id: str, agency: str, *, limit: int = 500) -> list[NoticeRecord]:
    """A reader's notices, newest first: their own, and their agency's (from shares)."""
    rows = conn.execute(
        "SELECT n.*, r.at FROM notices n LEFT JOIN notice_reads r ON r.notice_id = n.id AND r.reader_id = ? "
        "WHERE n.reader_id = ? OR (n.reader_id IS NULL AND n.agency = ?) ORDER BY n.at DESC, n.id LIMIT ?",
        (reader_id, reader_id, agency, limit),
    )
    return [NoticeRecord(*r) for r in rows]


def mark_read(conn: sqlite3.Connection, reader_id: str, agency: str, notice_id: str, *, at: str) -> None:
    row = conn.execute(
        "SELECT 1 FROM notices WHERE id = ? AND (reader_id = ? OR (reader_id IS NULL AND agency = ?))",
        (notice_id, reader_id, agency),
    ).fetchone()
    if row is None:
        raise NotFound("no such notice of yours", field="notice_id")
    conn.execute("INSERT OR IGNORE INTO notice_reads VALUES (?,?,?)", (notice_id, reader_id, at))


def present(view: ReaderView, rec: NoticeRecord) -> Notice:
    """What this reader is shown of a notice, by what they may see now.

    * may read the earlier record: its id, the link to it, and the new version's id if
      they may read that too;
    * may know it exists only (a placeholder): its id and whom to ask;
    * may no longer know it exists: "an item you saw has been corrected; ask <agency>",
      with no id and no link.
    """
    word = "withdrawn" if rec.kind == "retracted" else "corrected"
    who = rec.by_agency
    shown = view.fragment(rec.fragment_id)
    fid: str | None = None
    cid: str | None = None
    link: str | None = None
    if shown is None:
        msg = f"An item you saw earlier has been {word} by {who}. Ask {who} if you still need it."
    elif shown.get("held_back"):
        fid = rec.fragment_id
        msg = f"A record held by {who} that you saw has been {word}. Ask {who} if you need to know more."
    else:
        fid = rec.fragment_id
        link = f"/fragments/{rec.fragment_id}"
        new = view.fragment(rec.correction_id) if rec.kind == "corrected" else None
        if new is not None and not new.get("held_back"):
            cid = rec.correction_id
            msg = f"A record you saw has been {word} by {who}: read the new version."
        elif rec.kind == "retracted":
            msg = f"A record you saw has been {word} by {who}: do not rely on it."
        else:
            msg = f"A record you saw has been {word} by {who}. Ask {who} for the new version."
    return Notice(rec.id, rec.at, rec.kind, who, msg, rec.read_at is not None, fid, cid, link)


# ---------------------------------------------------------------------- webhooks


def put_webhook(conn: sqlite3.Connection, *, agency: str, url: str, secret: str, active: bool, at: str) -> Webhook:
    if not agency.strip():
        raise InvalidAcknowledgement("name the agency", field="agency")
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise InvalidAcknowledgement("give an http(s) URL", field="url")
    if len(secret) < 24:
        raise InvalidAcknowledgement("use a secret of at least 24 characters (whsec_...)", field="secret")
    conn.execute(
        "INSERT INTO webhooks VALUES (?,?,?,?,?) ON CONFLICT(agency) DO UPDATE SET url=excluded.url, "
        "secret=excluded.secret, active=excluded.active, updated_at=excluded.updated_at",
        (agency, url, secret, int(active), at),
    )
    return Webhook(agency, url, active, at)


def webhooks(conn: sqlite3.Connection) -> list[Webhook]:
    return [
        Webhook(a, u, bool(on), at)
        for a, u, on, at in conn.execute("SELECT agency, url, active, updated_at FROM webhooks ORDER BY agency")
    ]


def due(conn: sqlite3.Connection, now: str, limit: int = 100) -> list[Delivery]:
    rows = conn.execute(
        "SELECT o.id, o.agency, w.url, w.secret, o.created_at, o.kind, o.fragment_id, o.by_agency, o.attempts "
        "FROM webhook_outbox o JOIN webhooks w ON w.agency = o.agency "
        "WHERE o.state = 'pending' AND o.next_at <= ? AND w.active = 1 ORDER BY o.next_at, o.id LIMIT ?",
        (now, limit),
    )
    return [Delivery(*r) for r in rows]


def backoff(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed attempts: 30 s, 60 s, 120 s … up to an hour."""
    return float(min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


def record_attempt(
    conn: sqlite3.Connection, delivery_id: str, *, ok: bool, error: str | None, at: str, next_at: str
) -> str:
    """Record one attempt; returns the delivery's new state."""
    row = conn.execute("SELECT attempts, state FROM webhook_outbox WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        raise NotFound("no such delivery", field="delivery_id")
    attempts = row[0] + 1
    if ok:
        state = "delivered"
        conn.execute(
            "UPDATE webhook_outbox SET state = ?, attempts = ?, delivered_at = ?, last_error = NULL WHERE id = ?",
            (state, attempts, at, delivery_id),
        )
    else:
        state = "dead" if attempts >= MAX_ATTEMPTS else "pending"
        conn.execute(
            "UPDATE webhook_outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
            (state, attempts, next_at, (error or "failed")[:200], delivery_id),
        )
    return state


def outbox(conn: sqlite3.Connection, agency: str | None = None) -> list[dict[str, Any]]:
    """The outbox as an administrator sees it: ids, states, attempts, errors."""
    sql = "SELECT id, agency, created_at, kind, state, attempts, next_at, last_error, delivered_at FROM webhook_outbox"
    cols = ("id", "agency", "created_at", "kind", "state", "attempts", "next_at", "last_error", "delivered_at")
    rows = conn.execute(
        sql + (" WHERE agency = ?" if agency else "") + " ORDER BY created_at, id", (agency,) if agency else ()
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]
