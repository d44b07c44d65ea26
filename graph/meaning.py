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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


def new_acknowledgement(
    *, subject: str, subject_kind: str, reader_id: str, agency: str, kind: str, text: str, at: str
) -> Acknowledgement:
    """An acknowledgement as given, checked (the kind, the words) and with a new id: what
    every backend stores."""
    if kind not in ACK_KINDS:
        raise InvalidAcknowledgement(f"use one of: {', '.join(ACK_KINDS)}", field="kind")
    words = _words(text, "text", required=kind == "query")
    return Acknowledgement(
        "K" + secrets.token_hex(6),
        subject,
        subject_kind,  # type: ignore[arg-type]
        reader_id,
        agency,
        kind,  # type: ignore[arg-type]
        words,
        at,
    )


def acknowledgement_subject(
    view: ReaderView, subject: str, kind: str, decision_for: Callable[[str], str | None]
) -> Literal["fragment", "share_decision"]:
    """What ``subject`` is, if ``view``'s reader may acknowledge it as ``kind``; otherwise
    the refusal every backend gives. ``decision_for(id)`` is the agency a share decision
    was made for (None: no such decision). A subject the reader may not read is NotFound,
    exactly as one that does not exist."""
    reader = view.reader
    if subject.startswith("D"):
        if kind == "confirmed_fact":
            raise InvalidAcknowledgement("only a fragment's author confirms it as fact", field="kind")
        if decision_for(subject) != reader.agency:
            raise NotFound("no such share decision made for your agency", field="subject")
        return "share_decision"
    doc = view.fragment(subject)
    if doc is None or doc.get("held_back"):
        raise NotFound("no such fragment, or none you may read", field="subject")
    own = doc["agency"]["id"] == reader.agency
    if kind == "confirmed_fact" and not own:
        raise InvalidAcknowledgement("only the agency that wrote it confirms it as fact", field="kind")
    if kind in ("understood", "query") and own:
        raise InvalidAcknowledgement(
            "your agency wrote this record: acknowledgements come from those who received it", field="kind"
        )
    return "fragment"


