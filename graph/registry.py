"""Readers, cases, access tokens and share decisions: the records access is decided on.

These live in the store beside the journal (SQLite tables here), are read afresh for
every request, and are changed only through these functions, each inside the caller's
transaction together with its audit entry. Nothing here holds case narrative: readers are
ids, agencies, roles and clearances; a case names its child by a person id; a share
decision holds reasons and the ids of what was released.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from graph.access import Clearance, Purpose, Reader, Role
from graph.audit import normalise_time
from graph.errors import JigsawError, NotFound

REGISTRY_DDL = """
CREATE TABLE IF NOT EXISTS readers (
    id TEXT PRIMARY KEY,
    agency TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    roles TEXT NOT NULL,
    clearances TEXT NOT NULL,
    active INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    fragment_id TEXT NOT NULL,
    mention INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    opened_by TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS memberships (
    reader_id TEXT NOT NULL REFERENCES readers(id),
    case_id TEXT NOT NULL REFERENCES cases(id),
    PRIMARY KEY (reader_id, case_id)
) STRICT;
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    reader_id TEXT NOT NULL REFERENCES readers(id),
    hash BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS share_requests (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    requester TEXT NOT NULL REFERENCES readers(id),
    agency TEXT NOT NULL,
    holder_agency TEXT NOT NULL,
    person_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    need TEXT NOT NULL,
    urgency TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS share_decisions (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES share_requests(id),
    reconsiders TEXT REFERENCES share_decisions(id),
    at TEXT NOT NULL,
    decided_by TEXT NOT NULL REFERENCES readers(id),
    outcome TEXT NOT NULL,
    necessity TEXT NOT NULL,
    proportionality TEXT NOT NULL,
    lawful_basis TEXT NOT NULL,
    special_condition TEXT,
    released TEXT NOT NULL,
    released_digest TEXT NOT NULL,
    family_told INTEGER NOT NULL,
    family_not_told_reason TEXT,
    expires_at TEXT,
    requester_told_at TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS grants (
    decision_id TEXT NOT NULL REFERENCES share_decisions(id),
    agency TEXT NOT NULL,
    fragment_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    PRIMARY KEY (agency, fragment_id, decision_id)
) STRICT;
"""

OUTCOMES = ("share_in_full", "share_in_part", "do_not_share")
URGENCIES = ("immediate", "within_24_hours", "routine")


class InvalidRecord(JigsawError):
    """A reader, case or decision that cannot be recorded as given (names the field)."""

    status = 422


def _json(items: Iterable[str]) -> str:
    return orjson.dumps(sorted(items)).decode()


def _members(kind: type[StrEnum], raw: Iterable[str], field: str) -> frozenset[Any]:
    """The values of an enum named in ``raw``, or an error naming the field and the choices."""
    try:
        return frozenset(kind(x) for x in raw)
    except ValueError:
        raise InvalidRecord(
            f"unknown {field[:-1]}; use one of: {', '.join(k.value for k in kind)}", field=field
        ) from None


def _roles(raw: Iterable[str]) -> frozenset[Role]:
    return _members(Role, raw, "roles")


def _clearances(raw: Iterable[str]) -> frozenset[Clearance]:
    return _members(Clearance, raw, "clearances")


def parse_purpose(raw: str) -> Purpose:
    try:
        return Purpose(raw)
    except ValueError:
        raise InvalidRecord(f"unknown purpose; use one of: {', '.join(Purpose)}", field="purpose") from None


def check_reader(
    reader_id: str, agency: str, roles: Iterable[str], clearances: Iterable[str]
) -> tuple[frozenset[Role], frozenset[Clearance]]:
    """A reader's id and agency present, and their roles and clearances known (every backend)."""
    if not reader_id.strip():
        raise InvalidRecord("a reader needs an id", field="reader_id")
    if not agency.strip():
        raise InvalidRecord("a reader needs an agency", field="agency")
    return _roles(roles), _clearances(clearances)


def put_reader(
    conn: sqlite3.Connection,
    *,
    reader_id: str,
    agency: str,
    roles: Iterable[str],
    clearances: Iterable[str] = (),
    display_name: str = "",
    active: bool = True,
    at: str,
) -> Reader:
    """Add a reader or change one (roles, clearances, agency, active)."""
    r, c = check_reader(reader_id, agency, roles, clearances)
    conn.execute(
        "INSERT INTO readers VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET agency=excluded.agency, "
        "display_name=excluded.display_name, roles=excluded.roles, clearances=excluded.clearances, "
        "active=excluded.active, updated_at=excluded.updated_at",
        (reader_id, agency, display_name, _json(r), _json(c), int(active), at),
    )
    return get_reader(conn, reader_id)


def get_reader(conn: sqlite3.Connection, reader_id: str) -> Reader:
    row = conn.execute(
        "SELECT id, agency, roles, clearances, active, display_name FROM readers WHERE id = ?", (reader_id,)
    ).fetchone()
    if row is None:
        raise NotFound("no such reader", field="reader_id")
    cases = frozenset(c for (c,) in conn.execute("SELECT case_id FROM memberships WHERE reader_id = ?", (reader_id,)))
    return Reader(
        id=row[0],
        agency=row[1],
        roles=_roles(orjson.loads(row[2])),
        cases=cases,
        clearances=_clearances(orjson.loads(row[3])),
        active=bool(row[4]),
        display_name=row[5],
    )


def set_active(conn: sqlite3.Connection, reader_id: str, active: bool, *, at: str) -> None:
    """Let a reader see again, or stop them seeing anything, keeping everything else."""
    get_reader(conn, reader_id)
    conn.execute("UPDATE readers SET active = ?, updated_at = ? WHERE id = ?", (int(active), at, reader_id))


def list_readers(conn: sqlite3.Connection) -> list[Reader]:
    return [get_reader(conn, rid) for (rid,) in conn.execute("SELECT id FROM readers ORDER BY id")]


def open_case(conn: sqlite3.Connection, *, case_id: str, fragment_id: str, mention: int, at: str, by: str) -> None:
    """Open a child's case, naming the child by one of their mentions (a person id)."""
    if not case_id.strip():
        raise InvalidRecord("a case needs an id", field="case_id")
    if conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone():
        raise InvalidRecord("a case with this id is already open", field="case_id")
    conn.execute("INSERT INTO cases VALUES (?,?,?,?,?)", (case_id, fragment_id, mention, at, by))


def cases(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
    return list(conn.execute("SELECT id, fragment_id, mention FROM cases ORDER BY id"))


def set_membership(conn: sqlite3.Connection, reader_id: str, case_id: str, member: bool) -> None:
    get_reader(conn, reader_id)
    if not conn.execute("SELECT 1 FROM cases WHERE id = ?", (case_id,)).fetchone():
        raise NotFound("no such case", field="case_id")
    if member:
        conn.execute("INSERT OR IGNORE INTO memberships VALUES (?, ?)", (reader_id, case_id))
    else:
        conn.execute("DELETE FROM memberships WHERE reader_id = ? AND case_id = ?", (reader_id, case_id))


# ---------------------------------------------------------------------- tokens


def token_hash(token: str) -> bytes:
    """Tokens are long random strings: a plain SHA-256 is the right hash (no salt or
    stretching needed, unlike passwords), and only this is stored."""
    return hashlib.sha256(token.encode()).digest()


def issue_token(conn: sqlite3.Connection, reader_id: str, *, at: str, expires_at: str | None = None) -> tuple[str, str]:
    """A new bearer token for a reader: returns (token id, the token). The token itself
    is shown once and never stored."""
    get_reader(conn, reader_id)
    expires_at = _instant(expires_at, "expires_at")
    token = "jgs_" + secrets.token_urlsafe(32)
    tid = "T" + secrets.token_hex(6)
    conn.execute("INSERT INTO tokens VALUES (?,?,?,?,?,NULL)", (tid, reader_id, token_hash(token), at, expires_at))
    return tid, token


def revoke_token(conn: sqlite3.Connection, token_id: str, *, at: str) -> str:
    row = conn.execute("SELECT reader_id FROM tokens WHERE id = ?", (token_id,)).fetchone()
    if row is None:
        raise NotFound("no such token", field="token_id")
    conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (at, token_id))
    return str(row[0])


@dataclass(frozen=True)
class TokenInfo:
    """What an administrator may know of a token: never the token or its hash."""

    id: str
    reader_id: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None


def list_tokens(conn: sqlite3.Connection, reader_id: str | None = None) -> list[TokenInfo]:
    sql = "SELECT id, reader_id, created_at, expires_at, revoked_at FROM tokens"
    if reader_id is None:
        return [TokenInfo(*r) for r in conn.execute(sql + " ORDER BY created_at, id")]
    return [TokenInfo(*r) for r in conn.execute(sql + " WHERE reader_id = ? ORDER BY created_at, id", (reader_id,))]


def reader_for_token(conn: sqlite3.Connection, token: str, *, now: str) -> str | None:
    row = conn.execute(
        "SELECT reader_id FROM tokens WHERE hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)",
        (token_hash(token), now),
    ).fetchone()
    return None if row is None else str(row[0])


# ---------------------------------------------------------------------- share decisions


@dataclass(frozen=True)
class ShareRequest:
    id: str
    at: str
    requester: str
    agency: str
    holder_agency: str
    person_id: str
    purpose: str
    need: str
    urgency: str


@dataclass(frozen=True)
class ShareDecision:
    id: str
    request_id: str
    reconsiders: str | None
    at: str
    decided_by: str
    outcome: str
    necessity: str
    proportionality: str
    lawful_basis: str
    special_condition: str | None
    released: list[str]
    released_digest: str
    family_told: bool
    family_not_told_reason: str | None
    expires_at: str | None
    requester_told_at: str | None


def _instant(value: str | None, field: str) -> str | None:
    """An expiry as one comparable form (UTC, fixed width), or a clear error."""
    if value is None:
        return None
    try:
        return normalise_time(value)
    except ValueError:
        raise InvalidRecord("give a date and time with its zone, e.g. 2027-02-01T00:00:00Z", field=field) from None


def _need(value: str, field: str) -> str:
    if not value or not value.strip():
        raise InvalidRecord("required: say it in words", field=field)
    if len(value) > 2000:
        raise InvalidRecord("too long (at most 2,000 characters)", field=field)
    return value.strip()


def new_request(
    *, requester: Reader, holder_agency: str, person_id: str, purpose: str, need: str, urgency: str, at: str
) -> ShareRequest:
    """A checked request for information, not yet stored (every backend builds it so)."""
    parse_purpose(purpose)
    if urgency not in URGENCIES:
        raise InvalidRecord(f"use one of: {', '.join(URGENCIES)}", field="urgency")
    return ShareRequest(
        "R" + secrets.token_hex(6),
        at,
        requester.id,
        requester.agency,
        _need(holder_agency, "holder_agency"),
        _need(person_id, "person_id"),
        purpose,
        _need(need, "need"),
        urgency,
    )


def request_info(
    conn: sqlite3.Connection,
    *,
    requester: Reader,
    holder_agency: str,
    person_id: str,
    purpose: str,
    need: str,
    urgency: str,
    at: str,
) -> ShareRequest:
    """Record a request for information from one agency to another."""
    req = new_request(
        requester=requester,
        holder_agency=holder_agency,
        person_id=person_id,
        purpose=purpose,
        need=need,
        urgency=urgency,
        at=at,
    )
    conn.execute("INSERT INTO share_requests VALUES (?,?,?,?,?,?,?,?,?)", tuple(req.__dict__.values()))
    return req


def get_request(conn: sqlite3.Connection, request_id: str) -> ShareRequest:
    row = conn.execute("SELECT * FROM share_requests WHERE id = ?", (request_id,)).fetchone()
    if row is None:
        raise NotFound("no such request", field="request_id")
    return ShareRequest(*row)


def requests_for(conn: sqlite3.Connection, agency: str) -> list[ShareRequest]:
    """Requests an agency made or was asked, oldest first."""
    rows = conn.execute(
        "SELECT * FROM share_requests WHERE agency = ? OR holder_agency = ? ORDER BY at, id", (agency, agency)
    )
    return [ShareRequest(*r) for r in rows]


def new_decision(
    *,
    request: ShareRequest,
    decided_by: Reader,
    outcome: str,
    necessity: str,
    proportionality: str,
    lawful_basis: str,
    special_condition: str | None,
    released: list[tuple[str, str]],
    released_digest: str,
    family_told: bool,
    family_not_told_reason: str | None,
    expires_at: str | None,
    reconsiders: str | None,
    reconsiders_of: str | None,
    at: str,
) -> ShareDecision:
    """A checked share decision, not yet stored (every backend builds it so).
    ``reconsiders_of`` is the request the reconsidered decision answered (None if there
    is no such decision)."""
    if outcome not in OUTCOMES:
        raise InvalidRecord(f"use one of: {', '.join(OUTCOMES)}", field="outcome")
    expires = _instant(expires_at, "expires_at")
    if outcome == "do_not_share" and released:
        raise InvalidRecord("a decision not to share releases nothing", field="released")
    if outcome != "do_not_share" and not released:
        raise InvalidRecord("say exactly which fragments are released", field="released")
    if not family_told and not (family_not_told_reason or "").strip():
        raise InvalidRecord("say why the family was not told", field="family_not_told_reason")
    for _fid, agency in released:
        if agency != decided_by.agency:
            raise InvalidRecord("only the holding agency may release a fragment", field="released")
    if reconsiders is not None and reconsiders_of != request.id:
        raise InvalidRecord("names no earlier decision on this request", field="reconsiders")
    return ShareDecision(
        "D" + secrets.token_hex(6),
        request.id,
        reconsiders,
        at,
        decided_by.id,
        outcome,
        _need(necessity, "necessity"),
        _need(proportionality, "proportionality"),
        _need(lawful_basis, "lawful_basis"),
        special_condition,
        sorted(fid for fid, _ in released),
        released_digest,
        family_told,
        family_not_told_reason,
        expires,
        at,  # the requester is told of every decision, including a decision not to share
    )


def decide_share(
    conn: sqlite3.Connection,
    *,
    request: ShareRequest,
    decided_by: Reader,
    outcome: str,
    necessity: str,
    proportionality: str,
    lawful_basis: str,
    special_condition: str | None,
    released: list[tuple[str, str]],
    released_digest: str,
    family_told: bool,
    family_not_told_reason: str | None,
    expires_at: str | None,
    reconsiders: str | None,
    at: str,
) -> ShareDecision:
    """Record a decision on a request. ``released`` is (fragment id, holding agency) for
    exactly what is released; each becomes a grant to the requester's agency for the
    request's purpose. A reconsideration revokes the grants of the decision it replaces."""
    reconsiders_of = None
    if reconsiders is not None:
        row = conn.execute("SELECT request_id FROM share_decisions WHERE id = ?", (reconsiders,)).fetchone()
        reconsiders_of = None if row is None else row[0]
    dec = new_decision(
        request=request,
        decided_by=decided_by,
        outcome=outcome,
        necessity=necessity,
        proportionality=proportionality,
        lawful_basis=lawful_basis,
        special_condition=special_condition,
        released=released,
        released_digest=released_digest,
        family_told=family_told,
        family_not_told_reason=family_not_told_reason,
        expires_at=expires_at,
        reconsiders=reconsiders,
        reconsiders_of=reconsiders_of,
        at=at,
    )
    if reconsiders is not None:
        conn.execute("UPDATE grants SET revoked_at = ? WHERE decision_id = ? AND revoked_at IS NULL", (at, reconsiders))
    values: list[Any] = list(dec.__dict__.values())
    values[10] = _json(values[10])
    values[12] = int(values[12])
    conn.execute("INSERT INTO share_decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
    conn.executemany(
        "INSERT INTO grants VALUES (?,?,?,?,?,NULL)",
        [(dec.id, request.agency, fid, request.purpose, dec.expires_at) for fid in dec.released],
    )
    return dec


def decisions(conn: sqlite3.Connection, request_id: str | None = None) -> list[ShareDecision]:
    sql = "SELECT * FROM share_decisions" + (" WHERE request_id = ?" if request_id else "") + " ORDER BY at, id"
    out = []
    for row in conn.execute(sql, (request_id,) if request_id else ()):
        r = list(row)
        r[10] = orjson.loads(r[10])
        r[12] = bool(r[12])
        out.append(ShareDecision(*r))
    return out


def live_grants(conn: sqlite3.Connection) -> list[tuple[str, str, str, str | None]]:
    """(agency, fragment id, purpose, expires_at) of every grant not revoked."""
    return list(conn.execute("SELECT agency, fragment_id, purpose, expires_at FROM grants WHERE revoked_at IS NULL"))


def restore_shares(conn: sqlite3.Connection, requests: list[ShareRequest], decisions_: list[ShareDecision]) -> None:
    """Put share requests and decisions moved from another store back exactly as they
    were (ids, times, reasons), with their grants: each decision grants what it released
    to the requester's agency for the request's purpose, revoked when a later decision
    reconsidered it (inside the caller's transaction)."""
    by_id = {r.id: r for r in requests}
    revoked = {d.reconsiders: d.at for d in decisions_ if d.reconsiders}
    for r in requests:
        conn.execute("INSERT INTO share_requests VALUES (?,?,?,?,?,?,?,?,?)", tuple(r.__dict__.values()))
    for d in sorted(decisions_, key=lambda d: (d.at, d.id)):
        values: list[Any] = list(d.__dict__.values())
        values[10] = _json(values[10])
        values[12] = int(values[12])
        conn.execute("INSERT INTO share_decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", values)
        req = by_id[d.request_id]
        conn.executemany(
            "INSERT INTO grants VALUES (?,?,?,?,?,?)",
            [(d.id, req.agency, fid, req.purpose, d.expires_at, revoked.get(d.id)) for fid in d.released],
        )
