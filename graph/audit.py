"""The audit log: append-only, hash-chained, written in the same transaction as what it records.

Every read of a child's information, every disclosure, every write, every sharing decision
and every change of readers or markings is one row of ``audit``. ``record`` refuses to run
outside the caller's open transaction, so the entry commits or rolls back together with
the thing it records: a write that is not audited is never committed, and a read whose
entry cannot be written is not answered.

The chain
    Entry ``n`` holds ``prev_hash`` (the ``hash`` of entry ``n - 1``; 32 zero bytes for
    entry 1) and ``hash = SHA-256`` over a length-prefixed encoding of
    ``(seq, at, actor, action, purpose, detail, prev_hash)`` (see ``entry_hash``). The
    sequence number is inside the hash, so an entry moved to another place no longer fits
    there. Sequence numbers start at 1 and have no gaps.

What ``verify`` detects
    * any change to any stored column of any entry (seq, at, actor, action, purpose,
      detail, prev_hash, hash), and an entry changed *and* re-hashed (its successor no
      longer follows it);
    * a deleted entry anywhere but the tail (a gap, or a successor that follows nothing);
    * entries reordered or renumbered, and entries inserted in the middle, even with
      correctly computed hashes (the entry after them was written elsewhere);
    * with checkpoints: a tail deleted back past the latest checkpoint, a log rewritten
      (every hash recomputed) up to a checkpoint, a checkpoint row changed (its signature
      no longer verifies) or removed (its ``audit.checkpoint`` entry has no checkpoint);
    * with a trusted public key: checkpoints signed by any other key (a forger who
      rewrote the log and re-signed its checkpoints with a key of their own);
    * a fragment or person index row that disagrees with its entry (the data protection
      officer's queries use the index).

What it cannot detect
    The chain is not keyed: someone able to write the database can delete the newest
    entries since the latest checkpoint, append well-formed entries of their own, or
    rewrite everything since the latest checkpoint (or everything, and the local
    checkpoints with it). Only checkpoints held *elsewhere* close that gap: export them
    (``export_checkpoints``) to another system often, and pass them back to ``verify``
    (``exported=``) with the public key kept there. ``verify`` reports the lowest entry
    at which the log stops being what was written (``first_broken``); for a log rewritten
    up to a checkpoint that is the checkpoint's entry, because nothing earlier can tell.

Ids and reasons only
    The log is kept for years, is read by people who must not read the case (auditors,
    the data protection officer) and may be handed to another system; it must not become
    a second copy of the case. ``detail`` therefore holds fragment ids, person ids, reader
    ids, markings, counts and short reasons; no names, narrative or special-category
    content. ``record`` rejects text longer than ``MAX_TEXT`` characters, naming the key
    and never quoting the value.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from graph.errors import StoreError

AUDIT_DDL = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    purpose TEXT,
    detail BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor, seq);
CREATE TABLE IF NOT EXISTS audit_fragments (
    audit_seq INTEGER NOT NULL,
    fragment_id TEXT NOT NULL,
    PRIMARY KEY (fragment_id, audit_seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_people (
    audit_seq INTEGER NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (person_id, audit_seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    hash BLOB NOT NULL,
    key_id TEXT NOT NULL,
    public_key BLOB NOT NULL,
    signature BLOB NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
"""
"""The audit tables. Run with ``executescript`` when the store opens (outside any
transaction: ``executescript`` commits first). The triggers stop the application itself
from changing history by mistake; they are no defence against someone who can drop
them, which is what the chain and the checkpoints are for."""

ACTIONS: tuple[str, ...] = (
    "fragment.write",
    "fragment.supersede",
    "fragment.erase",
    "read.chronology",
    "read.person",
    "read.search",
    "read.network",
    "read.household",
    "read.fragment",
    "read.event",
    "read.patterns",
    "read.patterns_scan",
    "read.patterns_custom",
    "read.incident_review",
    "disclosure.export",
    "share.request",
    "share.decision",
    "resolution.decision",
    "incident.decision",
    "reader.change",
    "marking.change",
    "token.issue",
    "token.revoke",
    "case.change",
    "audit.checkpoint",
    "audit.query",
    "acknowledgement.record",
    "notice.create",
    "notice.read",
    "notice.deliver",
    "webhook.change",
    "store.restore",
)
"""Every action the log knows. A fixed list, so a query for "every read" cannot miss an
action someone spelled differently."""

GENESIS = bytes(32)
"""The ``prev_hash`` of entry 1."""

MAX_TEXT = 200
"""Longest string ``detail``, ``actor`` or ``purpose`` may hold: room for an id or a reason,
not for narrative."""