def acknowledgement_detail(ack: Acknowledgement) -> dict[str, Any]:
    """The ``acknowledgement.record`` audit entry's detail: ids and the kind, never the words."""
    detail: dict[str, Any] = {"acknowledgement": ack.id, "kind": ack.kind}
    if ack.subject_kind == "fragment":
        detail["fragments"] = [ack.subject]
    else:
        detail["decision"] = ack.subject
    return detail


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
    ack = new_acknowledgement(
        subject=subject, subject_kind=subject_kind, reader_id=reader_id, agency=agency, kind=kind, text=text, at=at
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


def outstanding_items(
    fragments: Iterable[tuple[str, str]],
    decisions: Mapping[str, str],
    acks: Iterable[Acknowledgement],
    significance: Mapping[str, str | None],
) -> list[Outstanding]:
    """What is outstanding, from what an agency sent: ``fragments`` (current fragment id,
    receiving agency) pairs, ``decisions`` (its share decision id -> the agency it
    answered), the acknowledgements of those subjects and each fragment's significance.
    A subject a receiving agency last said it understood is not outstanding."""
    stand = standing(acks)
    items = [(f, "fragment", a) for f, a in set(fragments)] + [(d, "share_decision", a) for d, a in decisions.items()]
    out = []
    for subject, kind, to in sorted(items):
        last = stand.get((subject, to))
        if last is not None and last.kind == "understood":
            continue
        out.append(
            Outstanding(
                subject,
                kind,  # type: ignore[arg-type]
                to,
                "query" if last is not None else "unacknowledged",
                significance.get(subject),
                last.text if last is not None else None,
                last.reader_id if last is not None else None,
            )
        )
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


@dataclass(frozen=True)
class CorrectionNotices:
    """Who is told of one correction or withdrawal: its notices, the agencies concerned
    (whose webhooks get a delivery) and the readers told."""

    notices: list[NoticeRecord]
    agencies: list[str]
    readers: list[str]

    def deliveries(self, hooked: Iterable[str]) -> list[dict[str, Any]]:
        """One pending delivery for each agency concerned that has an active webhook
        (``hooked``), due at once."""
        if not self.notices:
            return []
        n = self.notices[0]
        return [
            {
                "id": "W" + secrets.token_hex(8),
                "agency": a,
                "created_at": n.at,
                "kind": n.kind,
                "fragment_id": n.fragment_id,
                "by_agency": n.by_agency,
                "state": "pending",
                "attempts": 0,
                "next_at": n.at,
            }
            for a in sorted(set(hooked) & set(self.agencies))
        ]

    def detail(self, *, original: str, correction_id: str, kind: str, webhooks: int) -> dict[str, Any]:
        """The ``notice.create`` audit entry's detail: ids and counts."""
        return {
            "fragments": [original],
            "correction": correction_id,
            "kind": kind,
            "readers": self.readers,
            "agencies": self.agencies,
            "webhooks": webhooks,
        }


def correction_notices(
    *,
    at: str,
    earlier: Sequence[str],
    correction_id: str,
    kind: str,
    by_agency: str,
    actor: str,
    saw: Mapping[str, str],
    released_to: Iterable[str],
) -> CorrectionNotices:
    """Who is told of one correction or withdrawal of ``earlier[0]`` (``earlier``: it and
    its earlier versions): each reader in ``saw`` (reader id -> agency: those the audit
    records reading or being disclosed any version) but the one correcting it, who knows;
    and each agency a share decision released any version to (``released_to``) but the
    author's own."""
    original = earlier[0]
    readers = {rid: agency for rid, agency in saw.items() if rid != actor}
    shared = set(released_to) - {by_agency}
    notices = [
        NoticeRecord("N" + secrets.token_hex(8), at, kind, original, correction_id, by_agency, rid, agency, "read")  # type: ignore[arg-type]
        for rid, agency in sorted(readers.items())
    ]
    notices += [
        NoticeRecord("N" + secrets.token_hex(8), at, kind, original, correction_id, by_agency, None, agency, "shared")  # type: ignore[arg-type]
        for agency in sorted(shared)
    ]
    return CorrectionNotices(notices, sorted(set(readers.values()) | shared), sorted(readers))


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
    plan = correction_notices(
        at=at,
        earlier=earlier,
        correction_id=correction_id,
        kind=kind,
        by_agency=by_agency,
        actor=actor,
        saw=readers_who_saw(conn, earlier),
        released_to=agencies_released_to(conn, earlier),
    )
    conn.executemany(
        "INSERT INTO notices VALUES (?,?,?,?,?,?,?,?,?)", [tuple(n.__dict__.values())[:9] for n in plan.notices]
    )
    agencies = plan.agencies
    hooked = [
        a
        for (a,) in conn.execute(
            f"SELECT agency FROM webhooks WHERE active = 1 AND agency IN ({','.join('?' * len(agencies))})", agencies
        )
    ]
    rows = plan.deliveries(hooked)
    conn.executemany(
        "INSERT INTO webhook_outbox VALUES (?,?,?,?,?,?,?,?,?,NULL,NULL)", [tuple(r.values()) for r in rows]
    )
    return plan.detail(original=earlier[0], correction_id=correction_id, kind=kind, webhooks=len(rows))


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


def check_webhook(*, agency: str, url: str, secret: str) -> None:
    """Refuse a webhook that cannot be used, naming the field (every backend)."""
    if not agency.strip():
        raise InvalidAcknowledgement("name the agency", field="agency")
    if not url.startswith(("https://", "http://")) or len(url) > 2000:
        raise InvalidAcknowledgement("give an http(s) URL", field="url")
    if len(secret) < 24:
        raise InvalidAcknowledgement("use a secret of at least 24 characters (whsec_...)", field="secret")


def put_webhook(conn: sqlite3.Connection, *, agency: str, url: str, secret: str, active: bool, at: str) -> Webhook:
    check_webhook(agency=agency, url=url, secret=secret)
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


def later(at: str, seconds: float) -> str:
    """An instant of a store's clock, ``seconds`` later, in the clock's form.

    >>> later("2026-05-20T10:00:00.000000Z", 30)
    '2026-05-20T10:00:30.000000Z'
    """
    then = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return then.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


DELIVERY_ACTOR = "webhooks"  # whom the audit names for a delivery's final outcome


@dataclass(frozen=True)
class AttemptOutcome:
    """A delivery after one more attempt, as every backend writes it. ``next_at`` is None
    when it does not change (delivered)."""

    state: Literal["pending", "delivered", "dead"]
    attempts: int
    next_at: str | None
    last_error: str | None
    delivered_at: str | None

    @property
    def audited(self) -> bool:
        """Only a final outcome (delivered, dead) is audited (``notice.deliver``)."""
        return self.state != "pending"


def attempt_outcome(attempts: int, *, ok: bool, error: str | None, at: str) -> AttemptOutcome:
    """One more attempt, at ``at``, after ``attempts`` earlier ones: delivered, or retried
    ``backoff`` seconds later by the store's clock, or dead-lettered at ``MAX_ATTEMPTS``."""
    n = attempts + 1
    if ok:
        return AttemptOutcome("delivered", n, None, None, at)
    state: Literal["pending", "dead"] = "dead" if n >= MAX_ATTEMPTS else "pending"
    return AttemptOutcome(state, n, later(at, backoff(n)), (error or "failed")[:200], None)


def record_attempt(
    conn: sqlite3.Connection, delivery_id: str, *, ok: bool, error: str | None, at: str
) -> AttemptOutcome:
    """Record one attempt (NotFound for no such delivery); returns the outcome."""
    row = conn.execute("SELECT attempts FROM webhook_outbox WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        raise NotFound("no such delivery", field="delivery_id")
    o = attempt_outcome(row[0], ok=ok, error=error, at=at)
    conn.execute(
        "UPDATE webhook_outbox SET state = ?, attempts = ?, next_at = coalesce(?, next_at), last_error = ?, "
        "delivered_at = coalesce(?, delivered_at) WHERE id = ?",
        (o.state, o.attempts, o.next_at, o.last_error, o.delivered_at, delivery_id),
    )
    return o


def outbox(conn: sqlite3.Connection, agency: str | None = None) -> list[dict[str, Any]]:
    """The outbox as an administrator sees it: ids, states, attempts, errors."""
    sql = "SELECT id, agency, created_at, kind, state, attempts, next_at, last_error, delivered_at FROM webhook_outbox"
    cols = ("id", "agency", "created_at", "kind", "state", "attempts", "next_at", "last_error", "delivered_at")
    rows = conn.execute(
        sql + (" WHERE agency = ?" if agency else "") + " ORDER BY created_at, id", (agency,) if agency else ()
    )
    return [dict(zip(cols, r, strict=True)) for r in rows]
