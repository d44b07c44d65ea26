"""The embedded backend: SQLite (WAL) as the system of record, the projection in memory.

One writer at a time: every write runs under this process's write lock inside
``BEGIN IMMEDIATE``, and is committed with ``synchronous=FULL`` (the WAL is fsync'd)
before ``append`` returns, so an acknowledged fragment survives a crash or power cut.
The in-memory projection is rebuilt from the journal on open and catches up with any
commit made by another connection (``PRAGMA data_version``) before each read.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
import orjson

from graph.chronology import ChronologyFilters, ChronologyLine, chronology, person_ref
from graph.errors import StoreBusy, StoreCorrupt, StoreError, StoreFull, StoreNotInitialised
from graph.projection import FragmentText, Projection
from graph.search import match_people
from graph.store import AppendOutcome, PersonSummary, Store, body_hash, canonical_bytes, fragment_id

SCHEMA_VERSION = 1

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

_CHUNK = 500


def _translate(exc: sqlite3.Error) -> StoreError:
    msg = str(exc).lower()
    if "locked" in msg or "busy" in msg:
        return StoreBusy("the store is busy with another writer; try again shortly")
    if "full" in msg:
        return StoreFull("the disk holding the store is full; nothing was written")
    if "malformed" in msg or "not a database" in msg:
        return StoreCorrupt("the store file is damaged or not a Jigsaw store")
    return StoreError(f"store error: {type(exc).__name__}")


class EmbeddedStore(Store):
    """SQLite journal + in-memory projection. Use ``EmbeddedStore.open(path)``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.RLock()
        self.projection = Projection(text_source=self._details)
        self._data_version = -1
        self._catch_up()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, create: bool = False) -> EmbeddedStore:
        """Open the store at ``path``; with ``create``, make it if it is not there."""
        p = Path(path)
        if not p.exists() and not create:
            raise StoreNotInitialised(f"no Jigsaw store at {p}; run `jigsaw init` first")
        if create:
            p.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(p, isolation_level=None, check_same_thread=False, timeout=5.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(_DDL)
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreCorrupt(f"store schema version {row[0]} is not the supported {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise _translate(exc) from None
        return cls(p, conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------------ journal

    def _rows(self, after: int) -> Iterator[tuple[int, str, dict[str, Any], int | None]]:
        cur = self._conn.execute("SELECT seq, id, body, supersedes FROM fragments WHERE seq > ? ORDER BY seq", (after,))
        loads = orjson.loads
        while True:
            batch = cur.fetchmany(10_000)
            if not batch:
                return
            for seq, fid, body, sup in batch:
                yield seq, fid, loads(body), sup

    def _catch_up(self) -> None:
        """Apply any fragments committed since the projection last looked (by anyone)."""
        with self._lock:
            try:
                version = self._conn.execute("PRAGMA data_version").fetchone()[0]
                if version == self._data_version:
                    return
                self._data_version = version
                self._apply(self._rows(self.projection.last_seq))
            except sqlite3.Error as exc:
                raise _translate(exc) from None

    def _apply(self, rows: Iterable[tuple[int, str, dict[str, Any], int | None]]) -> None:
        """Project fragments with the collector out of the way.

        The projection is many small, long-lived, acyclic objects: collecting while it
        grows is wasted work, and once built it is frozen out of the collector's sight,
        or every full collection rescans millions of objects (measured: import speed fell
        by half as the store grew before this; docs/benchmarks.md).
        """
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self.projection.extend(rows)
        finally:
            if was_enabled:
                gc.enable()
            gc.freeze()

    def _select_in(self, sql: str, values: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (ending ``IN``) for ``values``, in chunks SQLite accepts."""
        for k in range(0, len(values), _CHUNK):
            chunk = values[k : k + _CHUNK]
            yield from self._conn.execute(f"{sql} ({','.join('?' * len(chunk))})", chunk)

    def replay(self) -> Projection:
        """A fresh projection built from the whole journal (for checks; the store's own is untouched)."""
        p = Projection(text_source=self._details)
        with self._lock:
            p.extend(self._rows(0))
        return p

    def append(self, docs: Sequence[dict[str, Any]], *, all_or_nothing: bool = False) -> list[AppendOutcome]:
        prepared = []
        for i, doc in enumerate(docs):
            fid = fragment_id(doc["agency"]["id"], doc["record_ref"])
            body = canonical_bytes(doc)
            prepared.append((i, fid, body, body_hash(body), doc))
        with self._lock:
            self._catch_up()
            try:
                return self._append_locked(prepared, all_or_nothing)
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise _translate(exc) from None

    def _append_locked(self, prepared: list[Any], all_or_nothing: bool) -> list[AppendOutcome]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
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
                    outcomes.append(
                        AppendOutcome(
                            i,
                            "rejected",
                            fid,
                            None,
                            "record_ref",
                            "this agency already shared a different fragment under this record reference; "
                            "send a correction (supersedes) instead of reusing the reference",
                        )
                    )
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
                    problem = "names no earlier fragment from this agency"
                else:
                    sup_seq = found[1]
                    taken = (
                        sup_seq in superseded_now
                        or conn.execute("SELECT 1 FROM fragments WHERE supersedes = ?", (sup_seq,)).fetchone()
                    )
                    if taken:
                        problem = "that fragment has already been superseded; correct its latest version"
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
        if all_or_nothing and any(o.status == "rejected" for o in outcomes):
            conn.execute("ROLLBACK")
            return [
                AppendOutcome(o.index, "not_written", o.fragment_id) if o.status == "accepted" else o for o in outcomes
            ]
        if rows:
            conn.executemany("INSERT INTO fragments VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        self._data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        self._apply(to_apply)
        return outcomes

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
        self._catch_up()
        return len(self.projection.fragments)

    # ------------------------------------------------------------------ reading

    def _visible(self, seq: int) -> bool:
        return self.projection.is_current(seq)

    def _any_version(self, seq: int) -> bool:
        """Earlier versions a chronology may list as replaced: every one, until readers
        exist (the access issue makes this, like ``_visible``, the reader's predicate)."""
        return seq in self.projection.fragments

    def _pid(self, person_id: str) -> int | None:
        if not person_id.startswith("P") or not person_id[1:].isdigit():
            return None
        pid = int(person_id[1:])
        return pid if self.projection.person_visible(pid, self._visible) else None

    def _summary(self, pid: int) -> PersonSummary:
        p = self.projection
        vis = self._visible
        person = p.people[pid]
        agencies = sorted({p.fragments[s].agency for s, _, _ in person.mentions if vis(s)})
        events = len(p.events_of(pid, vis))
        return PersonSummary(
            person_id=person_ref(pid),
            names=[v for v, _ in p.person_values(pid, "name", vis)],
            dobs=[v for v, _ in p.person_values(pid, "dob", vis)],
            identifiers=[
                {"scheme": v[0], "value": v[1], "verified": v[2]} for v, _ in p.person_values(pid, "identifier", vis)
            ],
            descriptions=[v for v, _ in p.person_values(pid, "description", vis)],
            events=events,
            agencies=agencies,
        )

    def person(self, person_id: str) -> PersonSummary | None:
        self._catch_up()
        with self._lock:
            pid = self._pid(person_id)
            return self._summary(pid) if pid is not None else None

    def find_people(self, query: str, *, limit: int = 20) -> list[PersonSummary]:
        self._catch_up()
        with self._lock:
            pids = match_people(self.projection, query, self._visible, limit=limit)
            return [self._summary(pid) for pid in pids]

    def chronology(self, person_id: str, filters: ChronologyFilters | None = None) -> list[ChronologyLine]:
        self._catch_up()
        with self._lock:
            pid = self._pid(person_id)
            if pid is None:
                return []
            return chronology(self.projection, pid, self._visible, filters, history_visible=self._any_version)

    def network(self, person_id: str, *, radius: int = 1) -> nx.MultiDiGraph:
        self._catch_up()
        with self._lock:
            pid = self._pid(person_id)
            if pid is None:
                return nx.MultiDiGraph()
            p, vis = self.projection, self._visible
            people = {pid}
            frontier = {pid}
            for _ in range(radius):
                nxt: set[int] = set()
                for q in frontier:
                    for eid in p.events_of(q, vis):
                        nxt.update(x for x, _, s in p.events[eid].people if vis(s))
                    for rkey in p.person_relationships.get(q, ()):
                        if any(vis(s) for s in p.relationships[rkey]):
                            nxt.update((rkey[0], rkey[2]))
                frontier = nxt - people
                people |= nxt
            return p.to_networkx(vis, people=people)

    @contextmanager
    def locked(self) -> Iterator[Projection]:
        """Hold the store still while reading the projection directly (tests, benchmarks)."""
        self._catch_up()
        with self._lock:
            yield self.projection