MAX_KEY = 64
MAX_DEPTH = 4
CHECKPOINT_SCHEME = "jigsaw-audit-checkpoint/1"

_HASH_TAG = b"jigsaw-audit/1\x00"
_WINDOW = 1024  # how far verify looks for the place a misplaced entry was written at
_MAX_LIMIT = 10_000
_COLUMNS = "seq, at, actor, action, purpose, detail, prev_hash, hash"


# ---------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the log, ``detail`` decoded."""

    seq: int
    at: str
    actor: str
    action: str
    purpose: str | None
    detail: dict[str, Any]
    prev_hash: bytes
    hash: bytes


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``verify``.

    ``checked`` counts the entries whose link in the chain held; ``first_broken`` is the
    lowest entry at which the log stops being what was written, ``reason`` says how, in
    words for the person who runs ``jigsaw audit verify``; ``checkpoints`` counts the
    checkpoints compared with the chain.
    """

    ok: bool
    checked: int
    first_broken: int | None = None
    reason: str | None = None
    checkpoints: int = 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement that the log had ``hash`` at entry ``seq`` at time ``at``."""

    seq: int
    at: str
    hash: bytes
    key_id: str
    public_key: bytes
    signature: bytes

    def message(self) -> bytes:
        """The bytes that were signed (``checkpoint_message``)."""
        return checkpoint_message(self.seq, self.hash, self.at, self.key_id)

    def signed_by(self, public_key: Ed25519PublicKey) -> bool:
        """Whether ``public_key`` made this signature over this checkpoint."""
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return key_id(public_key) == self.key_id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for another system; it needs only the public key to check it."""
        return {
            "scheme": CHECKPOINT_SCHEME,
            "seq": self.seq,
            "at": self.at,
            "hash": self.hash.hex(),
            "key_id": self.key_id,
            "public_key": self.public_key.hex(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Checkpoint:
        """The inverse of ``to_dict``; ``ValueError`` if a field is missing or malformed."""
        try:
            if d.get("scheme", CHECKPOINT_SCHEME) != CHECKPOINT_SCHEME:
                raise ValueError(f"checkpoint scheme is not {CHECKPOINT_SCHEME}")
            seq, at, kid = d["seq"], d["at"], d["key_id"]
            if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(at, str) or not isinstance(kid, str):
                raise ValueError("checkpoint seq must be an integer, at and key_id strings")
            h = bytes.fromhex(d["hash"])
            pub = bytes.fromhex(d.get("public_key", ""))
            sig = base64.b64decode(d["signature"], validate=True)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an exported audit checkpoint: {exc}") from None
        return cls(seq, at, h, kid, pub, sig)


# ---------------------------------------------------------------------------- hashing


def _put(h: Any, b: bytes) -> None:
    h.update(len(b).to_bytes(8, "big"))
    h.update(b)


def _utf8(v: str | bytes) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else v


def entry_hash(
    seq: int,
    at: str | bytes,
    actor: str | bytes,
    action: str | bytes,
    purpose: str | bytes | None,
    detail: bytes,
    prev_hash: bytes,
) -> bytes:
    """SHA-256 of one entry, over an encoding no two different entries share.

    The bytes hashed are ``b"jigsaw-audit/1\\0"``, then ``seq`` as 8 bytes big-endian
    (signed), then each of ``at``, ``actor``, ``action`` as an 8-byte big-endian length
    and its UTF-8 bytes, then ``purpose`` as a byte 0 (absent) or a byte 1 followed by
    length and bytes, then ``detail`` and ``prev_hash`` each as length and bytes. Lengths
    make the field boundaries unambiguous; the absent/present byte keeps ``None`` and
    ``""`` apart. Another system can rebuild it from this description alone.

    >>> entry_hash(1, "2026-11-23T12:00:00.000000Z", "u1", "read.person", None, b"{}", GENESIS).hex()[:16]
    'f43a129259b3fbac'
    """
    h = hashlib.sha256(_HASH_TAG)
    h.update(seq.to_bytes(8, "big", signed=True))
    _put(h, _utf8(at))
    _put(h, _utf8(actor))
    _put(h, _utf8(action))
    if purpose is None:
        h.update(b"\x00")
    else:
        h.update(b"\x01")
        _put(h, _utf8(purpose))
    _put(h, detail)
    _put(h, prev_hash)
    return h.digest()


def _row_hash(seq: Any, row: Sequence[Any]) -> bytes | None:
    """``entry_hash`` of a stored row, or None if the row cannot even be hashed (wrong types)."""
    try:
        return entry_hash(seq, *row)
    except (TypeError, AttributeError, OverflowError):
        return None


# ---------------------------------------------------------------------------- validation


def normalise_time(value: str | datetime) -> str:
    """An instant as the log stores it: UTC, microseconds, ``Z``, so text order is time order.

    >>> normalise_time("2026-11-23T13:00:00+01:00")
    '2026-11-23T12:00:00.000000Z'
    """
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    if dt.tzinfo is None:
        raise ValueError("audit times must say their time zone (e.g. end in Z)")
    try:
        utc = dt.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first instant UTC can hold
        raise ValueError("audit times must fall between the years 1 and 9999 in UTC") from None
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any, name: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise ValueError(
            f"{name} is {len(value)} characters long; the audit holds ids and reasons only (<= {MAX_TEXT})"
        )


def _clean(value: Any, path: str, depth: int) -> Any:
    """``value`` as plain JSON (dicts, lists), or ValueError naming ``path`` (never the value)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError(f"{path} is an integer too large for the audit")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(
                f"{path} is {len(value)} characters long; the audit holds ids and reasons only "
                f"(at most {MAX_TEXT}): record the fragment id, not its text"
            )
        return value
    if isinstance(value, list | tuple):
        out = []
        for i, item in enumerate(value):
            if isinstance(item, Mapping | list | tuple):
                raise ValueError(f"{path}[{i}] is not a scalar: lists in the audit hold ids and scalars only")
            out.append(_clean(item, f"{path}[{i}]", depth))
        return out
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise ValueError(f"{path} nests deeper than {MAX_DEPTH} levels")
        obj: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k or len(k) > MAX_KEY:
                raise ValueError(f"{path} has a key that is not a string of 1 to {MAX_KEY} characters")
            obj[k] = _clean(v, f"{path}[{k!r}]", depth + 1)
        return obj
    raise ValueError(f"{path} is a {type(value).__name__}, not a JSON scalar, list or object")


