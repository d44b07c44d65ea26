"""The embedded backend: SQLite (WAL) as the system of record, the projection in memory.

One writer at a time: every write runs under this process's write lock inside
``BEGIN IMMEDIATE``, and is committed with ``synchronous=FULL`` (the WAL is fsync'd)
before ``append`` returns, so an acknowledged fragment survives a crash or power cut.
The in-memory projection is rebuilt from the journal on open and catches up with any
commit made by another connection (``PRAGMA data_version``) before each read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from graph import audit, decisions, incidents, meaning, moving, registry, resolution, retention
from graph.access import Purpose, Reader
from graph.errors import InvalidDecision, NotFound, StoreBusy, StoreCorrupt, StoreError, StoreFull, StoreNotInitialised
from graph.patterns.engine import PatternEngine
from graph.patterns.facts import FACTS_VERSION
from graph.projection import FragmentText, Projection, collector_paused
from graph.resolution import (
    Matcher,
    PairEvidence,
    ResolutionDecision,
    ReviewItem,
    decided_fids,
    decision_pairs,
)
from graph.retention import RetentionPolicy
from graph.store import (
    ALREADY_SUPERSEDED,
    NO_EARLIER,
    AppendOutcome,
    Store,
    all_or_nothing_refused,
    canonical_bytes,
    fragment_id,
    prepare,
    reused_reference,
)
from graph.view import ID_CHARS, ReaderView, SystemView, ViewSource


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


SCHEMA_VERSION = 1

log = logging.getLogger("jigsaw.store")

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS fragments (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    agency TEXT NOT NULL,
    record_ref TEXT NOT NULL,
    body_hash BLOB NOT NULL,
    supersedes INTEGER REFERENCES fragments(seq),
    recorded_at TEXT NOT NULL,
    shared_at TEXT NOT NULL,
    summary TEXT,
    when_text TEXT,
    body BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS fragments_superseded ON fragments(supersedes) WHERE supersedes IS NOT NULL;
"""
_DDL += """
CREATE TABLE IF NOT EXISTS retention (
    seq INTEGER PRIMARY KEY REFERENCES fragments(seq),
    class TEXT NOT NULL,
    review_on TEXT NOT NULL,
    erased_at TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS retention_due ON retention(review_on) WHERE erased_at IS NULL;
"""
# What the pattern library reads of each fragment (graph.patterns.facts.fact_of), kept
# so a scan of the whole store need not parse the journal: a cache, filled by scans,
# emptied with the content on erasure, safe to drop at any time.
_DDL += """
CREATE TABLE IF NOT EXISTS pattern_facts (
    seq INTEGER PRIMARY KEY REFERENCES fragments(seq),
    facts BLOB NOT NULL
) STRICT;
"""
_DDL += registry.REGISTRY_DDL + audit.AUDIT_DDL + decisions.DECISIONS_DDL + meaning.MEANING_DDL
_DDL += incidents.INCIDENT_DDL

_CHUNK = 500
# pending mentions (applied, people not yet worked out) past which a write settles them
# itself rather than leaving them to the next answer or the projector (``_apply_to``)
SETTLE_BACKLOG = 2_000
# how many pending mentions' neighbourhoods the projector settles while holding the lock
SETTLE_PART = 32


def _translate(exc: sqlite3.Error) -> StoreError:
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return StoreBusy("the store is busy with another writer; try again shortly")
    if "full" in msg:
        return StoreFull("the disk holding the store is full; nothing was written")
    if "malformed" in msg or "not a database" in msg:
        return StoreCorrupt("the store file is damaged or not a Jigsaw store")
    return StoreError(f"store error: {type(exc).__name__}")


@dataclass(eq=False)
class _Write:
    """One call to ``append`` waiting for its group's commit."""

    prepared: list[Any]
    all_or_nothing: bool
    actor: str
    done: bool = False
    outcomes: list[AppendOutcome] | None = None
    error: BaseException | None = None