def check_detail(detail: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``detail`` after checking it holds ids and reasons only.

    ``detail["fragments"]`` and ``detail["people"]``, when present, must be lists of ids:
    they feed the index the data protection officer's queries use.

    >>> check_detail({"fragments": ["F1"], "reason": "s47 enquiry"})
    b'{"fragments":["F1"],"reason":"s47 enquiry"}'
    >>> check_detail({"note": "x" * 500})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: detail['note'] is 500 characters long; the audit holds ids and reasons only ...
    """
    return orjson.dumps(_checked(detail), option=orjson.OPT_SORT_KEYS)


def _checked(detail: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(detail, Mapping):
        raise ValueError("detail must be a mapping of ids and reasons")
    clean: dict[str, Any] = _clean(detail, "detail", 0)
    for key in ("fragments", "people"):
        ids = clean.get(key)
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(x, str) and x for x in ids)):
            raise ValueError(f"detail[{key!r}] must be a list of ids")
    return clean


def _ids(detail: Mapping[str, Any], key: str) -> list[str]:
    """Sorted distinct ids under ``key``, as the index holds them."""
    ids = detail.get(key)
    if not isinstance(ids, list):
        return []
    return sorted({x for x in ids if isinstance(x, str)})


def _require_transaction(conn: sqlite3.Connection, what: str) -> None:
    if not conn.in_transaction:
        raise StoreError(
            f"audit.{what} must run inside the caller's write transaction (BEGIN IMMEDIATE ... COMMIT), "
            "so the entry commits or rolls back with what it records"
        )


# ---------------------------------------------------------------------------- writing


def head(conn: sqlite3.Connection) -> tuple[int, bytes]:
    """``(seq, hash)`` of the newest entry; ``(0, GENESIS)`` for an empty log."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (row[0], row[1])


def record(
    conn: sqlite3.Connection,
    *,
    at: str | datetime,
    actor: str,
    action: str,
    purpose: str | None,
    detail: Mapping[str, Any],
) -> int:
    """Append one entry inside the caller's open transaction and return its ``seq``.

    Call it between the caller's ``BEGIN IMMEDIATE`` and ``COMMIT``, on the same
    connection, next to the write (or before returning the read) it records; the entry
    then commits or rolls back with it. ``IMMEDIATE`` matters: it takes the write lock
    before the chain head is read, so two writers cannot both extend the same head.
    ``at`` must carry a time zone and is stored in UTC (``normalise_time``). ``actor`` is
    the reader or system id, ``purpose`` the short reason given (for reads: why), and
    ``detail`` ids and reasons only (``check_detail``); put the fragment ids concerned
    under ``"fragments"`` and person ids under ``"people"``.

    Raises ``StoreError`` outside a transaction, ``ValueError`` for an unknown action or a
    detail that is not ids and reasons; ``sqlite3.Error`` passes through for the caller
    to roll back and translate, as it does for its own statements.
    """
    _require_transaction(conn, "record")
    when, body, fids, pids = prepare(at=at, actor=actor, action=action, purpose=purpose, detail=detail)
    last, prev = head(conn)
    seq = last + 1
    h = entry_hash(seq, when, actor, action, purpose, body, prev)
    conn.execute("INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)", (seq, when, actor, action, purpose, body, prev, h))
    if fids:
        conn.executemany("INSERT INTO audit_fragments VALUES (?, ?)", [(seq, f) for f in fids])
    if pids:
        conn.executemany("INSERT INTO audit_people VALUES (?, ?)", [(seq, p) for p in pids])
    return seq


def prepare(
    *, at: str | datetime, actor: str, action: str, purpose: str | None, detail: Mapping[str, Any]
) -> tuple[str, bytes, list[str], list[str]]:
    """Check one entry as ``record`` does and give what every backend stores:
    ``(at in UTC, detail bytes, fragment ids, person ids)``. ``ValueError`` as ``record``."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
    _text(actor, "actor")
    _text(purpose, "purpose", optional=True)
    when = normalise_time(at)
    clean = _checked(detail)
    body = orjson.dumps(clean, option=orjson.OPT_SORT_KEYS)
    return when, body, _ids(clean, "fragments"), _ids(clean, "people")


def action_names(prefixes: Iterable[str]) -> list[str]:
    """Every action starting with one of ``prefixes`` (``ValueError`` if none does)."""
    return _actions(prefixes)


def rebuild_index(conn: sqlite3.Connection) -> None:
    """Re-derive the fragment and person index from the entries (inside the caller's transaction).

    The index is not part of the chain; ``verify`` compares it with the entries, and this
    repairs it once the chain itself has verified.
    """
    _require_transaction(conn, "rebuild_index")
    conn.execute("DELETE FROM audit_fragments")
    conn.execute("DELETE FROM audit_people")
    for seq, body in conn.execute("SELECT seq, detail FROM audit ORDER BY seq").fetchall():
        try:
            d = orjson.loads(body)
        except orjson.JSONDecodeError:
            continue
        if isinstance(d, dict):
            conn.executemany("INSERT INTO audit_fragments VALUES (?, ?)", [(seq, f) for f in _ids(d, "fragments")])
            conn.executemany("INSERT INTO audit_people VALUES (?, ?)", [(seq, p) for p in _ids(d, "people")])


# ---------------------------------------------------------------------------- keys


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short, stable name for a signing key: 16 hex digits of SHA-256 of the raw public key."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return hashlib.sha256(pub.public_bytes_raw()).hexdigest()[:16]


def public_key_hex(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The raw public key as 64 hex digits, to give to the system that keeps the checkpoints."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes_raw().hex()


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    """The inverse of ``public_key_hex``; ``ValueError`` if it is not a raw Ed25519 key."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise ValueError("not an Ed25519 public key in hex (64 hex digits)") from None


def generate_key(path: str | Path) -> Ed25519PrivateKey:
    """Make a new signing key and write it to ``path`` as unencrypted PKCS#8 PEM, mode 0600.

    The file is created with ``O_EXCL`` and its final mode in one step, so it is never
    readable by others, not even for a moment, and an existing key (or a symlink planted
    where the key should go) is never overwritten: ``FileExistsError``.
    """
    p = Path(path)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        p.unlink(missing_ok=True)
        raise
    dfd = os.open(p.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)  # the key's name is durable too, not just its bytes
    finally:
        os.close(dfd)
    return key


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The signing key written by ``generate_key``; ``ValueError`` if the file holds another kind."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return key


# ---------------------------------------------------------------------------- checkpoints


def checkpoint_message(seq: int, chain_hash: bytes, at: str, kid: str) -> bytes:
    """The exact bytes a checkpoint signs: compact JSON, keys sorted, no spaces.

    >>> checkpoint_message(3, bytes(4), "2026-11-23T12:00:00.000000Z", "ab12")
    b'{"at":"2026-11-23T12:00:00.000000Z","hash":"00000000","key_id":"ab12","scheme":"jigsaw-audit-checkpoint/1","seq":3}'
    """
    doc = {"scheme": CHECKPOINT_SCHEME, "seq": seq, "hash": chain_hash.hex(), "at": at, "key_id": kid}
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def checkpoint(
    conn: sqlite3.Connection,
    private_key: Ed25519PrivateKey,
    *,
    at: str | datetime,
    actor: str = "system",
) -> Checkpoint:
    """Sign the chain head, inside the caller's transaction, and keep the signature.

    First an ``audit.checkpoint`` entry is recorded (so the log itself says a checkpoint
    was taken, and ``verify`` notices if its checkpoint row later disappears); then that
    entry, the new head, is signed. The entry does not contain the signature, so there is
    no circle: the checkpoint covers every entry up to and including its own.
    """
    _require_transaction(conn, "checkpoint")
    kid = key_id(private_key)
    seq = record(conn, at=at, actor=actor, action="audit.checkpoint", purpose="checkpoint", detail={"key_id": kid})
    row = conn.execute("SELECT at, hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    when, h = row[0], row[1]
    pub = private_key.public_key().public_bytes_raw()
    cp = Checkpoint(seq, when, h, kid, pub, private_key.sign(checkpoint_message(seq, h, when, kid)))
    conn.execute(
        "INSERT INTO audit_checkpoints VALUES (?,?,?,?,?,?)",
        (cp.seq, cp.at, cp.hash, cp.key_id, cp.public_key, cp.signature),
    )
    return cp


def checkpoints(conn: sqlite3.Connection, *, after_seq: int = 0) -> list[Checkpoint]:
    """The stored checkpoints after ``after_seq``, oldest first."""
    rows = conn.execute(
        "SELECT seq, at, hash, key_id, public_key, signature FROM audit_checkpoints WHERE seq > ? ORDER BY seq",
        (after_seq,),
    ).fetchall()
    return [Checkpoint(*r) for r in rows]


def export_checkpoints(conn: sqlite3.Connection, *, after_seq: int = 0) -> list[dict[str, Any]]:
    """Checkpoints as JSON-ready dicts for another system to keep (``Checkpoint.to_dict``).

    Each holds seq, at, hash (hex), key_id, public_key (hex) and signature (base64); the
    other system checks one with ``verify_exported_checkpoint`` and the public key it was
    given out of band (not the one inside the dict), and keeps them, so that a later
    ``verify(conn, exported=...)`` can tell if the log was cut short or rewritten.
    """
    return [cp.to_dict() for cp in checkpoints(conn, after_seq=after_seq)]


def verify_exported_checkpoint(d: Mapping[str, Any], public_key: Ed25519PublicKey) -> bool:
    """Whether ``d`` is a checkpoint signed by ``public_key``. False for anything malformed."""
    try:
        cp = Checkpoint.from_dict(d)
    except ValueError:
        return False
    if "public_key" in d and cp.public_key != public_key.public_bytes_raw():
        return False
    return cp.signed_by(public_key)


# ---------------------------------------------------------------------------- verifying


_CHAIN, _CHECKPOINT, _INDEX = 0, 1, 2  # at the same entry, the strongest evidence is the one reported


@dataclass(frozen=True, slots=True, order=True)
class _Break:
    seq: int
    rank: int
    reason: str


def _span(a: int, b: int, verbs: tuple[str, str] = ("is", "are")) -> str:
    """``entry 3 is`` or ``entries 3 to 5 are`` (or other verbs): the subject of a reason."""
    return f"entry {a} {verbs[0]}" if a == b else f"entries {a} to {b} {verbs[1]}"


def _written_as(seq: int, row: Sequence[Any], stored: bytes) -> int | None:
    """The place near ``seq`` this entry was written at, if its hash fits another place."""
    for t in range(max(1, seq - _WINDOW), seq + _WINDOW + 1):
        if t != seq and _row_hash(t, row) == stored:
            return t
    return None


def _chain_break(seq: int, row: Sequence[Any], stored: Any, prev_seq: int, self_ok: bool, link_ok: bool) -> _Break:
    """Say what is wrong at ``seq``, whose hash or link to ``prev_seq`` failed."""
    if self_ok:  # the entry is as written, but it was written after a different entry
        if prev_seq == 0:
            return _Break(seq, _CHAIN, f"entry {seq} does not begin the chain: the entries before it were removed")
        return _Break(
            prev_seq,
            _CHAIN,
            f"entry {prev_seq} was replaced, or changed and re-hashed: entry {seq} was written after a different one",
        )
    t = _written_as(seq, row, stored) if isinstance(stored, bytes) else None
    if t is not None and t < seq:
        return _Break(t, _CHAIN, f"{_span(t, seq - 1, ('was', 'were'))} inserted: entry {seq} was written as entry {t}")
    if t is not None:
        return _Break(seq, _CHAIN, f"entry {seq} was written as entry {t}: entries were reordered or renumbered")
    if link_ok:
        return _Break(seq, _CHAIN, f"entry {seq} was changed after it was written")
    return _Break(seq, _CHAIN, f"entry {seq} was changed, or the entry before it was removed or replaced")


class _IndexWalk:
    """Index rows grouped by entry, consumed in step with the chain walk."""

    def __init__(self, cur: Iterable[tuple[int, str]]) -> None:
        self._groups: Iterator[tuple[int, list[str]]] = (
            (seq, [r[1] for r in rows]) for seq, rows in groupby(cur, key=lambda r: r[0])
        )
        self._next = next(self._groups, None)

    def take(self, seq: int) -> tuple[list[str], int | None]:
        """The ids indexed for ``seq``, and the first entry before it with stray index rows."""
        stray = None
        while self._next is not None and self._next[0] < seq:
            stray = self._next[0] if stray is None else stray
            self._next = next(self._groups, None)
        if self._next is not None and self._next[0] == seq:
            ids = self._next[1]
            self._next = next(self._groups, None)
            return ids, stray
        return [], stray

    def rest(self) -> int | None:
        return None if self._next is None else self._next[0]


def _index_cursor(conn: sqlite3.Connection, table: str, column: str) -> _IndexWalk:
    return _IndexWalk(conn.execute(f"SELECT audit_seq, {column} FROM {table} ORDER BY audit_seq, {column}"))


def verify(
    conn: sqlite3.Connection,
    *,
    public_key: Ed25519PublicKey | None = None,
    exported: Iterable[Mapping[str, Any]] = (),
) -> VerifyReport:
    """Walk the whole log, recomputing the chain, and report the first broken link.

    Checks, in one pass in ``seq`` order: sequence numbers run 1, 2, 3 ... with no gap;
    each entry's ``prev_hash`` is its predecessor's ``hash``; each ``hash`` is
    ``entry_hash`` of the entry's stored bytes; the fragment and person index rows match
    the entries. Then every checkpoint, the stored ones and any ``exported`` ones kept by
    another system, must carry a valid signature (by ``public_key`` when given, which is
    what makes a checkpoint evidence; otherwise at least by the key stored with it), must
    fall within the log and must equal the chain's hash at its entry; and every
    ``audit.checkpoint`` entry must still have its stored checkpoint.

    The module docstring lists what this detects and what no unkeyed chain can. A
    malformed exported checkpoint is a caller's mistake: ``ValueError``. It only reads,
    in one snapshot: inside the caller's transaction if one is open, else in a read
    transaction of its own (so a writer committing meanwhile cannot cause a false alarm).
    Text is hashed as stored, so the database must keep SQLite's default UTF-8 encoding.
    """
    external = [Checkpoint.from_dict(d) for d in exported]
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return _verify(conn, public_key, external)
    finally:
        if own:
            conn.execute("ROLLBACK")


def _verify(conn: sqlite3.Connection, public_key: Ed25519PublicKey | None, external: list[Checkpoint]) -> VerifyReport:
    local = {cp.seq: cp for cp in checkpoints(conn)}
    wanted = set(local) | {cp.seq for cp in external}
    hashes: dict[int, bytes] = {}
    breaks: list[_Break] = []
    checkpoint_entries: list[int] = []
    frag_index = _index_cursor(conn, "audit_fragments", "fragment_id")
    people_index = _index_cursor(conn, "audit_people", "person_id")
    cur = conn.execute(
        "SELECT seq, CAST(at AS BLOB), CAST(actor AS BLOB), CAST(action AS BLOB), CAST(purpose AS BLOB),"
        " detail, prev_hash, hash FROM audit ORDER BY seq"
    )
    prev_seq, prev_hash, checked = 0, GENESIS, 0
    chain_broken = False
    for seq, *fields, stored in cur:
        expected = prev_seq + 1
        if seq != expected:
            if seq < expected:
                breaks.append(_Break(seq, _CHAIN, f"entry {seq} lies before the start of the log: it was inserted"))
            elif prev_seq == 0:
                breaks.append(_Break(1, _CHAIN, f"{_span(1, seq - 1)} missing: the start of the log was deleted"))
            else:
                gap = _span(expected, seq - 1)
                breaks.append(_Break(expected, _CHAIN, f"{gap} missing after entry {prev_seq}: deleted"))
            chain_broken = True
            break
        self_ok = _row_hash(seq, fields) == stored
        link_ok = fields[5] == prev_hash
        if not (self_ok and link_ok):
            breaks.append(_chain_break(seq, fields, stored, prev_seq, self_ok, link_ok))
            chain_broken = True
            break
        checked += 1
        prev_seq, prev_hash = seq, stored
        if seq in wanted:
            hashes[seq] = stored
        if fields[2] == b"audit.checkpoint":
            checkpoint_entries.append(seq)
        problem = _index_problem(seq, fields[4], frag_index, people_index)
        if problem is not None:
            breaks.append(problem)
    limit = min(b.seq for b in breaks if b.rank == 0) if chain_broken else None
    if not chain_broken:
        for walk, name in ((frag_index, "fragment"), (people_index, "person")):
            stray = walk.rest()
            if stray is not None:
                breaks.append(
                    _Break(stray, _INDEX, f"the {name} index names entry {stray}, which is not in the log (deleted?)")
                )
    compared = 0
    for cp, is_local in sorted([(c, True) for c in local.values()] + [(c, False) for c in external], key=_cp_key):
        if limit is not None and cp.seq >= limit:
            continue
        compared += 1
        problem = _checkpoint_problem(cp, is_local, public_key, hashes, prev_seq)
        if problem is not None:
            breaks.append(problem)
    for seq in checkpoint_entries:
        if seq not in local:
            breaks.append(
                _Break(seq, _CHECKPOINT, f"the checkpoint taken at entry {seq} was removed from audit_checkpoints")
            )
    if breaks:
        first = min(breaks)
        return VerifyReport(False, checked, first.seq, first.reason, compared)
    return VerifyReport(True, checked, None, None, compared)


def _cp_key(item: tuple[Checkpoint, bool]) -> int:
    return item[0].seq


def _index_problem(seq: int, body: bytes, frags: _IndexWalk, people: _IndexWalk) -> _Break | None:
    """Whether the index rows for ``seq`` (and any stray ones before it) match its detail.

    Both walks always advance past ``seq``, so one problem is not reported again later.
    """
    indexed = [
        (walk.take(seq), key, name)
        for walk, key, name in ((frags, "fragments", "fragment"), (people, "people", "person"))
    ]
    for (_, stray), _, name in indexed:
        if stray is not None:
            return _Break(stray, _INDEX, f"the {name} index names entry {stray}, which is not in the log (deleted?)")
    try:
        detail = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _Break(seq, _INDEX, f"entry {seq} holds a detail that is not JSON: it was forged")
    if not isinstance(detail, dict):
        return _Break(seq, _INDEX, f"entry {seq} holds a detail that is not a JSON object: it was forged")
    for (ids, _), key, name in indexed:
        if ids != _ids(detail, key):
            return _Break(seq, _INDEX, f"the {name} index disagrees with entry {seq}; rebuild it (rebuild_index)")
    return None


def _checkpoint_problem(
    cp: Checkpoint, is_local: bool, public_key: Ed25519PublicKey | None, hashes: Mapping[int, bytes], last: int
) -> _Break | None:
    what = f"the {'stored' if is_local else 'exported'} checkpoint of entry {cp.seq}"
    if public_key is not None and cp.key_id != key_id(public_key):
        return _Break(cp.seq, _CHECKPOINT, f"{what} was signed by another key ({cp.key_id}), not the one given")
    signer = public_key
    if signer is None:  # no trusted key: at least the checkpoint must agree with the key stored beside it
        try:
            signer = Ed25519PublicKey.from_public_bytes(cp.public_key)
        except ValueError:
            return _Break(cp.seq, _CHECKPOINT, f"{what} carries no valid public key: it was changed")
    if not cp.signed_by(signer):
        return _Break(cp.seq, _CHECKPOINT, f"{what} has a bad signature: it was changed")
    if cp.seq > last:
        return _Break(
            last + 1,
            _CHECKPOINT,
            f"the log ends at entry {last} but a checkpoint of {cp.at} covers entry {cp.seq}: "
            f"{_span(last + 1, cp.seq, ('was', 'were'))} deleted",
        )
    if hashes.get(cp.seq) != cp.hash:
        return _Break(
            cp.seq,
            _CHECKPOINT,
            f"entry {cp.seq} differs from its checkpoint of {cp.at}: the log up to it was rewritten",
        )
    return None


# ---------------------------------------------------------------------------- the data protection officer's queries


def _actions(prefixes: Iterable[str]) -> list[str]:
    ps = tuple(prefixes)
    found = [a for a in ACTIONS if a.startswith(ps)]
    if not found:
        raise ValueError(f"no audit action starts with {' or '.join(repr(p) for p in ps)}")
    return found


def _json_list(values: Iterable[str]) -> str:
    if isinstance(values, str | bytes):
        raise TypeError("pass a list of ids, not a single string")
    return orjson.dumps(sorted(set(values))).decode()


def _select(
    conn: sqlite3.Connection,
    *,
    actor: str | None = None,
    actions: Collection[str] | None = None,
    fragment_ids: Iterable[str] | None = None,
    person_ids: Iterable[str] | None = None,
    either: bool = False,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    limit: int | None = None,
    after_seq: int = 0,
) -> list[AuditEntry]:
    where = ["seq > ?"]
    params: list[Any] = [after_seq]
    if actor is not None:
        where.append("actor = ?")
        params.append(actor)
    if actions is not None:
        where.append("action IN (SELECT value FROM json_each(?))")
        params.append(_json_list(actions))
    touching: list[str] = []
    if fragment_ids is not None:
        touching.append(
            "seq IN (SELECT audit_seq FROM audit_fragments WHERE fragment_id IN (SELECT value FROM json_each(?)))"
        )
        params.append(_json_list(fragment_ids))
    if person_ids is not None:
        touching.append(
            "seq IN (SELECT audit_seq FROM audit_people WHERE person_id IN (SELECT value FROM json_each(?)))"
        )
        params.append(_json_list(person_ids))
    if touching:
        where.append("(" + (" OR " if either else " AND ").join(touching) + ")")
    if since is not None:
        where.append("at >= ?")
        params.append(normalise_time(since))
    if until is not None:
        where.append("at < ?")
        params.append(normalise_time(until))
    sql = f"SELECT {_COLUMNS} FROM audit WHERE {' AND '.join(where)} ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [
        AuditEntry(seq, at, who, what, why, orjson.loads(detail), prev, h)
        for seq, at, who, what, why, detail, prev, h in conn.execute(sql, params)
    ]


def entries(
    conn: sqlite3.Connection,
    *,
    actor: str | None = None,
    action_prefix: str | None = None,
    fragment_ids: Iterable[str] | None = None,
    person_ids: Iterable[str] | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    limit: int = 100,
    after_seq: int = 0,
) -> list[AuditEntry]:
    """Entries matching every filter given, oldest first, at most ``limit`` after ``after_seq``.

    ``fragment_ids`` and ``person_ids`` match entries concerning any of the ids (through
    the index); ``since`` is inclusive and ``until`` exclusive; ``action_prefix`` such as
    ``"read."`` must match some action in ``ACTIONS`` (``ValueError`` otherwise, so a
    typo is not an empty answer). For the next page pass the last entry's ``seq`` as
    ``after_seq``. The caller should itself record an ``audit.query`` entry: who asked
    the audit about a child is worth knowing too.
    """
    if not 1 <= limit <= _MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {_MAX_LIMIT}")
    return _select(
        conn,
        actor=actor,
        actions=None if action_prefix is None else _actions([action_prefix]),
        fragment_ids=fragment_ids,
        person_ids=person_ids,
        since=since,
        until=until,
        limit=limit,
        after_seq=after_seq,
    )


def who_saw(
    conn: sqlite3.Connection,
    fragment_ids: Iterable[str] = (),
    *,
    person_ids: Iterable[str] = (),
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> list[AuditEntry]:
    """Every read and disclosure touching any of these fragments or people, oldest first.

    For a subject access request: who saw the child's record, when (``at``) and why
    (``purpose``). Pass the child's fragment ids and person id; an entry counts if it
    concerns any of them. All matching entries are returned (no page limit).
    """
    return _select(
        conn,
        actions=_actions(["read.", "disclosure."]),
        fragment_ids=list(fragment_ids),
        person_ids=list(person_ids),
        either=True,
        since=since,
        until=until,
    )


def disclosures(
    conn: sqlite3.Connection,
    *,
    fragment_ids: Iterable[str] | None = None,
    person_ids: Iterable[str] | None = None,
    actor: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
) -> list[AuditEntry]:
    """Every disclosure and sharing decision, oldest first: what was disclosed to whom.

    With ``fragment_ids`` and/or ``person_ids``, only those concerning any of them. The
    ``detail`` of each says to whom and on what lawful basis, as the caller recorded it.
    """
    return _select(
        conn,
        actor=actor,
        actions=_actions(["disclosure.", "share.decision"]),
        fragment_ids=None if fragment_ids is None and person_ids is None else list(fragment_ids or ()),
        person_ids=None if fragment_ids is None and person_ids is None else list(person_ids or ()),
        either=True,
        since=since,
        until=until,
    )