class EmbeddedStore(Store):
    """SQLite journal + in-memory projection. Use ``EmbeddedStore.open(path)``."""

    def __init__(
        self,
        path: Path,
        conn: sqlite3.Connection,
        clock: Callable[[], str] = utc_now,
        matcher: Matcher | None = None,
    ) -> None:
        self.path = path
        # entity resolution beyond the Core's exact keys (ingest.linkage.Linker)
        self.matcher = matcher
        self._decisions_at = -1
        self._incidents_at = -1
        self._incident_pairs_cache: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        self._conn = conn
        self._lock = threading.RLock()
        self.clock = clock
        self.retention_policy = RetentionPolicy()
        self.projection = self._new_projection()
        self._data_version = -1
        self._erasures_seen = 0
        # what access is decided on, reloaded whenever anyone commits (data_version)
        self._access_loaded = -2
        self._case_pids: dict[int, frozenset[str]] = {}
        self._anchors: dict[str, tuple[int, int]] = {}
        self._cases_by_seq: dict[int, frozenset[str]] = {}
        self._case_pids_at = (-1, -1)
        self._grants: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
        self._pseudonym_key = b""
        # calls to append waiting for the write lock (group commit)
        self._queue: list[_Write] = []
        self._queue_lock = threading.Lock()
        self._source = ViewSource(
            projection=self.projection,
            load=self._load,
            fids=self._fids,
            seq_of_prefix=self._seq_of_prefix,
            cases_of=self._cases_of,
            granted=self._granted,
            pseudonym=self._pseudonym,
            case_anchors=self._case_anchors,
            lock=self._lock,
            settle=lambda: self.projection.settle(),
            matcher=matcher,
            mention_decisions=lambda: self._mention_decisions_cache,
            incident_decisions=lambda: self._incident_pairs_cache,
        )
        self._mention_decisions_cache: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        self._patterns: PatternEngine | None = None
        self._catch_up()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        create: bool = False,
        clock: Callable[[], str] = utc_now,
        busy_timeout: float = 5.0,
        matcher: Matcher | None = None,
    ) -> EmbeddedStore:
        """Open the store at ``path``; with ``create``, make it if it is not there.
        ``clock`` gives the time for the audit and for grant expiry (UTC, ISO 8601);
        ``busy_timeout`` is how many seconds a write waits for another process's write
        before giving up with StoreBusy."""
        p = Path(path)
        if not p.exists() and not create:
            raise StoreNotInitialised(f"no Jigsaw store at {p}; run `jigsaw init` first")
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")  # erased content is overwritten, not left in free pages
            conn.executescript(_DDL)
            conn.execute(
                "INSERT OR IGNORE INTO meta VALUES ('pseudonym_key', ?)",
                (secrets.token_hex(32),),
            )
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreCorrupt(f"store schema version {row[0]} is not the supported {SCHEMA_VERSION}")
            # facts kept in another format are forgotten (a cache: scans make them again);
            # facts kept before the format had a number are of the first format
            kept = conn.execute("SELECT value FROM meta WHERE key='pattern_facts_version'").fetchone()
            if kept is None or int(kept[0]) != FACTS_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                if int(kept[0] if kept else 1) != FACTS_VERSION:
                    conn.execute("DELETE FROM pattern_facts")
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('pattern_facts_version', ?)", (str(FACTS_VERSION),))
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _translate(exc) from None
        return cls(p, conn, clock, matcher)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ journal

    def _rows(self, after: int, until: int | None = None) -> Iterator[tuple[int, str, dict[str, Any], int | None]]:
        """The journal's rows after seq ``after`` (up to ``until``), in order, parsed."""
        cur = self._conn.execute(
            "SELECT seq, id, body, supersedes FROM fragments WHERE seq > ? AND seq <= ? ORDER BY seq",
            (after, until if until is not None else 2**63 - 1),
        )
        loads = orjson.loads
        while True:
            batch = cur.fetchmany(10_000)
            if not batch:
                return
            for seq, fid, body, sup in batch:
                yield seq, fid, loads(body), sup

    def _catch_up(self, *, settle: bool = False) -> None:
        """Apply any fragments committed since the projection last looked (by anyone),
        and (``settle``: for a read of people or events) work out the people the writes
        left pending. A reader's view settles before each answer itself (``ViewSource.settle``);
        reading a reader's entitlements, the audit or fragments needs neither."""
        with self._lock:
            try:
                self._catch_up_locked()
            except sqlite3.Error as exc:
                raise _translate(exc) from None
            if settle:
                self.projection.settle()

    def _catch_up_locked(self) -> None:
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return
        self._data_version = version
        erasures = self._erasures()
        if erasures != self._erasures_seen:  # someone erased content: forget it here too
            self._erasures_seen = erasures
            self._rebuild()
            return
        self._load_decisions()
        self._load_incident_decisions()
        if self.projection.last_seq == 0:  # opening: build in one go
            self._build(self.projection)
        else:
            self._apply(self._rows(self.projection.last_seq))

    def _apply(self, rows: Iterable[tuple[int, str, dict[str, Any], int | None]]) -> None:
        """Project fragments with the collector out of the way.

        The projection is many small, long-lived, acyclic objects: collecting while it
        grows is wasted work, and once built it is frozen out of the collector's sight,
        or every full collection rescans millions of objects (measured: import speed fell
        by half as the store grew before this; docs/benchmarks.md).
        """
        self._apply_to(self.projection, rows)

    @staticmethod
    def _apply_to(projection: Projection, rows: Iterable[tuple[int, str, dict[str, Any], int | None]]) -> None:
        """Apply without settling: who the new mentions are is worked out behind the
        acknowledgement (``write_derived``, which the API runs every
        ``JIGSAW_DERIVED_INTERVAL``) or before the next answer, whichever comes first;
        past ``SETTLE_BACKLOG`` pending mentions the write settles them itself, so no
        reader ever waits for more than that."""
        with collector_paused():
            projection.extend(rows, settle=False)
            if projection.unsettled > SETTLE_BACKLOG:
                projection.settle()

    def _build(self, projection: Projection) -> None:
        """Build an empty projection from the whole journal (two passes when resolving:
        ``Projection.build``), with the collector out of the way as in ``_apply``."""
        with collector_paused():
            projection.build(lambda: self._rows(0))

    def _select_in(self, sql: str, values: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending ``IN``) for ``values``, in chunks SQLite accepts."""
        for k in range(0, len(values), _CHUNK):
            chunk = values[k : k + _CHUNK]
            yield from self._conn.execute(f"{sql} ({','.join('?' * len(chunk))})", chunk)

    def replay(self) -> Projection:
        """A fresh projection built from the whole journal (for checks; the store's own is untouched)."""
        p = self._new_projection()
        with self._lock:
            p.set_decisions(*self._mention_decisions())
            p.set_incident_decisions(*self._incident_pairs())
            self._build(p)
        return p

    def append(
        self, docs: Sequence[dict[str, Any]], *, all_or_nothing: bool = False, actor: str = "import"
    ) -> list[AppendOutcome]:
        """Journal documents durably (see ``Store.append``).

        Group commit: callers in other threads that arrive while a write is under way
        queue up, and the next of them to get the write lock writes every queued call in
        one transaction with one fsync. Each call keeps its own outcomes, its own
        all-or-nothing and its own audit entry; none returns before the commit that holds
        it. Under many concurrent writers this spends one fsync on many fragments.
        """
        prepared = prepare(docs)
        job = _Write(prepared, all_or_nothing, actor)
        with self._queue_lock:
            self._queue.append(job)
        with self._lock:
            if not job.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._write_group(group)
        if job.error is not None:
            raise job.error
        assert job.outcomes is not None
        return job.outcomes

    def _write_group(self, group: list[_Write]) -> None:
        """Write queued calls in one transaction (under the write lock)."""
        conn = self._conn
        try:
            self._catch_up()
            conn.execute("BEGIN IMMEDIATE")
            # Another connection (a second `jigsaw serve` worker, `jigsaw ingest`) may have
            # committed while this one waited for the write lock: project its fragments now,
            # or ours (numbered after theirs) would move last_seq past them for good.
            self._catch_up()
            to_apply: list[tuple[int, str, dict[str, Any], int | None]] = []
            for job in group:
                job.outcomes, applied = self._stage(job.prepared, job.all_or_nothing, job.actor)
                to_apply += applied
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = _translate(exc) if isinstance(exc, sqlite3.Error) else exc
            for job in group:
                job.error, job.outcomes, job.done = error, None, True
            return
        # self._data_version is the one read inside the transaction: our own commit does not
        # move it, and reading it again now could take in another connection's commit made
        # since, whose fragments would then never be projected
        try:
            self._apply(to_apply)
        finally:
            for job in group:
                job.done = True

    def _stage(
        self, prepared: list[Any], all_or_nothing: bool, actor: str
    ) -> tuple[list[AppendOutcome], list[tuple[int, str, dict[str, Any], int | None]]]:
        """One call's rows and audit entry, inside the open transaction; nothing is
        inserted for a call that all-or-nothing turns away."""
        conn = self._conn
        ids = [fid for _, fid, _, _, _ in prepared]
        existing: dict[str, tuple[bytes, int]] = {
            fid: (h, seq)
            for fid, h, seq in self._select_in("SELECT id, body_hash, seq FROM fragments WHERE id IN", ids)
        }
        next_seq = (conn.execute("SELECT max(seq) FROM fragments").fetchone()[0] or 0) + 1
        outcomes: list[AppendOutcome] = []
        rows: list[tuple[Any, ...]] = []
        to_apply: list[tuple[int, str, dict[str, Any], int | None]] = []
        superseded_now: set[int] = set()
        for i, fid, body, h, doc in prepared:
            prior = existing.get(fid)
            if prior is not None:
                if prior[0] == h:
                    outcomes.append(AppendOutcome(i, "duplicate", fid, prior[1]))
                else:
                    outcomes.append(reused_reference(i, fid))
                continue
            sup_seq = None
            sup = doc.get("supersedes")
            if sup:
                target = fragment_id(doc["agency"]["id"], sup["record_ref"])
                found = existing.get(target)
                if found is None:
                    r = conn.execute("SELECT seq FROM fragments WHERE id = ?", (target,)).fetchone()
                    found = (b"", r[0]) if r else None
                    if found:
                        existing[target] = found
                problem = None
                if found is None:
                    problem = NO_EARLIER
                else:
                    sup_seq = found[1]
                    taken = (
                        sup_seq in superseded_now
                        or conn.execute("SELECT 1 FROM fragments WHERE supersedes = ?", (sup_seq,)).fetchone()
                    )
                    if taken:
                        problem = ALREADY_SUPERSEDED
                if problem:
                    outcomes.append(AppendOutcome(i, "rejected", fid, None, "supersedes.record_ref", problem))
                    continue
                assert sup_seq is not None
                superseded_now.add(sup_seq)
            seq = next_seq
            next_seq += 1
            existing[fid] = (h, seq)
            ev = doc.get("event") or {}
            rows.append(
                (
                    seq,
                    fid,
                    doc["agency"]["id"],
                    doc["record_ref"],
                    h,
                    sup_seq,
                    doc["recorded_at"],
                    doc["shared_at"],
                    ev.get("summary"),
                    ev.get("when", {}).get("text"),
                    body,
                )
            )
            to_apply.append((seq, fid, doc, sup_seq))
            outcomes.append(AppendOutcome(i, "accepted", fid, seq))
        refused = all_or_nothing_refused(outcomes) if all_or_nothing else None
        if refused is not None:
            return refused, []
        if rows:
            conn.executemany("INSERT INTO fragments VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            classify = self.retention_policy.classify
            conn.executemany(  # a tombstone brought from another store stays erased here
                "INSERT INTO retention VALUES (?,?,?,?)",
                [(seq, *classify(doc), retention.when_erased(doc)) for seq, _, doc, _ in to_apply],
            )
            # one audit entry per write, in the same transaction: ids only
            corrections = [r[1] for r in rows if r[5] is not None]
            detail: dict[str, Any] = {"fragments": [r[1] for r in rows]}
            if corrections:
                detail["corrections"] = corrections
            audit.record(conn, at=self.clock(), actor=actor, action="fragment.write", purpose=None, detail=detail)
            for _seq, fid, doc, sup_seq in to_apply:
                if sup_seq is not None:
                    self._notify(conn, fid, doc, sup_seq, actor)
        return outcomes, to_apply

    def _notify(self, conn: sqlite3.Connection, fid: str, doc: dict[str, Any], sup_seq: int, actor: str) -> None:
        """Notices to everyone who saw or received the record ``fid`` corrects (any
        earlier version), in the correction's own transaction: a correction is never
        committed without them."""
        earlier: list[str] = []
        cur: int | None = sup_seq
        while cur is not None:
            row = conn.execute("SELECT id, supersedes FROM fragments WHERE seq = ?", (cur,)).fetchone()
            earlier.append(row[0])
            cur = row[1]
        kind = "retracted" if (doc.get("supersedes") or {}).get("retract") else "corrected"
        at = self.clock()
        detail = meaning.notify_correction(
            conn, at=at, earlier=earlier, correction_id=fid, kind=kind, by_agency=doc["agency"]["id"], actor=actor
        )
        audit.record(conn, at=at, actor=actor, action="notice.create", purpose=None, detail=detail)

    def _details(self, seqs: Iterable[int]) -> dict[int, FragmentText]:
        """Chronology words for these fragments, from the journal (not kept in memory)."""
        sql = "SELECT seq, id, record_ref, recorded_at, shared_at, summary, when_text FROM fragments WHERE seq IN"
        with self._lock:
            return {seq: FragmentText(*rest) for seq, *rest in self._select_in(sql, list(seqs))}

    def get_fragment(self, fid: str) -> dict[str, Any] | None:
        with self._lock:
            try:
                row = self._conn.execute("SELECT body FROM fragments WHERE id = ?", (fid,)).fetchone()
            except sqlite3.Error as exc:
                raise _translate(exc) from None
        return orjson.loads(row[0]) if row else None

    def fragment_count(self) -> int:
        """Every version of every fragment in the journal (an administrator's figure)."""
        self._catch_up()
        return len(self.projection.fragments)

    # ------------------------------------------------------------------ access

    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        with self._lock:
            rows = self._select_in("SELECT seq, body FROM fragments WHERE seq IN", list(seqs))
            return {seq: orjson.loads(body) for seq, body in rows}

    def _pattern_facts(self, seqs: Sequence[int] | None = None) -> dict[int, bytes]:
        """Kept pattern facts (encoded) of these fragments, or of all of them."""
        with self._lock:
            if seqs is None:
                return dict(self._conn.execute("SELECT seq, facts FROM pattern_facts"))
            return dict(self._select_in("SELECT seq, facts FROM pattern_facts WHERE seq IN", list(seqs)))

    def _keep_pattern_facts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Keep pattern facts for next time. A cache: if the store is busy or read-only
        they are simply not kept (the next scan makes them again)."""
        if not rows:
            return
        try:
            with self.transaction() as conn:
                conn.executemany("INSERT OR IGNORE INTO pattern_facts VALUES (?, ?)", rows)
        except StoreError as exc:
            log.info("pattern facts not kept: %s", exc)

    def _fids(self, seqs: Iterable[int]) -> dict[int, str]:
        with self._lock:
            return dict(self._select_in("SELECT seq, id FROM fragments WHERE seq IN", list(seqs)))

    def _seq_of_prefix(self, prefix: str) -> int | None:
        """The seq of the one fragment whose id starts ``F<prefix>`` (ids are hex)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq FROM fragments WHERE id >= ? AND id < ? LIMIT 2", ("F" + prefix, "F" + prefix + "g")
            ).fetchall()
        return rows[0][0] if len(rows) == 1 else None

    def _load_access(self) -> None:
        """Reload grants and the pseudonym key when anyone has committed since last time."""
        if self._access_loaded == self._data_version:
            return
        grants: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
        for agency, seq, purpose, expires in self._conn.execute(
            "SELECT g.agency, f.seq, g.purpose, g.expires_at FROM grants g JOIN fragments f ON f.id = g.fragment_id "
            "WHERE g.revoked_at IS NULL"
        ):
            grants.setdefault((agency, seq), []).append((purpose, expires))
        self._grants = grants
        row = self._conn.execute("SELECT value FROM meta WHERE key='pseudonym_key'").fetchone()
        self._pseudonym_key = bytes.fromhex(row[0])
        self._access_loaded = self._data_version
        self._case_pids_at = (-1, -1)

    def _case_map(self) -> dict[int, frozenset[str]]:
        """Person (in the store's projection) -> the cases opened on them."""
        at = (self._data_version, self.projection.last_seq)
        if self._case_pids_at != at:
            out: dict[int, set[str]] = {}
            anchors: dict[str, tuple[int, int]] = {}
            for case_id, seq, mention in self._conn.execute(
                "SELECT c.id, f.seq, c.mention FROM cases c JOIN fragments f ON f.id = c.fragment_id"
            ):
                people = self.projection.mention_people(seq)
                if mention < len(people):
                    out.setdefault(people[mention], set()).add(case_id)
                    anchors[case_id] = (seq, mention)
            self._anchors = anchors
            self._cases_by_seq.clear()
            self._case_pids = {pid: frozenset(c) for pid, c in out.items()}
            self._case_pids_at = at
        return self._case_pids

    def _case_anchors(self) -> dict[str, tuple[int, int]]:
        """Case id -> (fragment seq, mention index) of the child it was opened on."""
        self._case_map()
        return self._anchors

    def _cases_of(self, seq: int) -> frozenset[str]:
        """The cases of the children fragment ``seq`` mentions."""
        case_map = self._case_map()
        out = self._cases_by_seq.get(seq)
        if out is not None:
            return out
        p = self.projection
        meta = p.fragments[seq]
        out = frozenset()
        if meta.event is not None and case_map:
            for pid, role, s in p.events[meta.event].people:
                if s == seq and role == "child":
                    cases = case_map.get(pid)
                    if cases:
                        out |= cases
        if len(self._cases_by_seq) > 1_000_000:
            self._cases_by_seq.clear()
        self._cases_by_seq[seq] = out
        return out

    def _granted(self, seq: int, agency: str, purpose: Purpose) -> bool:
        found = self._grants.get((agency, seq))
        if not found:
            return False
        now = self.clock()
        return any(p == purpose and (exp is None or exp > now) for p, exp in found)

    def _pseudonym(self, viewing_agency: str, seq: int, mention: int) -> str:
        """A stable tag for an identity-protected mention, different for each viewing
        agency so that agencies cannot match their pseudonyms up."""
        msg = f"{viewing_agency}\x1f{seq}\x1f{mention}".encode()
        return "#" + hmac.new(self._pseudonym_key, msg, hashlib.sha256).hexdigest()[:6].upper()

    def reader(self, reader_id: str) -> Reader:
        self._catch_up()
        with self._lock:
            return registry.get_reader(self._conn, reader_id)

    def view(self, reader_id: str, purpose: str) -> ReaderView:
        self._catch_up()
        with self._lock:
            reader = registry.get_reader(self._conn, reader_id)
            self._load_access()
        return ReaderView(self._source, reader, registry.parse_purpose(purpose))

    def system_view(self) -> ReaderView:
        self._catch_up()
        with self._lock:
            self._load_access()
        return SystemView(self._source)

    # ------------------------------------------------------------------ administration

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One durable write transaction (BEGIN IMMEDIATE ... COMMIT) under the write lock,
        for registry changes and their audit entries together."""
        with self._lock:
            self._catch_up()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
                # our own commits do not move PRAGMA data_version: reload access ourselves
                self._access_loaded = -2
                self._catch_up()
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise _translate(exc) from None

    def record(
        self, conn: sqlite3.Connection, actor: str, action: str, detail: dict[str, Any], purpose: str | None = None
    ) -> None:
        audit.record(conn, at=self.clock(), actor=actor, action=action, purpose=purpose, detail=detail)

    # Each change below is one transaction holding the change and its audit entry: the
    # command line, the demo and (later) the HTTP API all go through these.

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
    ) -> Reader:
        with self.transaction() as conn:
            r = registry.put_reader(
                conn,
                reader_id=reader_id,
                agency=agency,
                roles=roles,
                clearances=clearances,
                display_name=display_name,
                active=active,
                at=self.clock(),
            )
            self.record(conn, by, "reader.change", {"reader": reader_id, "agency": agency, "active": r.active})
        return r

    def set_reader_active(self, by: str, reader_id: str, active: bool) -> None:
        with self.transaction() as conn:
            registry.set_active(conn, reader_id, active, at=self.clock())
            self.record(conn, by, "reader.change", {"reader": reader_id, "active": active})

    def list_readers(self) -> list[Reader]:
        with self._lock:
            return registry.list_readers(self._conn)

    def open_case(self, by: str, case_id: str, person_id: str) -> None:
        """Open a child's case on a person id (the mention it names is the case's child)."""
        fid, mention = self.person_anchor(person_id)
        with self.transaction() as conn:
            registry.open_case(conn, case_id=case_id, fragment_id=fid, mention=mention, at=self.clock(), by=by)
            self.record(conn, by, "case.change", {"case": case_id, "opened": True, "people": [person_id]})

    def set_membership(self, by: str, case_id: str, reader_id: str, member: bool) -> None:
        with self.transaction() as conn:
            registry.set_membership(conn, reader_id, case_id, member)
            self.record(conn, by, "case.change", {"case": case_id, "reader": reader_id, "member": member})

    def issue_token(self, by: str, reader_id: str, expires_at: str | None = None) -> tuple[str, str]:
        """A new bearer token: (token id, the token, shown once; only its hash is kept)."""
        with self.transaction() as conn:
            tid, token = registry.issue_token(conn, reader_id, at=self.clock(), expires_at=expires_at)
            self.record(conn, by, "token.issue", {"reader": reader_id, "token": tid})
        return tid, token

    def revoke_token(self, by: str, token_id: str) -> None:
        with self.transaction() as conn:
            reader_id = registry.revoke_token(conn, token_id, at=self.clock())
            self.record(conn, by, "token.revoke", {"reader": reader_id, "token": token_id})

    def reader_for_token(self, token: str) -> str | None:
        """The reader a live bearer token belongs to (not revoked, not expired), or None."""
        with self._lock:
            try:
                return registry.reader_for_token(self._conn, token, now=self.clock())
            except sqlite3.Error as exc:
                raise _translate(exc) from None

    def list_tokens(self, reader_id: str | None = None) -> list[registry.TokenInfo]:
        with self._lock:
            return registry.list_tokens(self._conn, reader_id)

    def audit_read(self, view: ReaderView, action: str, detail: dict[str, Any]) -> None:
        """Write a read or disclosure to the audit, durably, before the answer is given."""
        with self.transaction() as conn:
            self.record(conn, view.reader.id, action, detail, str(view.purpose))

    def fragments_about(self, person_id: str) -> list[str]:
        """Every fragment (any version) that mentions the person a person id names, as the
        store resolves them: for the data protection officer, not for case readers."""
        with self._lock:
            seqs = {s for s, _, _ in self.projection.people[self.global_pid(person_id)].mentions}
            return sorted(self._fids(seqs).values())

    def global_pid(self, person_id: str) -> int:
        """The store's own person (not a reader's) that a person id's mention belongs to."""
        fid, idx = self.person_anchor(person_id)
        with self._lock:
            self._catch_up(settle=True)
            row = self._conn.execute("SELECT seq FROM fragments WHERE id = ?", (fid,)).fetchone()
            people = self.projection.mention_people(row[0])
            if idx >= len(people):
                raise NotFound("no such person", field="person_id")
            return people[idx]

    # ------------------------------------------------------------------ audit

    def audit_verify(self, public_key: Any = None, exported: Sequence[dict[str, Any]] = ()) -> audit.VerifyReport:
        """Check the whole chain (and checkpoints kept elsewhere) from one read snapshot,
        without holding up writers."""
        with self._lock:
            return audit.verify(self._conn, public_key=public_key, exported=exported)

    def who_saw(self, person_id: str) -> list[audit.AuditEntry]:
        """Every read or disclosure of this person's record: by the fragments about them
        (as the store resolves them) and by the person ids readers used."""
        fids = self.fragments_about(person_id)
        with self._lock:
            return audit.who_saw(self._conn, fids, person_ids=[person_id])

    def disclosures(self, person_id: str | None = None) -> list[audit.AuditEntry]:
        """Every export and share decision (what was disclosed to whom), or those about one person."""
        with self._lock:
            if person_id is None:
                return audit.disclosures(self._conn)
        fids = self.fragments_about(person_id)
        with self._lock:
            return audit.disclosures(self._conn, fragment_ids=fids, person_ids=[person_id])

    # ------------------------------------------------------------------ share decisions

    def request_share(
        self, reader_id: str, *, holder_agency: str, person_id: str, purpose: str, need: str, urgency: str
    ) -> registry.ShareRequest:
        """Record a request for information (golden rule 7), audited with it."""
        with self.transaction() as conn:
            req = registry.request_info(
                conn,
                requester=registry.get_reader(conn, reader_id),
                holder_agency=holder_agency,
                person_id=person_id,
                purpose=purpose,
                need=need,
                urgency=urgency,
                at=self.clock(),
            )
            detail = {"request": req.id, "holder_agency": holder_agency, "people": [person_id], "urgency": urgency}
            audit.record(conn, at=req.at, actor=reader_id, action="share.request", purpose=purpose, detail=detail)
        return req

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
    ) -> registry.ShareDecision:
        """Record the holding agency's decision on a request, grant exactly what it
        releases to the requester's agency for the request's purpose, and tell the
        requester (the decision, including a refusal, is on their request's record)."""
        with self.transaction() as conn:
            reader = registry.get_reader(conn, reader_id)
            req = registry.get_request(conn, request_id)
            if reader.agency != req.holder_agency or not reader.active:
                raise registry.InvalidRecord("only the agency asked may decide", field="decided_by")
            pairs = []
            bodies = []
            for fid in released:
                row = conn.execute("SELECT agency, body FROM fragments WHERE id = ?", (fid,)).fetchone()
                if row is None or row[0] != reader.agency:
                    # another agency's fragment answers exactly as one that does not exist
                    raise NotFound("no fragment of your agency has this id", field="released")
                pairs.append((fid, row[0]))
                bodies.append(row[1])
            digest = hashlib.sha256(b"".join(sorted(bodies))).hexdigest()
            dec = registry.decide_share(
                conn,
                request=req,
                decided_by=reader,
                outcome=outcome,
                necessity=necessity,
                proportionality=proportionality,
                lawful_basis=lawful_basis,
                special_condition=special_condition,
                released=pairs,
                released_digest=digest,
                family_told=family_told,
                family_not_told_reason=family_not_told_reason,
                expires_at=expires_at,
                reconsiders=reconsiders,
                at=self.clock(),
            )
            detail: dict[str, Any] = {
                "request": req.id,
                "decision": dec.id,
                "outcome": outcome,
                "to_agency": req.agency,
                "fragments": list(dec.released),
                "digest": digest,
                "family_told": family_told,
            }
            if reconsiders:
                detail["reconsiders"] = reconsiders
            audit.record(conn, at=dec.at, actor=reader_id, action="share.decision", purpose=req.purpose, detail=detail)
        return dec

    # ------------------------------------------------------------------ shared meaning

    def acknowledge(self, view: ReaderView, subject: str, *, kind: str, text: str = "") -> meaning.Acknowledgement:
        """Record that ``view``'s reader read and understood a fragment or share decision,
        or their query about it, or (the author's agency, on its own fragment) that a
        flagged record is fact; durable and audited. A subject the reader may not read is
        "no such record", exactly as one that does not exist (``meaning.acknowledgement_subject``)."""

        def decision_for(decision_id: str) -> str | None:
            with self._lock:
                found = [d for d in registry.decisions(self._conn) if d.id == decision_id]
                return registry.get_request(self._conn, found[0].request_id).agency if found else None

        subject_kind = meaning.acknowledgement_subject(view, subject, kind, decision_for)
        with self.transaction() as conn:
            ack = meaning.add_acknowledgement(
                conn,
                subject=subject,
                subject_kind=subject_kind,
                reader_id=view.reader.id,
                agency=view.reader.agency,
                kind=kind,
                text=text,
                at=self.clock(),
            )
            self.record(
                conn, view.reader.id, "acknowledgement.record", meaning.acknowledgement_detail(ack), str(view.purpose)
            )
        return ack

    def acknowledgements(self, subjects: Sequence[str]) -> list[meaning.Acknowledgement]:
        """Every acknowledgement of these fragments or share decisions, oldest first."""
        with self._lock:
            return meaning.acknowledgements(self._conn, list(subjects))

    def outstanding(self, agency: str) -> list[meaning.Outstanding]:
        """What ``agency`` sent that a receiving agency has not acknowledged as understood:
        its current fragments that readers of other agencies read or were released (the
        audit and the grants say who), and its share decisions; open queries included."""
        with self._lock:
            self._catch_up()
            conn = self._conn
            pairs = set(
                conn.execute(
                    "SELECT DISTINCT f.id, r.agency FROM fragments f "
                    "JOIN audit_fragments af ON af.fragment_id = f.id JOIN audit a ON a.seq = af.audit_seq "
                    "JOIN readers r ON r.id = a.actor WHERE f.agency = ? AND r.agency != f.agency "
                    "AND (a.action LIKE 'read.%' OR a.action LIKE 'disclosure.%')",
                    (agency,),
                )
            )
            pairs |= set(
                conn.execute(
                    "SELECT DISTINCT g.fragment_id, g.agency FROM grants g JOIN fragments f ON f.id = g.fragment_id "
                    "WHERE f.agency = ? AND g.agency != f.agency",
                    (agency,),
                )
            )
            current = {fid for fid, _ in pairs if self._is_current(fid)}
            pairs = {(f, a) for f, a in pairs if f in current}
            made = {
                d.id: registry.get_request(conn, d.request_id).agency
                for d in registry.decisions(conn)
                if registry.get_reader(conn, d.decided_by).agency == agency
            }
            subjects = sorted({f for f, _ in pairs} | set(made))
            acks = meaning.acknowledgements(conn, subjects)
            sig = {
                fid: doc.get("significance")
                for fid, doc in (
                    (f, orjson.loads(b))
                    for f, b in self._select_in("SELECT id, body FROM fragments WHERE id IN", sorted(current))
                )
            }
        return meaning.outstanding_items(pairs, made, acks, sig)

    def _is_current(self, fid: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM fragments f WHERE f.id = ? AND NOT EXISTS "
            "(SELECT 1 FROM fragments g WHERE g.supersedes = f.seq)",
            (fid,),
        ).fetchone()
        return row is not None

    def notices(self, view: ReaderView, *, unread_only: bool = False) -> list[meaning.Notice]:
        """The reader's correction notices, newest first, each showing only what the reader
        may see now (``graph.meaning.present``)."""
        with self._lock:
            recs = meaning.notices_for(self._conn, view.reader.id, view.reader.agency)
        shown = [meaning.present(view, r) for r in recs]
        return [n for n in shown if not (unread_only and n.read)]

    def mark_notice_read(self, view: ReaderView, notice_id: str) -> None:
        with self.transaction() as conn:
            meaning.mark_read(conn, view.reader.id, view.reader.agency, notice_id, at=self.clock())
            self.record(conn, view.reader.id, "notice.read", {"notice": notice_id}, str(view.purpose))

    def put_webhook(self, by: str, *, agency: str, url: str, secret: str, active: bool = True) -> meaning.Webhook:
        """Register (or change) the URL an agency's own systems receive notices at, and the
        shared secret deliveries are signed with."""
        with self.transaction() as conn:
            hook = meaning.put_webhook(conn, agency=agency, url=url, secret=secret, active=active, at=self.clock())
            self.record(conn, by, "webhook.change", {"agency": agency, "active": active})
        return hook

    def webhooks(self) -> list[meaning.Webhook]:
        with self._lock:
            return meaning.webhooks(self._conn)

    def due_deliveries(self, limit: int = 100) -> list[meaning.Delivery]:
        """Webhook deliveries whose next attempt is due now, claimed for ``LEASE`` seconds
        (their next attempt moved on), so that another worker or process running the
        deliveries at the same time does not send them too."""
        with self.transaction() as conn:
            now = self.clock()
            found = meaning.due(conn, now, limit)
            lease = meaning.later(now, meaning.LEASE)
            conn.executemany("UPDATE webhook_outbox SET next_at = ? WHERE id = ?", [(lease, d.id) for d in found])
        return found

    def record_delivery(self, delivery_id: str, *, ok: bool, error: str | None = None) -> str:
        """Record one delivery attempt: delivered, or failed (the next attempt backs off
        exponentially; after ``MAX_ATTEMPTS`` it is dead-lettered). Returns the state."""
        with self.transaction() as conn:
            row = conn.execute("SELECT agency FROM webhook_outbox WHERE id = ?", (delivery_id,)).fetchone()
            if row is None:
                raise NotFound("no such delivery", field="delivery_id")
            o = meaning.record_attempt(conn, delivery_id, ok=ok, error=error, at=self.clock())
            if o.audited:
                detail = {"delivery": delivery_id, "agency": row[0], "state": o.state}
                self.record(conn, meaning.DELIVERY_ACTOR, "notice.deliver", detail)
        return o.state

    def webhook_outbox(self, agency: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return meaning.outbox(self._conn, agency)

    def share_records(self, request_id: str | None = None) -> list[registry.ShareDecision]:
        with self._lock:
            return registry.decisions(self._conn, request_id)

    def share_requests(self, agency: str) -> list[registry.ShareRequest]:
        """Requests ``agency`` made or was asked."""
        with self._lock:
            return registry.requests_for(self._conn, agency)

    def share_request(self, request_id: str) -> registry.ShareRequest:
        with self._lock:
            return registry.get_request(self._conn, request_id)

    def audit_entries(
        self,
        *,
        actor: str | None = None,
        action_prefix: str | None = None,
        since: str | None = None,
        until: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[audit.AuditEntry]:
        """Audit entries matching every filter, oldest first (for the data protection officer)."""
        with self._lock:
            return audit.entries(
                self._conn,
                actor=actor,
                action_prefix=action_prefix,
                since=since,
                until=until,
                after_seq=after_seq,
                limit=limit,
            )

    # ------------------------------------------------------------------ retention

    def retention_due(self, on: str, *, limit: int = 1000) -> list[tuple[str, str, str, str]]:
        """(fragment id, agency, class, review date) of records due for review on ``on``."""
        with self._lock:
            return list(
                self._conn.execute(
                    "SELECT f.id, f.agency, r.class, r.review_on FROM retention r JOIN fragments f USING (seq) "
                    "WHERE r.erased_at IS NULL AND r.review_on <= ? ORDER BY r.review_on, f.seq LIMIT ?",
                    (on, limit),
                )
            )

    def erase(self, fid: str, *, authority: str, reason: str, by: str) -> list[str]:
        """Erase a record: every version of it loses its content and keeps a tombstone;
        the erasure is audited in the same transaction; the projection is rebuilt so that
        nothing derived from the content survives in memory. Returns the ids erased.

        Rebuilding costs a reopen (about 90 s at 1,000,000 fragments): erasure is a rare,
        deliberate act, batched by retention reviews.
        """
        retention.check_erasure(authority, reason)
        with self.transaction() as conn:
            row = conn.execute("SELECT seq FROM fragments WHERE id = ?", (fid,)).fetchone()
            if row is None:
                raise NotFound("no such fragment", field="fragment_id")
            chain = {row[0]}
            todo = [row[0]]
            while todo:  # every earlier and later version of the record
                s = todo.pop()
                for (other,) in conn.execute(
                    "SELECT seq FROM fragments WHERE supersedes = ? UNION SELECT supersedes FROM fragments "
                    "WHERE seq = ? AND supersedes IS NOT NULL",
                    (s, s),
                ):
                    if other not in chain:
                        chain.add(other)
                        todo.append(other)
            at = self.clock()
            erased = []
            versions = []
            for s in sorted(chain):
                fid_s, body = conn.execute("SELECT id, body FROM fragments WHERE seq = ?", (s,)).fetchone()
                versions.append((s, fid_s, orjson.loads(body)))
            for s, fid_s, doc in retention.tombstones(versions, erased_at=at, authority=authority):
                stone = canonical_bytes(doc)
                conn.execute(
                    "UPDATE fragments SET body = ?, summary = NULL, when_text = NULL WHERE seq = ?", (stone, s)
                )
                conn.execute("DELETE FROM pattern_facts WHERE seq = ?", (s,))
                conn.execute(
                    "INSERT INTO retention VALUES (?, 'erased', '', ?) ON CONFLICT(seq) DO UPDATE SET erased_at = ?",
                    (s, at, at),
                )
                erased.append(fid_s)
            if erased:
                conn.execute(
                    "INSERT INTO meta VALUES ('erasures', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
                )
                audit.record(
                    conn,
                    at=at,
                    actor=by,
                    action="fragment.erase",
                    purpose=None,
                    detail=retention.erasure_detail(erased, authority=authority, reason=reason),
                )
        if erased:
            with self._lock:
                self._erasures_seen = self._erasures()
                # the old pages may linger in the write-ahead log: fold it in and empty it
                # (secure_delete, set on open, zeroes the space the content occupied)
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._rebuild()
        return erased

    def _erasures(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'erasures'").fetchone()
        return int(row[0]) if row else 0

    def _rebuild(self) -> None:
        """Replace the projection with one built afresh from the journal."""
        with self._lock:
            fresh = self._new_projection()
            fresh.set_decisions(*self._mention_decisions())
            fresh.set_incident_decisions(*self._incident_pairs())
            self._build(fresh)
            self.projection = fresh
            self._source.projection = fresh
            self._source.cache.clear()
            self._case_pids_at = (-1, -1)

    # ------------------------------------------------------------------ resolution

    def _new_projection(self) -> Projection:
        return Projection(text_source=self._details, matcher=self.matcher, docs=self._load)

    def _mention_decisions(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The decisions in force as pairs of mention keys: (joins, aparts)."""
        with self._lock:
            ds = decisions.all_decisions(self._conn)
            self._mention_decisions_cache = decision_pairs(ds, self._seqs_of(decided_fids(ds)))
            return self._mention_decisions_cache

    def _load_decisions(self) -> None:
        """Apply decisions recorded since the projection last looked (by anyone)."""
        latest = decisions.latest_id(self._conn)
        if latest == self._decisions_at:
            return
        self._decisions_at = latest
        self.projection.set_decisions(*self._mention_decisions())
        self._source.cache.clear()

    # ------------------------------------------------------------------ incidents

    def _incident_pairs(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The incident decisions in force as pairs of fragment seqs: (joins, aparts)."""
        with self._lock:
            ds = incidents.all_decisions(self._conn)
            seq_of = self._seqs_of({f for d in ds for f in (d.a, d.b)})
            self._incident_pairs_cache = incidents.decision_pairs(ds, seq_of)
            return self._incident_pairs_cache

    def _load_incident_decisions(self) -> None:
        """Apply incident decisions recorded since the projection last looked (by anyone)."""
        latest = incidents.latest_id(self._conn)
        if latest == self._incidents_at:
            return
        self._incidents_at = latest
        self.projection.set_incident_decisions(*self._incident_pairs())
        self._source.cache.clear()

    def _record_ref(self, view: ReaderView, ref: str) -> int:
        """The seq of a current record the reviewer may read, named by its fragment id
        (or a unique prefix of it); any other is "no such record"."""
        seq = self._seq_of_prefix(ref[1:].lower()) if ref.startswith("F") and len(ref) > 8 else None
        if seq is None or not view.visible(seq):
            raise InvalidDecision(f"no such record {ref}", field="fragment")
        return seq

    def incident_queue(self, view: ReaderView, limit: int = 50) -> list[incidents.IncidentItem]:
        """Pairs of records that may be one incident (``Store.incident_queue``)."""
        with self._lock:
            self._catch_up(settle=True)
            return incidents.queue(view, self.projection, limit)

    def decide_incident(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> incidents.IncidentDecision:
        """Record that records ``a`` and ``b`` are one incident (``join``) or two (``apart``)."""
        reason = incidents.check(kind, reason)
        by = view.reader.id
        with self.transaction() as conn:
            sa, sb = self._record_ref(view, a), self._record_ref(view, b)
            if sa == sb:
                raise InvalidDecision("a record is one incident with itself", field="fragment")
            fids = self._fids([sa, sb])
            d = incidents.add(conn, kind=kind, a=fids[sa], b=fids[sb], reason=reason, by=by, at=self.clock())
            self.record(conn, by, "incident.decision", {"decision": d.id, "kind": kind})
        with self._lock:
            self._load_incident_decisions()
        return d

    def undo_incident_decision(self, view: ReaderView, decision_id: int, reason: str) -> incidents.IncidentDecision:
        """Withdraw a decision about records the reviewer may read: the events are as if
        it had never been made."""
        by = view.reader.id
        with self.transaction() as conn:
            old = incidents.get(conn, decision_id)
            seq_of = self._seqs_of([old.a, old.b]) if old is not None else {}
            if old is None or old.kind == "undo" or not incidents.decision_visible(view, old, seq_of):
                raise InvalidDecision(f"no join or apart decision {decision_id}", field="decision")
            if incidents.undone(conn, decision_id):
                raise InvalidDecision(f"decision {decision_id} is already undone", field="decision")
            d = incidents.add(
                conn, kind="undo", a=old.a, b=old.b, reason=reason, by=by, at=self.clock(), undoes=decision_id
            )
            self.record(conn, by, "incident.decision", {"decision": d.id, "kind": "undo", "undoes": decision_id})
        with self._lock:
            self._load_incident_decisions()
        return d

    def incident_decisions(self, view: ReaderView) -> list[incidents.IncidentDecision]:
        """The incident decisions (undos included) about records the reviewer may read."""
        with self._lock:
            ds = incidents.all_decisions(self._conn)
            seq_of = self._seqs_of({f for d in ds for f in (d.a, d.b)})
            return [d for d in ds if incidents.decision_visible(view, d, seq_of)]

    def _person_id_ref(self, person_id: str) -> tuple[int, int] | None:
        """(seq, index) of the mention a person id names, ``P<fragment>-<n>``, or None."""
        return resolution.person_id_ref(person_id, self._seq_of_prefix)

    def _mention_ref(self, view: ReaderView, mention_id: str) -> tuple[int, int]:
        """(seq, index) of a mention the reviewer may see (``resolution.visible_mention``)."""
        return resolution.visible_mention(view, self.projection, self._seq_of_prefix, mention_id)

    def mention_id(self, seq: int, idx: int) -> str:
        return f"P{self._fids([seq])[seq][1 : 1 + ID_CHARS]}-{idx}"

    def _explain(self, a: tuple[int, int], b: tuple[int, int]) -> PairEvidence:
        return resolution.explain_mentions(self.matcher, self.projection, a, b)

    def explain_pair(self, view: ReaderView, a: str, b: str) -> PairEvidence:
        """Field-by-field evidence for two mentions (``P<fragment>-<n>`` each) the
        reviewer may see."""
        with self._lock:
            self._catch_up(settle=True)
            return self._explain(self._mention_ref(view, a), self._mention_ref(view, b))

    def decide(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> ResolutionDecision:
        """Record a reviewer's decision that mentions ``a`` and ``b`` (both of which they
        may see) are one person (``join``) or not (``apart``), with their reason; the
        people follow at once."""
        resolution.check_kind(kind)
        by = view.reader.id
        with self.transaction() as conn:
            sa, sb = self._mention_ref(view, a), self._mention_ref(view, b)
            resolution.check_pair(sa, sb)
            fids = self._fids([sa[0], sb[0]])
            evidence = asdict(self._explain(sa, sb)) if self.matcher is not None else None
            d = decisions.add(
                conn,
                kind=kind,
                a=(fids[sa[0]], sa[1]),
                b=(fids[sb[0]], sb[1]),
                reason=reason,
                by=by,
                at=self.clock(),
                evidence=evidence,
            )
            self.record(conn, by, "resolution.decision", {"decision": d.id, "kind": kind})
        self._load_decisions()
        return d

    def undo_decision(self, view: ReaderView, decision_id: int, reason: str) -> ResolutionDecision:
        """Withdraw a decision about mentions the reviewer may see: the people are as if
        it had never been made."""
        by = view.reader.id
        with self.transaction() as conn:
            old = decisions.get(conn, decision_id)
            resolution.check_undo(
                decision_id,
                old,
                visible=old is not None and self._decision_visible(view, old),
                undone=decisions.undone(conn, decision_id),
            )
            assert old is not None
            d = decisions.add(
                conn, kind="undo", a=old.a, b=old.b, reason=reason, by=by, at=self.clock(), undoes=decision_id
            )
            self.record(conn, by, "resolution.decision", {"decision": d.id, "kind": "undo", "undoes": decision_id})
        self._load_decisions()
        return d

    def _decision_visible(self, view: ReaderView, d: ResolutionDecision) -> bool:
        return resolution.decision_visible(view, d, self._seqs_of([d.a[0], d.b[0]]))

    def _seqs_of(self, fids: Iterable[str]) -> dict[str, int]:
        return {
            fid: seq for seq, fid in self._select_in("SELECT seq, id FROM fragments WHERE id IN", sorted(set(fids)))
        }

    def relink(self) -> None:
        """Resolve every mention again from the journal and the decisions (a full
        re-link, e.g. after the model was retrained)."""
        self._rebuild()

    def mention_features(self) -> list[Any]:
        """Every mention's features, for training the model on the store's own data."""
        with self._lock:
            self._catch_up(settle=True)
            return resolution.mention_features(self.projection)

    def resolution_decisions(self, view: ReaderView) -> list[ResolutionDecision]:
        """The decisions about mentions the reviewer may see, in the order made."""
        with self._lock:
            ds = decisions.all_decisions(self._conn)
            seq_of = self._seqs_of(decided_fids(ds))
            return [d for d in ds if resolution.decision_visible(view, d, seq_of)]

    def review_queue(self, view: ReaderView, limit: int = 50) -> list[ReviewItem]:
        """Pairs of people the model could not decide on, best first
        (``resolution.review_queue``)."""
        with self._lock:
            self._catch_up(settle=True)
            return resolution.review_queue(
                view,
                self.projection,
                self.matcher,
                self._mention_decisions_cache,
                limit,
                load=self._load,
                mention_id=self.mention_id,
            )

    def person_anchor(self, person_id: str) -> tuple[str, int]:
        """The fragment id and mention index a person id names (to open a case on)."""
        ref = self._person_id_ref(person_id)
        if ref is None:
            raise NotFound("no such person", field="person_id")
        return self._fids([ref[0]])[ref[0]], ref[1]

    # ------------------------------------------------------------------ moving between backends

    def journal(self, after: int = 0) -> Iterator[tuple[int, str, dict[str, Any], int | None]]:
        """Every fragment version after ``after``: (seq, id, document, seq it supersedes)."""
        with self._lock:
            rows = list(self._rows(after))
        yield from rows

    def cases(self) -> list[tuple[str, str, int]]:
        """(case id, fragment id, mention index) of every case: the mention is its child."""
        with self._lock:
            return registry.cases(self._conn)

    @property
    def pseudonym_key(self) -> str:
        with self._lock:
            return str(self._conn.execute("SELECT value FROM meta WHERE key='pseudonym_key'").fetchone()[0])

    def set_pseudonym_key(self, by: str, key: str) -> None:
        """Take another store's pseudonym key, so identity-protected people keep their
        pseudonyms when a store moves (only before anyone has read from this one)."""
        bytes.fromhex(key)
        with self.transaction() as conn:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'pseudonym_key'", (key,))
            self.record(conn, by, "marking.change", {"pseudonym_key": "replaced"})
        self._access_loaded = -2

    def resolution_decision_records(self) -> list[ResolutionDecision]:
        """Every reviewer's decision, undos included, in the order made."""
        with self._lock:
            return decisions.all_decisions(self._conn)

    def add_resolution_decision(self, d: ResolutionDecision) -> None:
        """Record a decision as it was made in another store (moving between backends)."""
        with self.transaction() as conn:
            decisions.add(
                conn,
                kind=d.kind,
                a=d.a,
                b=d.b,
                reason=d.reason,
                by=d.decided_by,
                at=d.decided_at,
                undoes=d.undoes,
                evidence=d.evidence,
            )
            self.record(conn, d.decided_by, "resolution.decision", {"kind": d.kind, "imported": True})
        self._load_decisions()

    def incident_decision_records(self) -> list[incidents.IncidentDecision]:
        """Every incident decision, undos included, in the order made."""
        with self._lock:
            return incidents.all_decisions(self._conn)

    def add_incident_decision(self, d: incidents.IncidentDecision) -> int:
        """Record an incident decision as it was made in another store; returns its id here."""
        with self.transaction() as conn:
            new = incidents.add(
                conn, kind=d.kind, a=d.a, b=d.b, reason=d.reason, by=d.decided_by, at=d.decided_at, undoes=d.undoes
            )
            self.record(conn, d.decided_by, "incident.decision", {"kind": d.kind, "imported": True})
        with self._lock:
            self._load_incident_decisions()
        return new.id

    def all_share_records(self) -> tuple[list[registry.ShareRequest], list[registry.ShareDecision]]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM share_requests ORDER BY at, id").fetchall()
            return [registry.ShareRequest(*r) for r in rows], registry.decisions(self._conn)

    def restore_share_records(
        self, by: str, requests: list[registry.ShareRequest], decided: list[registry.ShareDecision]
    ) -> None:
        with self.transaction() as conn:
            registry.restore_shares(conn, requests, decided)
            self.record(conn, by, "marking.change", {"share_records": "restored", "decisions": len(decided)})

    # The audit, tokens and shared meaning (graph.moving): one transaction per kind,
    # refused if the store already holds that kind, audited as ``store.restore``.

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """Read several tables as of one moment (a read transaction of its own)."""
        with self._lock:
            own = not self._conn.in_transaction
            if own:
                self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if own:
                    self._conn.execute("ROLLBACK")

    def all_audit_records(self) -> moving.AuditRecords:
        """The whole audit log, oldest first, with its signed checkpoints."""
        with self._snapshot() as conn:
            rows = conn.execute(
                "SELECT seq, at, actor, action, purpose, detail, prev_hash, hash FROM audit ORDER BY seq"
            )
            entries = [
                audit.AuditEntry(q, at, who, what, why, orjson.loads(d), p, h)
                for q, at, who, what, why, d, p, h in rows
            ]
            return moving.AuditRecords(entries, audit.checkpoints(conn))

    def restore_audit(self, by: str, records: moving.AuditRecords) -> None:
        """Put another store's audit log here verbatim (times, actors, hashes), so it
        still verifies and this store's chain continues from its head. Refused unless
        the chain is intact (``BrokenChain``) and this store's audit is empty (``NotEmpty``)."""
        moving.check_chain(records)
        with self.transaction() as conn:
            moving.refuse_if_held("audit entries", conn.execute("SELECT count(*) FROM audit").fetchone()[0])
            for e in records.entries:
                body = moving.detail_bytes(e)
                conn.execute(
                    "INSERT INTO audit VALUES (?,?,?,?,?,?,?,?)",
                    (e.seq, e.at, e.actor, e.action, e.purpose, body, e.prev_hash, e.hash),
                )
            audit.rebuild_index(conn)
            conn.executemany(
                "INSERT INTO audit_checkpoints VALUES (?,?,?,?,?,?)",
                [(c.seq, c.at, c.hash, c.key_id, c.public_key, c.signature) for c in records.checkpoints],
            )
            self.record(conn, by, "store.restore", moving.restore_detail(records))

    def all_token_records(self) -> list[moving.TokenRecord]:
        """Every bearer token's hash and metadata (the tokens themselves were never kept)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, reader_id, hash, created_at, expires_at, revoked_at FROM tokens ORDER BY created_at, id"
            )
            return [moving.TokenRecord(i, r, h.hex(), c, e, v) for i, r, h, c, e, v in rows]

    def restore_tokens(self, by: str, tokens: Sequence[moving.TokenRecord]) -> None:
        """Put another store's token hashes here (their readers must be here already)."""
        with self.transaction() as conn:
            moving.refuse_if_held("tokens", conn.execute("SELECT count(*) FROM tokens").fetchone()[0])
            conn.executemany(
                "INSERT INTO tokens VALUES (?,?,?,?,?,?)",
                [(t.id, t.reader_id, bytes.fromhex(t.hash), t.created_at, t.expires_at, t.revoked_at) for t in tokens],
            )
            self.record(conn, by, "store.restore", {"restored": "tokens", "tokens": len(tokens)})

    _MEANING_TABLES = (
        ("acknowledgements", "acknowledgements"),
        ("notices", "notices"),
        ("notice_reads", "notice read marks"),
        ("webhooks", "webhooks"),
        ("webhook_outbox", "webhook deliveries"),
    )

    def all_meaning_records(self) -> moving.MeaningRecords:
        """Acknowledgements, notices and read marks, webhooks with their secrets, the outbox."""
        with self._snapshot() as conn:
            return moving.MeaningRecords(
                [meaning.Acknowledgement(*r) for r in conn.execute("SELECT * FROM acknowledgements ORDER BY at, id")],
                [meaning.NoticeRecord(*r) for r in conn.execute("SELECT * FROM notices ORDER BY at, id")],
                [
                    moving.NoticeRead(*r)
                    for r in conn.execute("SELECT notice_id, reader_id, at FROM notice_reads ORDER BY at, notice_id")
                ],
                [
                    moving.WebhookRecord(a, u, sec, bool(on), at)
                    for a, u, sec, on, at in conn.execute(
                        "SELECT agency, url, secret, active, updated_at FROM webhooks ORDER BY agency"
                    )
                ],
                [
                    moving.OutboxRecord(*r)
                    for r in conn.execute(
                        "SELECT id, agency, created_at, kind, fragment_id, by_agency, state, attempts, next_at, "
                        "last_error, delivered_at FROM webhook_outbox ORDER BY created_at, id"
                    )
                ],
            )

    def restore_meaning(self, by: str, records: moving.MeaningRecords) -> None:
        """Put another store's shared meaning here as it was (ids, times, states); the
        readers who acknowledged or marked notices read must be here already."""
        with self.transaction() as conn:
            for table, kind in self._MEANING_TABLES:
                moving.refuse_if_held(kind, conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            conn.executemany(
                "INSERT INTO acknowledgements VALUES (?,?,?,?,?,?,?,?)",
                [
                    (a.id, a.subject, a.subject_kind, a.reader_id, a.agency, a.kind, a.text, a.at)
                    for a in records.acknowledgements
                ],
            )
            conn.executemany(
                "INSERT INTO notices VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (n.id, n.at, n.kind, n.fragment_id, n.correction_id, n.by_agency, n.reader_id, n.agency, n.why)
                    for n in records.notices
                ],
            )
            conn.executemany(
                "INSERT INTO notice_reads VALUES (?,?,?)", [(r.notice_id, r.reader_id, r.at) for r in records.reads]
            )
            conn.executemany(
                "INSERT INTO webhooks VALUES (?,?,?,?,?)",
                [(w.agency, w.url, w.secret, int(w.active), w.updated_at) for w in records.webhooks],
            )
            conn.executemany(
                "INSERT INTO webhook_outbox VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [tuple(o.__dict__.values()) for o in records.outbox],
            )
            self.record(conn, by, "store.restore", {"restored": "shared meaning", **records.counts()})

    def patterns(self) -> PatternEngine:
        """The store's pattern engine (created on first use; its cache lives in memory)."""
        with self._lock:
            if self._patterns is None:
                from graph.patterns.embedded_source import EmbeddedCases

                self._patterns = PatternEngine(EmbeddedCases(self))
            return self._patterns

    @contextmanager
    def locked(self) -> Iterator[Projection]:
        """Hold the store still while reading the projection directly (tests, benchmarks)."""
        self._catch_up()
        with self._lock:
            self.projection.settle()
            yield self.projection

    def write_derived(self, limit: int = 2_000) -> int:
        """Work out some of the people that writes left pending (``_apply_to``): the
        embedded store's derived graph is its projection, settled behind the
        acknowledgement, a part at a time (``SETTLE_PART`` mentions' neighbourhoods) so
        that the lock is let go between parts and requests get in. Returns how many were
        pending (0: up to date); the API calls it until it returns 0."""
        with self._lock:
            n = self.projection.unsettled
            if n:
                with collector_paused():
                    self.projection.settle(limit=min(limit, SETTLE_PART))
            return n

    def derived_behind(self) -> int:
        with self._lock:
            return self.projection.unsettled
