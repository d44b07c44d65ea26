"""The Neo4j backend: the same Store contract on a graph database, for a region.

What lives where
    Neo4j holds everything durable: the journal of fragments, the readers, cases,
    tokens, share requests, decisions and grants, the reviewers' resolution decisions,
    and the hash-chained audit. It also holds the derived graph (people, events,
    places, agencies) for analysts' Cypher, written from the journal *behind* the writes
    (see "The derived graph" below).
    Every statement is a named constant in ``graph.cypher``, parameters only.

    Each API replica keeps the projection (``graph.projection``) as a cache of the
    journal, exactly as the embedded store does, and catches it up from Neo4j before
    each request (one small read of the journal head). The projection decides who is
    who; it is the same code on both backends, so both give the same chronology.

Reading as a reader
    The access decision for a reader's request is evaluated *in Cypher*
    (``graph.cypher.DECIDE``), and the fragment bodies a reader's answer is built from are
    fetched with the same predicate (``BODIES_AS_READER``): a body the reader may not see
    is never returned by the database for that request. The replica tells the query which
    fragments mention a child of one of the reader's cases (the projection knows which
    mention is the child); agency, grants, audience, named agencies and clearances are
    checked by the database against the reader's entitlements, read afresh per request.

Writing
    ``append`` is one explicit write transaction: lock the journal's head node (writers
    from every replica queue there), check duplicates and corrections, allocate seqs,
    ``UNWIND`` the new fragments in, extend the audit chain, commit. The driver's managed
    transactions retry transient errors (leader switch, deadlock) with backoff; the work
    function is pure in Python state, so a retry repeats it exactly. Acknowledged means
    committed: Neo4j's transaction log is flushed on commit. The writing replica projects
    the new fragments before its next answer, from memory; other replicas read them when
    they next catch up.

The derived graph
    ``:Person``, ``:Event`` and ``:Place`` nodes are derived, so they are not written in
    the append's transaction (working them out costs more than the journal write itself).
    Each replica runs a projector (``write_derived``, every ``JIGSAW_DERIVED_INTERVAL``
    seconds) that writes the people and events of fragments journaled since the derived
    graph was last written, under a lock node, from its caught-up projection. Decisions
    and erasures rewrite the people they touch at once. Every derived write records the
    journal state it was worked out from; one from an older state than the last written
    is refused and worked out again, so replicas never put back what a newer one
    replaced. Readers' answers never come from the derived graph: it is for analysts.

The ``neo4j`` driver is an optional extra (``pip install 'jigsaw-safeguarding[neo4j]'``),
imported only when this backend is opened.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson

from graph import audit, cypher, decisions, incidents, meaning, moving, registry, resolution, retention
from graph.access import Decision, FragmentAccess, Purpose, Reader, needed_clearances
from graph.errors import InvalidDecision, NotFound, StoreError
from graph.meaning import Acknowledgement, Delivery, Notice, NoticeRecord, Outstanding, Webhook
from graph.patterns.engine import PatternEngine
from graph.patterns.facts import FACTS_VERSION
from graph.projection import FragmentText, Projection, collector_paused
from graph.resolution import Matcher, PairEvidence, ResolutionDecision, ReviewItem, decided_fids, decision_pairs
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

log = logging.getLogger(__name__)

_PAGE = 5_000  # fragments per read when catching up
_BATCH = 1_000  # rows per UNWIND when writing
_FACTS_PAGE = 50_000  # kept pattern facts per read (about 225 bytes each)
_PENDING_MAX = 50_000  # own fragments held for projecting before they are read back instead
_DERIVED_ROUND = 2_000  # fragments per round of the derived graph's projector
_DERIVED_TRIES = 8  # rounds refused because another replica wrote from a newer state


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DriverMissing(StoreError):
    """The neo4j driver is not installed."""


def _driver_module() -> Any:
    try:
        import neo4j
    except ImportError:  # pragma: no cover - depends on the environment
        raise DriverMissing(
            "JIGSAW_BACKEND=neo4j needs the Neo4j driver: pip install 'jigsaw-safeguarding[neo4j]'"
        ) from None
    return neo4j


class Neo4jStore(Store):
    """The Store contract on Neo4j. Open with ``Neo4jStore.open(uri, user, password)``;
    tests pass a driver of their own to ``__init__``."""

    def __init__(
        self,
        driver: Any,
        database: str = "neo4j",
        *,
        clock: Callable[[], str] = utc_now,
        matcher: Matcher | None = None,
        bookmarks: Any = None,
    ) -> None:
        self._driver = driver
        # every session of this replica shares one bookmark manager, so each transaction
        # is causally after the ones it ran before: on a cluster a read routed to a
        # secondary waits until that secondary has what this replica wrote or saw
        self._bookmarks = bookmarks
        self.database = database
        self.clock = clock
        self.matcher = matcher
        self._lock = threading.RLock()
        self._pseudonym_key = b""
        self._decisions_at = -1
        self._erasures_seen = 0
        self._cases_seen = -1  # cases ever opened, as the journal's head last said
        self.retention_policy = retention.RetentionPolicy()
        self._mention_decisions_cache: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        self._incident_pairs_cache: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
        self._fid_seq: dict[str, int] = {}
        # fragments this replica wrote and has not projected yet: the next catch-up takes
        # them from here rather than reading them back (bounded: see ``append``)
        self._pending: dict[int, tuple[int, str, dict[str, Any], int | None]] = {}
        self._case_cache: tuple[int, dict[str, tuple[int, int]], dict[int, frozenset[str]]] | None = None
        self.projection = self._new_projection()
        self._source = ViewSource(
            projection=self.projection,
            load=self._load,
            fids=self._fids,
            seq_of_prefix=self._seq_of_prefix,
            cases_of=self._cases_of,
            granted=self._granted_unused,
            pseudonym=self._pseudonym,
            case_anchors=self._case_anchors,
            lock=self._lock,
            matcher=matcher,
            mention_decisions=lambda: self._mention_decisions_cache,
            incident_decisions=lambda: self._incident_pairs_cache,
            settle=self._settle,
        )
        self._setup()
        self._catch_up()

    @classmethod
    def open(
        cls,
        uri: str,
        user: str,
        password: str,
        *,
        database: str = "neo4j",
        matcher: Matcher | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> Neo4jStore:
        """Connect (checking the server answers), create the constraints and indexes if
        they are missing, and build this replica's projection from the journal."""
        neo4j = _driver_module()
        driver = neo4j.GraphDatabase.driver(uri, auth=(user, password))
        try:
            driver.verify_connectivity()
        except Exception as exc:
            driver.close()
            raise StoreError(f"cannot reach Neo4j at {uri}: {type(exc).__name__}") from None
        return cls(driver, database, clock=clock, matcher=matcher, bookmarks=neo4j.GraphDatabase.bookmark_manager())

    def close(self) -> None:
        self._driver.close()

    # ------------------------------------------------------------------ running Cypher

    @staticmethod
    def _run(tx: Any, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the statement ``graph.cypher.<name>`` with ``params`` in ``tx``."""
        statement = getattr(cypher, name)
        return [dict(record) for record in tx.run(statement, params)]

    def _session(self) -> Any:
        """A session chained after this replica's earlier transactions (its bookmarks)."""
        if self._bookmarks is None:
            return self._driver.session(database=self.database)
        return self._driver.session(database=self.database, bookmark_manager=self._bookmarks)

    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """One statement in a managed read transaction (retried on transient errors)."""
        with self._session() as session:
            return list(session.execute_read(lambda tx: self._run(tx, name, **params)))

    def _write(self, work: Callable[[Any], Any]) -> Any:
        """``work(tx)`` in one managed write transaction (retried on transient errors)."""
        with self._session() as session:
            return session.execute_write(work)

    def _head(self) -> list[dict[str, Any]]:
        """The journal's head, read where writes are made (the cluster's leader), so a
        replica sees every commit, by any replica, before it answers; the bookmark this
        yields chains its next reads after them, wherever they are routed."""
        records, _, _ = self._driver.execute_query(
            cypher.JOURNAL_HEAD, database_=self.database, routing_="w", bookmark_manager_=self._bookmarks
        )
        return [dict(r) for r in records]

    def _setup(self) -> None:
        with self._session() as session:
            for statement in cypher.CONSTRAINTS:
                session.run(statement).consume()

        def ensure(tx: Any) -> str:
            rows = self._run(
                tx, "ENSURE_META", pseudonym_key=secrets.token_hex(32), at=self.clock(), genesis=audit.GENESIS
            )
            return str(rows[0]["pseudonym_key"])

        self._pseudonym_key = bytes.fromhex(self._write(ensure))

    # ------------------------------------------------------------------ the projection

    def _new_projection(self) -> Projection:
        return Projection(text_source=self._details, matcher=self.matcher, docs=self._load)

    def _rows(self, after: int, *, pending: bool = False) -> Iterator[tuple[int, str, dict[str, Any], int | None]]:
        """The journal after ``after``, in order. ``pending``: take the fragments this
        replica wrote itself from memory (only for extending the projection)."""
        loads = orjson.loads
        while True:
            mine = self._pending.pop(after + 1, None) if pending else None
            if mine is not None:
                yield mine
                after += 1
                continue
            page = self._read("FRAGMENTS_AFTER", after=after, limit=_PAGE)
            if not page:
                return
            for r in page:
                self._fid_seq[r["fid"]] = r["seq"]
                if pending:
                    self._pending.pop(r["seq"], None)
                yield r["seq"], r["fid"], loads(r["body"]), r["supersedes"]
            after = page[-1]["seq"]

    def _catch_up(self) -> None:
        """Project fragments committed since this replica last looked (by any replica)."""
        with self._lock:
            head = self._head()
            last, decisions_at, erasures = (
                (head[0]["last_seq"], head[0]["decisions"], head[0]["erasures"]) if head else (0, 0, 0)
            )
            if head:
                self._registry_changes(head[0]["cases"], head[0]["pseudonym_key"])
            if erasures != self._erasures_seen:  # someone erased content: forget it here too
                self._erasures_seen = erasures
                self._pending.clear()
                self._decisions_at = decisions_at
                self._load_decisions()
                self._rebuild()
                return
            if decisions_at != self._decisions_at:
                # the people affected are worked out again at once (Projection.set_decisions),
                # as on the embedded store: no rebuild
                self._decisions_at = decisions_at
                self._load_decisions()
            if last == self.projection.last_seq:
                return
            with collector_paused():
                if self.projection.last_seq == 0:
                    self.projection.build(lambda: self._rows(0, pending=True))
                else:
                    self.projection.extend(self._rows(self.projection.last_seq, pending=True))
            self._case_cache = None

    def _registry_changes(self, cases: int, key: str | None) -> None:
        """What another replica may have changed without moving the journal: a case
        opened (the case map is worked out again) or the pseudonym key replaced."""
        if cases != self._cases_seen:
            self._cases_seen = cases
            self._case_cache = None
        if key and key != self._pseudonym_key.hex():
            self._pseudonym_key = bytes.fromhex(key)
            self._source.cache.clear()

    def _settle(self) -> None:
        """Project this replica's own writes before a view answers (``append`` leaves
        them pending, so that acknowledging a write does not wait for projecting it)."""
        if self._pending:
            self._catch_up()

    def _rebuild(self) -> None:
        self._pending.clear()
        fresh = self._new_projection()
        fresh.set_decisions(*self._mention_decisions_cache)
        fresh.set_incident_decisions(*self._incident_pairs_cache)
        with collector_paused():
            fresh.build(lambda: self._rows(0))
        self.projection = fresh
        self._source.projection = fresh
        self._source.cache.clear()
        self._case_cache = None

    def replay(self) -> Projection:
        """A fresh projection from the whole journal (for checks)."""
        p = self._new_projection()
        p.set_decisions(*self._mention_decisions_cache)
        p.set_incident_decisions(*self._incident_pairs_cache)
        p.build(lambda: self._rows(0))
        return p

    def _load_decisions(self) -> None:
        ds = self.resolution_decision_records()
        joins, aparts = decision_pairs(ds, self._seqs_of(decided_fids(ds)))
        self._mention_decisions_cache = (joins, aparts)
        self.projection.set_decisions(joins, aparts)
        # incident decisions are numbered with them (graph/incidents.py)
        ids = self.incident_decision_records()
        self._incident_pairs_cache = incidents.decision_pairs(ids, self._seqs_of({f for d in ids for f in (d.a, d.b)}))
        self.projection.set_incident_decisions(*self._incident_pairs_cache)
        self._source.cache.clear()

    # ------------------------------------------------------------------ journal

    def append(
        self, docs: Sequence[dict[str, Any]], *, all_or_nothing: bool = False, actor: str = "import"
    ) -> list[AppendOutcome]:
        """Journal documents in one transaction (see ``Store.append``): the fragments, the
        audit entry and any correction's notices commit together, and that is the
        acknowledgement. This replica projects them before its next answer (from memory,
        not read back); the derived graph is written behind, by ``write_derived``."""
        prepared = prepare(docs)
        at = self.clock()
        outcomes, rows = self._write(lambda tx: self._stage(tx, prepared, all_or_nothing, actor, at))
        if rows:
            docs_by_seq = {o.seq: prepared[o.index][4] for o in outcomes if o.status == "accepted"}
            with self._lock:
                if len(self._pending) + len(rows) > _PENDING_MAX:
                    self._pending.clear()  # a bulk load nobody reads meanwhile: read it back later
                for r in rows:
                    self._fid_seq[r["fid"]] = r["seq"]
                    if r["seq"] > self.projection.last_seq:
                        self._pending[r["seq"]] = (r["seq"], r["fid"], docs_by_seq[r["seq"]], r["supersedes"])
        return outcomes

    def _stage(
        self, tx: Any, prepared: list[Any], all_or_nothing: bool, actor: str, at: str
    ) -> tuple[list[AppendOutcome], list[dict[str, Any]]]:
        """One append inside its transaction. Pure in Python state: a retry redoes it all."""
        last_seq = self._run(tx, "LOCK_JOURNAL")[0]["last_seq"]
        wanted = {fid for _, fid, _, _, _ in prepared}
        for _, _, _, _, doc in prepared:
            sup = doc.get("supersedes")
            if sup:
                wanted.add(fragment_id(doc["agency"]["id"], sup["record_ref"]))
        existing: dict[str, tuple[bytes, int, bool]] = {}
        for k in range(0, len(wanted), _BATCH):
            for r in self._run(tx, "EXISTING_FRAGMENTS", fids=sorted(wanted)[k : k + _BATCH]):
                existing[r["fid"]] = (bytes.fromhex(r["hash"]), r["seq"], r["superseded"])
        outcomes: list[AppendOutcome] = []
        rows: list[dict[str, Any]] = []
        pairs: list[dict[str, int]] = []  # (correction, the version it corrects)
        superseded_now: set[int] = set()
        next_seq = last_seq + 1
        for i, fid, body, h, doc in prepared:
            prior = existing.get(fid)
            if prior is not None and prior[1] > 0:
                if prior[0] == h:
                    outcomes.append(AppendOutcome(i, "duplicate", fid, prior[1]))
                else:
                    outcomes.append(reused_reference(i, fid))
                continue
            sup_seq = None
            sup = doc.get("supersedes")
            if sup:
                found = existing.get(fragment_id(doc["agency"]["id"], sup["record_ref"]))
                problem = None
                if found is None:
                    problem = NO_EARLIER
                elif found[2] or found[1] in superseded_now:
                    problem = ALREADY_SUPERSEDED
                if problem:
                    outcomes.append(AppendOutcome(i, "rejected", fid, None, "supersedes.record_ref", problem))
                    continue
                assert found is not None
                sup_seq = found[1]
                superseded_now.add(sup_seq)
                pairs.append({"seq": next_seq, "supersedes": sup_seq})
            seq = next_seq
            next_seq += 1
            existing[fid] = (h, seq, False)
            rows.append(_fragment_row(seq, fid, doc, body, h, sup_seq) | self._review_date(doc))
            outcomes.append(AppendOutcome(i, "accepted", fid, seq))
        refused = all_or_nothing_refused(outcomes) if all_or_nothing else None
        if refused is not None:
            return refused, []
        if rows:
            for k in range(0, len(rows), _BATCH):
                self._run(tx, "CREATE_FRAGMENTS", rows=rows[k : k + _BATCH])
            if pairs:
                self._run(tx, "LINK_CORRECTIONS", pairs=pairs)
            self._run(tx, "SET_JOURNAL_HEAD", last_seq=next_seq - 1)
            detail: dict[str, Any] = {"fragments": [r["fid"] for r in rows]}
            corrections = [r["fid"] for r in rows if r["supersedes"] is not None]
            if corrections:
                detail["corrections"] = corrections
            self._audit(tx, at=at, actor=actor, action="fragment.write", purpose=None, detail=detail)
            self._notify_corrections(tx, rows, actor, at)
        return outcomes, rows

    def get_fragment(self, fid: str) -> dict[str, Any] | None:
        rows = self._read("FRAGMENT_BODY", fid=fid)
        return orjson.loads(rows[0]["body"]) if rows else None

    def fragment_count(self) -> int:
        return int(self._read("FRAGMENT_COUNT")[0]["n"])

    def _pattern_facts(self, seqs: Sequence[int] | None = None) -> dict[int, bytes]:
        """Pattern facts kept on the fragments (encoded), of these or of all of them."""
        out: dict[int, bytes] = {}
        if seqs is not None:
            want = list(seqs)
            for k in range(0, len(want), _PAGE):
                for r in self._read("KEPT_FACTS", seqs=want[k : k + _PAGE], version=FACTS_VERSION):
                    out[r["seq"]] = r["facts"].encode()
            return out
        after = 0
        while page := self._read("KEPT_FACTS_AFTER", after=after, limit=_FACTS_PAGE, version=FACTS_VERSION):
            for r in page:
                out[r["seq"]] = r["facts"].encode()
            after = page[-1]["seq"]
        return out

    def _keep_pattern_facts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Keep pattern facts on the fragments for every replica's next scan. A cache: if
        the write fails they are simply not kept (the next scan makes them again)."""
        if not rows:
            return
        params = [{"seq": s, "facts": b.decode()} for s, b in rows]

        def work(tx: Any) -> None:
            for k in range(0, len(params), _BATCH):
                self._run(tx, "KEEP_FACTS", rows=params[k : k + _BATCH], version=FACTS_VERSION)

        try:
            self._write(work)
        except Exception as exc:  # the driver's errors, whatever they are: a cache is not worth failing for
            log.info("pattern facts not kept: %s", type(exc).__name__)

    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Bodies for the store itself (projection, system view): never a reader's answer."""
        out: dict[int, dict[str, Any]] = {}
        want = list(seqs)
        for k in range(0, len(want), _PAGE):
            for r in self._read("FRAGMENT_BODIES", seqs=want[k : k + _PAGE]):
                out[r["seq"]] = orjson.loads(r["body"])
        return out

    def _details(self, seqs: Iterable[int]) -> dict[int, FragmentText]:
        out = {}
        for r in self._read("FRAGMENT_TEXT", seqs=list(seqs)):
            out[r["seq"]] = FragmentText(
                r["fid"], r["record_ref"], r["recorded_at"], r["shared_at"], r["summary"], r["when_text"]
            )
        return out

    def _fids(self, seqs: Iterable[int]) -> dict[int, str]:
        frags = self.projection.fragments
        return {s: frags[s].order for s in seqs if s in frags}

    def _seqs_of(self, fids: Iterable[str]) -> dict[str, int]:
        want = sorted(set(fids))
        found = {f: self._fid_seq[f] for f in want if f in self._fid_seq}
        missing = [f for f in want if f not in found]
        if missing:
            found.update({r["fid"]: r["seq"] for r in self._read("SEQS_OF_FIDS", fids=missing)})
        return found

    def _seq_of_prefix(self, prefix: str) -> int | None:
        rows = self._read("FRAGMENT_BY_PREFIX", prefix="F" + prefix)
        return rows[0]["seq"] if len(rows) == 1 else None

    # ------------------------------------------------------------------ the derived graph

    def _derive(self, pick: Callable[[int], tuple[Sequence[int], int | None]]) -> int:
        """One guarded write of the derived graph. ``pick(done)`` (``done``: how far the
        derived graph is written, by any replica) names the fragments whose people and
        events to rewrite, and the new ``done`` (or None to leave it). The rows are worked
        out from this replica's projection, caught up first; the write is refused if
        another replica has meanwhile written from a newer journal state (or moved
        ``done``), and then worked out again. Returns how many fragments it covered."""
        for _ in range(_DERIVED_TRIES):
            self._catch_up()
            done = int(self._read("DERIVED_DONE")[0]["done"])
            with self._lock:
                state = (self.projection.last_seq, self._decisions_at, self._erasures_seen)
                seqs, new_done = pick(done)
                if not seqs and (new_done is None or new_done == done):
                    return 0
                frags, people, events = self._derived_of(seqs)

            job = partial(
                self._put_derived, done=done, new_done=new_done, state=state, frags=frags, people=people, events=events
            )
            if self._write(job):
                return len(seqs) if new_done is None else new_done - done
        log.warning("derived graph: gave up after %d refused rounds; write_derived will retry", _DERIVED_TRIES)
        return 0

    def _put_derived(
        self,
        tx: Any,
        *,
        done: int,
        new_done: int | None,
        state: tuple[int, int, int],
        frags: set[int],
        people: list[dict[str, Any]],
        events: list[dict[str, Any]],
    ) -> bool:
        """Inside ``_derive``'s transaction: write the rows unless the derived graph has
        moved on meanwhile (``done`` moved, or written from a newer state than ``state``)."""
        d = self._run(tx, "LOCK_DERIVED")[0]
        if new_done is not None and d["done"] != done:
            return False  # another replica wrote this round
        if any(mine < theirs for mine, theirs in zip(state, (d["seq"], d["decisions"], d["erasures"]), strict=True)):
            return False  # it wrote from a newer journal state than ours
        ordered = sorted(frags)
        for k in range(0, len(ordered), _BATCH):
            self._run(tx, "CLEAR_DERIVED", seqs=ordered[k : k + _BATCH])
        for k in range(0, len(people), _BATCH):
            self._run(tx, "WRITE_PEOPLE", people=people[k : k + _BATCH])
        for k in range(0, len(events), _BATCH):
            self._run(tx, "WRITE_EVENTS", events=events[k : k + _BATCH])
        self._run(
            tx,
            "SET_DERIVED",
            done=d["done"] if new_done is None else new_done,
            seq=state[0],
            decisions=state[1],
            erasures=state[2],
        )
        return True

    def _derived_of(self, seqs: Sequence[int]) -> tuple[set[int], list[dict[str, Any]], list[dict[str, Any]]]:
        """The fragments of the people these fragments touch, and those people's derived
        rows (under the replica's lock)."""
        p = self.projection
        pids: set[int] = set()
        for s in seqs:
            if s in p.fragments:
                pids.update(p.mention_people(s))
        people: set[int] = set()
        frags: set[int] = set(seqs)
        for pid in pids:
            if pid not in people:
                found_people, found_seqs = p.component(pid)
                people |= found_people
                frags |= found_seqs
        people_rows, event_rows = self.derived_rows(p, people)
        return frags, people_rows, event_rows

    def _write_derived(self, seqs: Sequence[int]) -> None:
        """Rewrite the people and events of the components these fragments touch now
        (after a resolution decision or an erasure)."""
        self._derive(lambda done: (seqs, None))

    def write_derived(self, limit: int = _DERIVED_ROUND) -> int:
        """Write the derived graph of up to ``limit`` fragments journaled since it was last
        written (by any replica): the projector each API replica runs every
        ``JIGSAW_DERIVED_INTERVAL`` seconds. Returns how many it covered (0: up to date)."""

        def pick(done: int) -> tuple[Sequence[int], int | None]:
            upto = min(self.projection.last_seq, done + limit)
            if upto <= done:  # up to date (or another replica is ahead of this one)
                return (), None
            return [s for s in range(done + 1, upto + 1) if s in self.projection.fragments], upto

        return self._derive(pick)

    def derived_behind(self) -> int:
        """How many fragments of the journal the derived graph has not been written for yet."""
        head = self._head()
        last = int(head[0]["last_seq"]) if head else 0
        return max(0, last - int(self._read("DERIVED_DONE")[0]["done"]))

    def rewrite_derived(self) -> None:
        """Write the whole derived graph from the journal (after a bulk import by
        neo4j-admin, a new linkage model, or if the derived graph is ever in doubt)."""
        self._catch_up()
        with self._lock:
            target = self.projection.last_seq
            seqs = sorted(self.projection.fragments)
        for k in range(0, len(seqs), 10 * _BATCH):
            chunk = seqs[k : k + 10 * _BATCH]
            self._derive(lambda done, chunk=chunk: (chunk, None))  # type: ignore[misc]
        self._derive(lambda done: ((), max(done, target)))

    @staticmethod
    def derived_rows(p: Projection, people: Iterable[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The derived graph of ``people`` (current fragments only) as rows to write."""
        cur = p.is_current
        keys: dict[int, str] = {}
        rows = []
        for pid in sorted(people):
            person = p.people[pid]
            mentions = sorted((s, i, role) for s, i, role in person.mentions if cur(s))
            if not mentions:
                continue
            s0, i0, _ = mentions[0]
            keys[pid] = f"P{p.fragments[s0].order[1 : 1 + ID_CHARS]}-{i0}"
            rows.append(
                {
                    "key": keys[pid],
                    "names": [v for v, _ in p.person_values(pid, "name", cur)],
                    "dobs": [v for v, _ in p.person_values(pid, "dob", cur)],
                    "mentions": [{"seq": s, "idx": i, "role": role} for s, i, role in mentions],
                }
            )
        events = []
        seen: set[int] = set()
        for pid in keys:
            for eid in p.events_of(pid, cur):
                if eid in seen:
                    continue
                seen.add(eid)
                ev = p.events[eid]
                sources = sorted(s for s in ev.sources if cur(s))
                if not sources:
                    continue
                events.append(
                    {
                        "key": f"E{p.fragments[sources[0]].order[1 : 1 + ID_CHARS]}",
                        "kind": ev.kind,
                        "start": ev.start,
                        "end": ev.end,
                        "precision": ev.precision,
                        "sources": sources,
                        "people": [
                            {"key": keys[q], "role": role}
                            for q, role, s in sorted(set(ev.people))
                            if q in keys and cur(s)
                        ],
                        "places": [{"key": k, "text": k} for k in sorted({k for k, s in ev.place if cur(s)})],
                    }
                )
        return rows, events

    # ------------------------------------------------------------------ access

    def _cases(self) -> tuple[dict[str, tuple[int, int]], dict[int, frozenset[str]]]:
        """(case -> its child's mention, person -> their cases), as of now."""
        at = self.projection.last_seq
        if self._case_cache is None or self._case_cache[0] != at:
            rows = self._read("CASES")
            seqs = self._seqs_of(r["fragment_id"] for r in rows)
            anchors: dict[str, tuple[int, int]] = {}
            by_pid: dict[int, set[str]] = {}
            for r in rows:
                seq = seqs.get(r["fragment_id"])
                if seq is None:
                    continue
                people = self.projection.mention_people(seq)
                if r["mention"] < len(people):
                    anchors[r["id"]] = (seq, r["mention"])
                    by_pid.setdefault(people[r["mention"]], set()).add(r["id"])
            self._case_cache = (at, anchors, {k: frozenset(v) for k, v in by_pid.items()})
        return self._case_cache[1], self._case_cache[2]

    def _case_anchors(self) -> dict[str, tuple[int, int]]:
        return self._cases()[0]

    def _cases_of(self, seq: int) -> frozenset[str]:
        """The cases of the children fragment ``seq`` mentions."""
        _, by_pid = self._cases()
        p = self.projection
        meta = p.fragments[seq]
        out: frozenset[str] = frozenset()
        if meta.event is not None and by_pid:
            for pid, role, s in p.events[meta.event].people:
                if s == seq and role == "child":
                    out |= by_pid.get(pid, frozenset())
        return out

    @staticmethod
    def _granted_unused(seq: int, agency: str, purpose: Purpose) -> bool:
        raise AssertionError("on Neo4j the database decides grants (Neo4jReaderView.decision)")

    def _pseudonym(self, viewing_agency: str, seq: int, mention: int) -> str:
        msg = f"{viewing_agency}\x1f{seq}\x1f{mention}".encode()
        return "#" + hmac.new(self._pseudonym_key, msg, hashlib.sha256).hexdigest()[:6].upper()

    def reader_params(self, reader: Reader, purpose: Purpose) -> dict[str, Any]:
        """The reader's entitlements as the access statements' parameters."""
        return {
            "agency": reader.agency,
            "purpose": str(purpose),
            "now": self.clock(),
            "roles": sorted(str(r) for r in reader.roles),
            "clearances": sorted(str(c) for c in reader.clearances),
            "active": reader.active,
        }

    def decide_in_database(
        self, reader: Reader, purpose: Purpose, seqs: Sequence[int], on_case: Sequence[int] | None = None
    ) -> dict[int, str]:
        """The policy's answer for each fragment, computed by Neo4j (``cypher.DECIDE``).
        ``on_case``: the fragments on one of the reader's cases (default: those naming a
        child of one; a reader's view adds the child's circle, ``ReaderView.cases_for``)."""
        params = self.reader_params(reader, purpose)
        if on_case is None:
            on_case = [s for s in seqs if reader.cases & self._cases_of(s)]
        out: dict[int, str] = {}
        for k in range(0, len(seqs), _PAGE):
            for r in self._read("DECIDE", seqs=list(seqs[k : k + _PAGE]), on_case=on_case, **params):
                out[r["seq"]] = r["decision"]
        return out

    def bodies_as_reader(
        self, reader: Reader, purpose: Purpose, seqs: Sequence[int], on_case: Sequence[int] | None = None
    ) -> dict[int, dict[str, Any]]:
        """The bodies of ``seqs`` that the database lets this reader see; no others
        (``on_case`` as for ``decide_in_database``)."""
        params = self.reader_params(reader, purpose)
        if on_case is None:
            on_case = [s for s in seqs if reader.cases & self._cases_of(s)]
        out: dict[int, dict[str, Any]] = {}
        for k in range(0, len(seqs), _PAGE):
            for r in self._read("BODIES_AS_READER", seqs=list(seqs[k : k + _PAGE]), on_case=on_case, **params):
                out[r["seq"]] = orjson.loads(r["body"])
        return out

    def reader(self, reader_id: str) -> Reader:
        rows = self._read("GET_READER", id=reader_id)
        if not rows:
            raise NotFound("no such reader", field="reader_id")
        return _reader(rows[0])

    def view(self, reader_id: str, purpose: str) -> ReaderView:
        self._catch_up()
        reader = self.reader(reader_id)
        p = registry.parse_purpose(purpose)
        view = Neo4jReaderView(self, self._source, reader, p)
        view.source = replace(
            self._source, load=lambda seqs: self.bodies_as_reader(reader, p, seqs, on_case=view.on_case(seqs))
        )
        return view

    def system_view(self) -> ReaderView:
        self._catch_up()
        return SystemView(self._source)

    # ------------------------------------------------------------------ audit

    def _audit(self, tx: Any, *, at: str, actor: str, action: str, purpose: str | None, detail: dict[str, Any]) -> int:
        """Extend the chain inside ``tx`` (the audit head node is locked first)."""
        when, body, fids, pids = audit.prepare(at=at, actor=actor, action=action, purpose=purpose, detail=detail)
        head = self._run(tx, "LOCK_AUDIT")[0]
        seq = head["last_seq"] + 1
        prev = bytes(head["head"])
        h = audit.entry_hash(seq, when, actor, action, purpose, body, prev)
        self._run(
            tx,
            "APPEND_AUDIT",
            seq=seq,
            at=when,
            actor=actor,
            action=action,
            purpose=purpose,
            detail=body.decode(),
            prev_hash=prev,
            hash=h,
            refs=sorted(set(fids) | set(pids)),
        )
        return seq

    def _change(self, by: str, action: str, detail: dict[str, Any], work: Callable[[Any], Any]) -> Any:
        """A registry change and its audit entry in one write transaction."""
        at = self.clock()

        def both(tx: Any) -> Any:
            out = work(tx)
            self._audit(tx, at=at, actor=by, action=action, purpose=None, detail=detail)
            return out

        with self._lock:
            return self._write(both)

    def audit_read(self, view: ReaderView, action: str, detail: dict[str, Any]) -> None:
        at = self.clock()
        self._write(
            lambda tx: self._audit(
                tx, at=at, actor=view.reader.id, action=action, purpose=str(view.purpose), detail=detail
            )
        )

    @staticmethod
    def _entry(r: dict[str, Any]) -> audit.AuditEntry:
        return audit.AuditEntry(
            r["seq"],
            r["at"],
            r["actor"],
            r["action"],
            r["purpose"],
            orjson.loads(r["detail"]),
            bytes(r["prev_hash"]),
            bytes(r["hash"]),
        )

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
        if not 1 <= limit <= 10_000:
            raise ValueError("limit must be between 1 and 10000")
        rows = self._read(
            "AUDIT_ENTRIES",
            after_seq=after_seq,
            actor=actor,
            actions=None if action_prefix is None else audit.action_names([action_prefix]),
            since=None if since is None else audit.normalise_time(since),
            until=None if until is None else audit.normalise_time(until),
            limit=limit,
        )
        return [self._entry(r) for r in rows]

    def audit_verify(self, public_key: Any = None, exported: Sequence[dict[str, Any]] = ()) -> audit.VerifyReport:
        """Walk the chain from entry 1: every hash recomputed, every link and number checked.
        (Signed checkpoints are kept by the embedded store only; here the exported ones
        given are compared with the chain.)"""
        prev, expected, after = audit.GENESIS, 1, 0
        by_seq = {int(cp["seq"]): cp for cp in exported}
        matched = 0
        while True:
            page = self._read("AUDIT_CHAIN", after_seq=after, limit=_PAGE)
            if not page:
                break
            for r in page:
                e = self._entry(r)
                if e.seq != expected:
                    return audit.VerifyReport(False, expected - 1, expected, "an entry is missing or renumbered")
                body = orjson.dumps(e.detail, option=orjson.OPT_SORT_KEYS)
                if (
                    e.prev_hash != prev
                    or audit.entry_hash(e.seq, e.at, e.actor, e.action, e.purpose, body, prev) != e.hash
                ):
                    return audit.VerifyReport(False, expected - 1, e.seq, "this entry is not what was written")
                cp = by_seq.get(e.seq)
                if cp is not None:
                    if bytes.fromhex(str(cp["hash"])) != e.hash:
                        return audit.VerifyReport(False, expected - 1, e.seq, "differs from an exported checkpoint")
                    matched += 1
                prev, expected = e.hash, expected + 1
            after = page[-1]["seq"]
        return audit.VerifyReport(True, expected - 1, checkpoints=matched)

    def fragments_about(self, person_id: str) -> list[str]:
        """Every fragment (any version) mentioning the person a person id names, as the store resolves them."""
        seq, idx = self._person_ref(person_id)
        people = self.projection.mention_people(seq)
        if idx >= len(people):
            raise NotFound("no such person", field="person_id")
        seqs = {s for s, _, _ in self.projection.people[people[idx]].mentions}
        return sorted(self._fids(seqs).values())

    def who_saw(self, person_id: str) -> list[audit.AuditEntry]:
        ids = [*self.fragments_about(person_id), person_id]
        rows = self._read("AUDIT_CONCERNING", ids=ids, actions=audit.action_names(["read.", "disclosure."]))
        return [self._entry(r) for r in rows]

    def disclosures(self, person_id: str | None = None) -> list[audit.AuditEntry]:
        actions = audit.action_names(["disclosure.", "share.decision"])
        if person_id is None:
            return [self._entry(r) for r in self._read("AUDIT_BY_ACTIONS", actions=actions)]
        ids = [*self.fragments_about(person_id), person_id]
        return [self._entry(r) for r in self._read("AUDIT_CONCERNING", ids=ids, actions=actions)]

    # ------------------------------------------------------------------ readers, cases, tokens

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
        r, c = registry.check_reader(reader_id, agency, roles, clearances)
        at = self.clock()
        self._change(
            by,
            "reader.change",
            {"reader": reader_id, "agency": agency, "active": active},
            lambda tx: self._run(
                tx,
                "PUT_READER",
                id=reader_id,
                agency=agency,
                display_name=display_name,
                roles=sorted(str(x) for x in r),
                clearances=sorted(str(x) for x in c),
                active=active,
                at=at,
            ),
        )
        return self.reader(reader_id)

    def set_reader_active(self, by: str, reader_id: str, active: bool) -> None:
        at = self.clock()

        def work(tx: Any) -> None:
            if not self._run(tx, "SET_READER_ACTIVE", id=reader_id, active=active, at=at):
                raise NotFound("no such reader", field="reader_id")

        self._change(by, "reader.change", {"reader": reader_id, "active": active}, work)

    def list_readers(self) -> list[Reader]:
        return [_reader(r) for r in self._read("LIST_READERS")]

    def open_case(self, by: str, case_id: str, person_id: str) -> None:
        if not case_id.strip():
            raise registry.InvalidRecord("a case needs an id", field="case_id")
        fid, mention = self.person_anchor(person_id)
        at = self.clock()

        def work(tx: Any) -> None:
            made = self._run(tx, "OPEN_CASE", id=case_id, fragment_id=fid, mention=mention, at=at, by=by)
            if not made:
                raise registry.InvalidRecord("a case with this id is already open", field="case_id")

        self._change(by, "case.change", {"case": case_id, "opened": True, "people": [person_id]}, work)
        self._case_cache = None

    def _person_ref(self, person_id: str) -> tuple[int, int]:
        """(seq, mention index) a person id ``P<fragment>-<n>`` names, with the projection caught up."""
        head, _, idx = person_id.partition("-")
        seq = self._seq_of_prefix(head[1:].lower()) if head.startswith("P") and idx.isdigit() else None
        if seq is None:
            raise NotFound("no such person", field="person_id")
        self._catch_up()
        return seq, int(idx)

    def person_anchor(self, person_id: str) -> tuple[str, int]:
        """The fragment id and mention index a person id names."""
        seq, idx = self._person_ref(person_id)
        return self._fids([seq])[seq], idx

    def set_membership(self, by: str, case_id: str, reader_id: str, member: bool) -> None:
        self.reader(reader_id)

        def work(tx: Any) -> None:
            name = "ADD_MEMBER" if member else "REMOVE_MEMBER"
            if not self._run(tx, name, reader_id=reader_id, case_id=case_id):
                raise NotFound("no such case", field="case_id")

        self._change(by, "case.change", {"case": case_id, "reader": reader_id, "member": member}, work)

    def issue_token(self, by: str, reader_id: str, expires_at: str | None = None) -> tuple[str, str]:
        self.reader(reader_id)
        expires = registry._instant(expires_at, "expires_at")
        token = "jgs_" + secrets.token_urlsafe(32)
        tid = "T" + secrets.token_hex(6)
        at = self.clock()
        self._change(
            by,
            "token.issue",
            {"reader": reader_id, "token": tid},
            lambda tx: self._run(
                tx,
                "ISSUE_TOKEN",
                id=tid,
                reader_id=reader_id,
                hash=registry.token_hash(token).hex(),
                at=at,
                expires_at=expires,
            ),
        )
        return tid, token

    def revoke_token(self, by: str, token_id: str) -> None:
        at = self.clock()
        found: list[str] = []

        def work(tx: Any) -> None:
            rows = self._run(tx, "REVOKE_TOKEN", id=token_id, at=at)
            if not rows:
                raise NotFound("no such token", field="token_id")
            found[:] = [rows[0]["reader_id"]]

        # the audit entry names the reader, known only inside the transaction
        def both(tx: Any) -> None:
            work(tx)
            self._audit(
                tx, at=at, actor=by, action="token.revoke", purpose=None, detail={"reader": found[0], "token": token_id}
            )

        with self._lock:
            self._write(both)

    def list_tokens(self, reader_id: str | None = None) -> list[registry.TokenInfo]:
        return [
            registry.TokenInfo(r["id"], r["reader_id"], r["created_at"], r["expires_at"], r["revoked_at"])
            for r in self._read("LIST_TOKENS", reader_id=reader_id)
        ]

    def reader_for_token(self, token: str) -> str | None:
        rows = self._read("READER_FOR_TOKEN", hash=registry.token_hash(token).hex(), now=self.clock())
        return str(rows[0]["id"]) if rows else None

    # ------------------------------------------------------------------ share decisions

    def request_share(
        self, reader_id: str, *, holder_agency: str, person_id: str, purpose: str, need: str, urgency: str
    ) -> registry.ShareRequest:
        req = registry.new_request(
            requester=self.reader(reader_id),
            holder_agency=holder_agency,
            person_id=person_id,
            purpose=purpose,
            need=need,
            urgency=urgency,
            at=self.clock(),
        )
        detail = {"request": req.id, "holder_agency": holder_agency, "people": [person_id], "urgency": urgency}

        def work(tx: Any) -> None:
            self._run(tx, "CREATE_REQUEST", **req.__dict__)
            self._audit(tx, at=req.at, actor=reader_id, action="share.request", purpose=purpose, detail=detail)

        with self._lock:
            self._write(work)
        return req

    def share_request(self, request_id: str) -> registry.ShareRequest:
        rows = self._read("GET_REQUEST", id=request_id)
        if not rows:
            raise NotFound("no such request", field="request_id")
        return registry.ShareRequest(**rows[0])

    def share_requests(self, agency: str) -> list[registry.ShareRequest]:
        return [registry.ShareRequest(**r) for r in self._read("REQUESTS_FOR", agency=agency)]

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
        reader = self.reader(reader_id)
        req = self.share_request(request_id)
        if reader.agency != req.holder_agency or not reader.active:
            raise registry.InvalidRecord("only the agency asked may decide", field="decided_by")
        found = {r["fid"]: r for r in self._read("SEQS_OF_FIDS", fids=sorted(set(released)))}
        bodies = []
        for fid in released:
            r = found.get(fid)
            if r is None or r["agency"] != reader.agency:
                raise NotFound("no fragment of your agency has this id", field="released")
            bodies.append(r["body"].encode())
        reconsiders_of = None
        if reconsiders is not None:
            prior = self._read("DECISION_REQUEST", id=reconsiders)
            reconsiders_of = prior[0]["request_id"] if prior else None
        digest = hashlib.sha256(b"".join(sorted(bodies))).hexdigest()
        at = self.clock()
        dec = registry.new_decision(
            request=req,
            decided_by=reader,
            outcome=outcome,
            necessity=necessity,
            proportionality=proportionality,
            lawful_basis=lawful_basis,
            special_condition=special_condition,
            released=[(fid, reader.agency) for fid in released],
            released_digest=digest,
            family_told=family_told,
            family_not_told_reason=family_not_told_reason,
            expires_at=expires_at,
            reconsiders=reconsiders,
            reconsiders_of=reconsiders_of,
            at=at,
        )
        grants = [
            {
                "decision_id": dec.id,
                "agency": req.agency,
                "fragment_id": fid,
                "purpose": req.purpose,
                "expires_at": dec.expires_at,
            }
            for fid in dec.released
        ]
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

        def work(tx: Any) -> None:
            if reconsiders is not None:
                self._run(tx, "REVOKE_GRANTS", decision_id=reconsiders, at=at)
            self._run(tx, "CREATE_DECISION", decision=dec.__dict__, grants=grants)
            self._audit(tx, at=at, actor=reader_id, action="share.decision", purpose=req.purpose, detail=detail)

        with self._lock:
            self._write(work)
        return dec

    def share_records(self, request_id: str | None = None) -> list[registry.ShareDecision]:
        out = []
        for r in self._read("SHARE_DECISIONS", request_id=request_id):
            d: dict[str, Any] = dict(r["decision"])
            values: dict[str, Any] = {k: d.get(k) for k in registry.ShareDecision.__dataclass_fields__}
            out.append(registry.ShareDecision(**values))
        return out

    # ------------------------------------------------------------------ resolution decisions

    def resolution_decision_records(self) -> list[ResolutionDecision]:
        return [_resolution_decision(r) for r in self._read("RESOLUTION_DECISIONS")]

    def add_resolution_decision(self, d: ResolutionDecision) -> None:
        """Record a reviewer's decision as made (moving a store between backends keeps them)."""

        def work(tx: Any) -> None:
            self._run(
                tx,
                "ADD_RESOLUTION_DECISION",
                kind=d.kind,
                a_fid=d.a[0],
                a_idx=d.a[1],
                b_fid=d.b[0],
                b_idx=d.b[1],
                reason=d.reason,
                by=d.decided_by,
                at=d.decided_at,
                undoes=d.undoes,
                evidence=None if d.evidence is None else orjson.dumps(d.evidence).decode(),
            )
            self._audit(
                tx,
                at=self.clock(),
                actor=d.decided_by,
                action="resolution.decision",
                purpose=None,
                detail={"kind": d.kind, "imported": True},
            )

        with self._lock:
            self._write(work)

    # ------------------------------------------------------------------ incident decisions
    # What a decision means is graph.incidents' (shared with the embedded store); here is
    # storage: (:IncidentDecision) nodes numbered with the resolution decisions.

    def incident_decision_records(self) -> list[incidents.IncidentDecision]:
        return [_incident_decision(r) for r in self._read("INCIDENT_DECISIONS")]

    def add_incident_decision(self, d: incidents.IncidentDecision) -> int:
        """Record a reviewer's incident decision as made (moving a store keeps them);
        returns its id here."""

        def work(tx: Any) -> int:
            (row,) = self._run(
                tx,
                "ADD_INCIDENT_DECISION",
                kind=d.kind,
                a_fid=d.a,
                b_fid=d.b,
                reason=d.reason,
                by=d.decided_by,
                at=d.decided_at,
                undoes=d.undoes,
            )
            self._audit(
                tx,
                at=self.clock(),
                actor=d.decided_by,
                action="incident.decision",
                purpose=None,
                detail={"kind": d.kind, "imported": True},
            )
            return int(row["id"])

        with self._lock:
            return int(self._write(work))

    def _record_ref(self, view: ReaderView, ref: str) -> int:
        seq = self._seq_of_prefix(ref[1:].lower()) if ref.startswith("F") and len(ref) > 8 else None
        if seq is None or not view.visible(seq):
            raise InvalidDecision(f"no such record {ref}", field="fragment")
        return seq

    def _incident_seqs(self, seqs: Iterable[int]) -> set[int]:
        """Every fragment of the people of these records: what a decision can re-group."""
        out: set[int] = set()
        p = self.projection
        for s in seqs:
            out.add(s)
            for pid in p.mention_people(s):
                out |= p.component(pid)[1]
        return out

    def _record_incident(
        self,
        by: str,
        kind: str,
        a: str,
        b: str,
        reason: str,
        *,
        check: Callable[[Any], None] | None = None,
        undoes: int | None = None,
        touched: set[int],
    ) -> incidents.IncidentDecision:
        """Write one incident decision and its audit entry in one transaction, then apply
        it here and rewrite the derived graph of the records it touched."""
        at = self.clock()

        def work(tx: Any) -> int:
            if check is not None:
                check(tx)
            (row,) = self._run(
                tx, "ADD_INCIDENT_DECISION", kind=kind, a_fid=a, b_fid=b, reason=reason, by=by, at=at, undoes=undoes
            )
            detail: dict[str, Any] = {"decision": row["id"], "kind": kind}
            if undoes is not None:
                detail["undoes"] = undoes
            self._audit(tx, at=at, actor=by, action="incident.decision", purpose=None, detail=detail)
            self._run(tx, "REFUSE_OLDER_DERIVED")
            return int(row["id"])

        decision_id = self._write(work)
        self._catch_up()
        if touched:
            self._write_derived(sorted(touched))
        return incidents.IncidentDecision(decision_id, kind, a, b, reason, by, at, undoes)  # type: ignore[arg-type]

    def incident_queue(self, view: ReaderView, limit: int = 50) -> list[incidents.IncidentItem]:
        with self._lock:
            self._catch_up()
            return incidents.queue(view, self.projection, limit)

    def decide_incident(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> incidents.IncidentDecision:
        reason = incidents.check(kind, reason)
        with self._lock:
            self._catch_up()
            sa, sb = self._record_ref(view, a), self._record_ref(view, b)
            if sa == sb:
                raise InvalidDecision("a record is one incident with itself", field="fragment")
            fids = self._fids([sa, sb])
            return self._record_incident(
                view.reader.id, kind, fids[sa], fids[sb], reason, touched=self._incident_seqs([sa, sb])
            )

    def undo_incident_decision(self, view: ReaderView, decision_id: int, reason: str) -> incidents.IncidentDecision:
        reason = incidents.check("undo", reason, undo=True)
        with self._lock:
            self._catch_up()
            rows = self._read("INCIDENT_DECISION", id=decision_id)
            old = _incident_decision(rows[0]) if rows else None
            seq_of = self._seqs_of([old.a, old.b]) if old is not None else {}
            if old is None or old.kind == "undo" or not incidents.decision_visible(view, old, seq_of):
                raise InvalidDecision(f"no join or apart decision {decision_id}", field="decision")

            def still_undoable(tx: Any) -> None:
                self._run(tx, "LOCK_JOURNAL")
                now = self._run(tx, "INCIDENT_DECISION", id=decision_id)
                if now and now[0]["undone"]:
                    raise InvalidDecision(f"decision {decision_id} is already undone", field="decision")

            still_undoable_now = rows[0]["undone"]
            if still_undoable_now:
                raise InvalidDecision(f"decision {decision_id} is already undone", field="decision")
            return self._record_incident(
                view.reader.id,
                "undo",
                old.a,
                old.b,
                reason,
                check=still_undoable,
                undoes=decision_id,
                touched=self._incident_seqs(seq_of.values()),
            )

    def incident_decisions(self, view: ReaderView) -> list[incidents.IncidentDecision]:
        ds = self.incident_decision_records()
        seq_of = self._seqs_of({f for d in ds for f in (d.a, d.b)})
        return [d for d in ds if incidents.decision_visible(view, d, seq_of)]

    # ------------------------------------------------------------------ moving between backends

    def journal(self, after: int = 0) -> Iterator[tuple[int, str, dict[str, Any], int | None]]:
        """Every fragment version after ``after``: (seq, id, document, seq it supersedes)."""
        return self._rows(after)

    def cases(self) -> list[tuple[str, str, int]]:
        return sorted((r["id"], r["fragment_id"], r["mention"]) for r in self._read("CASES"))

    @property
    def pseudonym_key(self) -> str:
        return self._pseudonym_key.hex()

    def set_pseudonym_key(self, by: str, key: str) -> None:
        raw = bytes.fromhex(key)
        self._change(
            by,
            "marking.change",
            {"pseudonym_key": "replaced"},
            lambda tx: self._run(tx, "SET_PSEUDONYM_KEY", pseudonym_key=key),
        )
        self._pseudonym_key = raw
        self._source.cache.clear()

    def all_share_records(self) -> tuple[list[registry.ShareRequest], list[registry.ShareDecision]]:
        return [registry.ShareRequest(**r) for r in self._read("ALL_REQUESTS")], self.share_records()

    def restore_share_records(
        self, by: str, requests: list[registry.ShareRequest], decided: list[registry.ShareDecision]
    ) -> None:
        by_id = {r.id: r for r in requests}
        revoked = {d.reconsiders: d.at for d in decided if d.reconsiders}
        grants = [
            {
                "decision_id": d.id,
                "agency": by_id[d.request_id].agency,
                "fragment_id": fid,
                "purpose": by_id[d.request_id].purpose,
                "expires_at": d.expires_at,
                "revoked_at": revoked.get(d.id),
            }
            for d in decided
            for fid in d.released
        ]
        self._change(
            by,
            "marking.change",
            {"share_records": "restored", "decisions": len(decided)},
            lambda tx: self._run(
                tx,
                "RESTORE_SHARES",
                requests=[r.__dict__ for r in requests],
                decisions=[d.__dict__ for d in decided],
                grants=grants,
            ),
        )

    # ------------------------------------------------------------------ patterns
    # The same engine as the embedded store over this replica's projection
    # (graph/patterns/neo4j_source.py); an analyst's Cypher pattern runs here in a read
    # transaction (graph/patterns/custom.py says what that does and does not protect).

    _patterns: PatternEngine | None = None

    def patterns(self) -> PatternEngine:
        """The store's pattern engine (one per store; its cache lives in this replica's memory)."""
        with self._lock:
            if self._patterns is None:
                from graph.patterns.neo4j_source import Neo4jCases

                self._patterns = PatternEngine(Neo4jCases(self))
            return self._patterns

    def global_pid(self, person_id: str) -> int:
        """The store's own person (not a reader's) that a person id's mention belongs to."""
        seq, idx = self._person_ref(person_id)
        people = self.projection.mention_people(seq)
        if idx >= len(people):
            raise NotFound("no such person", field="person_id")
        return people[idx]

    def person_key(self, pid: int) -> str | None:
        """The key of the store's person ``pid`` in the derived graph (``(:Person {key})``,
        as ``derived_rows`` writes it), or None when no current record names them."""
        p = self.projection
        person = p.people.get(pid)
        mentions = sorted((s, i) for s, i, _ in person.mentions if p.is_current(s)) if person else []
        if not mentions:
            return None
        s0, i0 = mentions[0]
        return f"P{p.fragments[s0].order[1 : 1 + ID_CHARS]}-{i0}"

    def run_pattern_query(
        self, query: str, *, visible: Sequence[str], person: str | None, timeout: float = 30.0
    ) -> list[str]:
        """Run an analyst's Cypher pattern in a READ transaction with ``$visible`` and
        ``$person``, and give back every value of its ``fid`` column (a fragment id, or a
        list of them). The caller (``graph.patterns.custom.run_custom``) keeps only ids the
        reader may read; nothing else of the result leaves this method. A query that
        writes is refused by the server in a read transaction. The derived graph is
        brought up to the journal first, so the query sees every fragment written."""
        neo4j = _driver_module()
        params = {"visible": list(visible), "person": person}
        while self.write_derived(10 * _DERIVED_ROUND):
            pass

        @neo4j.unit_of_work(timeout=timeout)
        def work(tx: Any) -> list[str]:
            out: list[str] = []
            for record in tx.run(query, params):
                row = dict(record)
                if "fid" not in row:
                    raise ValueError("a Cypher pattern must return the fragment ids it found as a column named fid")
                value = row["fid"]
                for fid in value if isinstance(value, list) else [value]:
                    if isinstance(fid, str):
                        out.append(fid)
            return out

        with self._session() as session:
            return list(session.execute_read(work))

    # ------------------------------------------------------------------ shared meaning
    # Read-and-understood, correction notices and their webhook outbox (shared meaning), as the
    # embedded store keeps them: ``graph.meaning`` decides (who may acknowledge, what is
    # outstanding, who a correction tells, what an attempt leads to); these store and find.

    _SEEN = ("read.", "disclosure.")  # the audit actions that mean a reader saw a fragment

    def _notify_corrections(self, tx: Any, rows: list[dict[str, Any]], actor: str, at: str) -> None:
        """Inside ``append``'s transaction: the notices and webhook deliveries for each
        correction or withdrawal just written, each with its ``notice.create`` audit
        entry, so a correction is never committed without them."""
        actions = audit.action_names(self._SEEN)
        for row in rows:
            if row["supersedes"] is None:
                continue
            earlier = [r["fid"] for r in self._run(tx, "EARLIER_VERSIONS", seq=row["supersedes"])]
            kind = "corrected" if row["current"] else "retracted"
            plan = meaning.correction_notices(
                at=at,
                earlier=earlier,
                correction_id=row["fid"],
                kind=kind,
                by_agency=row["agency"],
                actor=actor,
                saw={
                    r["reader_id"]: r["agency"] for r in self._run(tx, "READERS_WHO_SAW", fids=earlier, actions=actions)
                },
                released_to=[r["agency"] for r in self._run(tx, "AGENCIES_RELEASED_TO", fids=earlier)],
            )
            hooked = [r["agency"] for r in self._run(tx, "ACTIVE_WEBHOOKS", agencies=plan.agencies)]
            deliveries = plan.deliveries(hooked)
            notices = [{k: v for k, v in n.__dict__.items() if k != "read_at"} for n in plan.notices]
            self._run(tx, "CREATE_NOTICES", notices=notices, deliveries=deliveries)
            detail = plan.detail(original=earlier[0], correction_id=row["fid"], kind=kind, webhooks=len(deliveries))
            self._audit(tx, at=at, actor=actor, action="notice.create", purpose=None, detail=detail)

    def acknowledge(self, view: ReaderView, subject: str, *, kind: str, text: str = "") -> Acknowledgement:
        def decision_for(decision_id: str) -> str | None:
            rows = self._read("DECISION_AGENCY", id=decision_id)
            return str(rows[0]["agency"]) if rows else None

        subject_kind = meaning.acknowledgement_subject(view, subject, kind, decision_for)
        at = self.clock()
        ack = meaning.new_acknowledgement(
            subject=subject,
            subject_kind=subject_kind,
            reader_id=view.reader.id,
            agency=view.reader.agency,
            kind=kind,
            text=text,
            at=at,
        )
        detail = meaning.acknowledgement_detail(ack)

        def work(tx: Any) -> None:
            self._run(tx, "CREATE_ACKNOWLEDGEMENT", **ack.__dict__)
            self._audit(
                tx,
                at=at,
                actor=view.reader.id,
                action="acknowledgement.record",
                purpose=str(view.purpose),
                detail=detail,
            )

        with self._lock:
            self._write(work)
        return ack

    def acknowledgements(self, subjects: Sequence[str]) -> list[Acknowledgement]:
        want = sorted(set(subjects))
        out: list[Acknowledgement] = []
        for k in range(0, len(want), _BATCH):
            out += [Acknowledgement(**r) for r in self._read("ACKNOWLEDGEMENTS", subjects=want[k : k + _BATCH])]
        return sorted(out, key=lambda a: (a.at, a.id))

    def outstanding(self, agency: str) -> list[Outstanding]:
        pairs: set[tuple[str, str]] = set()
        sig: dict[str, str | None] = {}
        for r in self._read("OUTSTANDING_FRAGMENTS", agency=agency, actions=audit.action_names(self._SEEN)):
            pairs |= {(r["fid"], a) for a in r["agencies"]}
            sig[r["fid"]] = orjson.loads(r["body"]).get("significance")
        made = {r["id"]: r["to_agency"] for r in self._read("OUTSTANDING_DECISIONS", agency=agency)}
        acks = self.acknowledgements(sorted(sig) + sorted(made))
        return meaning.outstanding_items(pairs, made, acks, sig)

    def notices(self, view: ReaderView, *, unread_only: bool = False) -> list[Notice]:
        rows = self._read("NOTICES_FOR", reader_id=view.reader.id, agency=view.reader.agency, limit=500)
        shown = [meaning.present(view, NoticeRecord(**r)) for r in rows]
        return [n for n in shown if not (unread_only and n.read)]

    def mark_notice_read(self, view: ReaderView, notice_id: str) -> None:
        reader = view.reader
        at = self.clock()

        def work(tx: Any) -> None:
            if not self._run(tx, "MARK_NOTICE_READ", id=notice_id, reader_id=reader.id, agency=reader.agency, at=at):
                raise NotFound("no such notice of yours", field="notice_id")
            self._audit(
                tx,
                at=at,
                actor=reader.id,
                action="notice.read",
                purpose=str(view.purpose),
                detail={"notice": notice_id},
            )

        with self._lock:
            self._write(work)

    def put_webhook(self, by: str, *, agency: str, url: str, secret: str, active: bool = True) -> Webhook:
        meaning.check_webhook(agency=agency, url=url, secret=secret)
        at = self.clock()
        self._change(
            by,
            "webhook.change",
            {"agency": agency, "active": active},
            lambda tx: self._run(tx, "PUT_WEBHOOK", agency=agency, url=url, secret=secret, active=active, at=at),
        )
        return Webhook(agency, url, active, at)

    def webhooks(self) -> list[Webhook]:
        return [Webhook(**r) for r in self._read("WEBHOOKS")]

    def due_deliveries(self, limit: int = 100) -> list[Delivery]:
        now = self.clock()
        lease = meaning.later(now, meaning.LEASE)
        rows = self._write(lambda tx: self._run(tx, "CLAIM_DELIVERIES", now=now, lease=lease, limit=limit))
        return [Delivery(**r) for r in rows]

    def record_delivery(self, delivery_id: str, *, ok: bool, error: str | None = None) -> str:
        at = self.clock()

        def work(tx: Any) -> str:
            found = self._run(tx, "LOCK_DELIVERY", id=delivery_id)
            if not found:
                raise NotFound("no such delivery", field="delivery_id")
            o = meaning.attempt_outcome(found[0]["attempts"], ok=ok, error=error, at=at)
            self._run(
                tx,
                "RECORD_DELIVERY",
                id=delivery_id,
                state=o.state,
                attempts=o.attempts,
                next_at=o.next_at,
                last_error=o.last_error,
                delivered_at=o.delivered_at,
            )
            if o.audited:
                detail = {"delivery": delivery_id, "agency": found[0]["agency"], "state": o.state}
                self._audit(
                    tx, at=at, actor=meaning.DELIVERY_ACTOR, action="notice.deliver", purpose=None, detail=detail
                )
            return o.state

        with self._lock:
            return str(self._write(work))

    def webhook_outbox(self, agency: str | None = None) -> list[dict[str, Any]]:
        """The outbox as an administrator sees it: ids, states, attempts, errors (as
        ``EmbeddedStore.webhook_outbox``)."""
        return self._read("WEBHOOK_OUTBOX", agency=agency)

    # ------------------------------------------------------------------ moving stores
    # The audit log (verbatim, with its checkpoints), token hashes and shared meaning, as
    # the embedded store moves them (graph.moving): one write transaction per kind,
    # refused when this store already holds that kind, audited as ``store.restore``.

    def _count(self, tx: Any, name: str) -> int:
        return int(self._run(tx, name)[0]["n"])

    def all_audit_records(self) -> moving.AuditRecords:
        """The whole audit log, oldest first, with the checkpoints a restore brought."""
        entries: list[audit.AuditEntry] = []
        while page := self._read("AUDIT_CHAIN", after_seq=entries[-1].seq if entries else 0, limit=_PAGE):
            entries += [self._entry(r) for r in page]
        checkpoints = [
            audit.Checkpoint(
                r["seq"], r["at"], bytes(r["hash"]), r["key_id"], bytes(r["public_key"]), bytes(r["signature"])
            )
            for r in self._read("AUDIT_CHECKPOINTS")
        ]
        return moving.AuditRecords(entries, checkpoints)

    def restore_audit(self, by: str, records: moving.AuditRecords) -> None:
        """Put another store's audit log here verbatim, so it still verifies and this
        store's chain continues from its head (see ``EmbeddedStore.restore_audit``)."""
        moving.check_chain(records)
        rows = [
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor,
                "action": e.action,
                "purpose": e.purpose,
                "detail": moving.detail_bytes(e).decode(),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "refs": sorted(set(audit._ids(e.detail, "fragments")) | set(audit._ids(e.detail, "people"))),
            }
            for e in records.entries
        ]
        checkpoints = [
            {
                "seq": c.seq,
                "at": c.at,
                "hash": c.hash,
                "key_id": c.key_id,
                "public_key": c.public_key,
                "signature": c.signature,
            }
            for c in records.checkpoints
        ]
        last, head = records.head
        at = self.clock()

        def work(tx: Any) -> None:
            self._run(tx, "LOCK_AUDIT")
            moving.refuse_if_held("audit entries", self._count(tx, "AUDIT_COUNT"))
            for k in range(0, len(rows), _BATCH):
                self._run(tx, "RESTORE_AUDIT", entries=rows[k : k + _BATCH])
            self._run(tx, "RESTORE_AUDIT_CHECKPOINTS", checkpoints=checkpoints)
            self._run(tx, "SET_AUDIT_HEAD", last_seq=last, head=head)
            self._audit(
                tx, at=at, actor=by, action="store.restore", purpose=None, detail=moving.restore_detail(records)
            )

        with self._lock:
            self._write(work)

    def all_token_records(self) -> list[moving.TokenRecord]:
        """Every bearer token's hash and metadata (the tokens themselves were never kept)."""
        return [moving.TokenRecord(**r) for r in self._read("ALL_TOKENS")]

    def restore_tokens(self, by: str, tokens: list[moving.TokenRecord]) -> None:
        """Put another store's token hashes here (their readers must be here already)."""
        at = self.clock()

        def work(tx: Any) -> None:
            moving.refuse_if_held("tokens", self._count(tx, "TOKEN_COUNT"))
            made = self._count_rows(self._run(tx, "RESTORE_TOKENS", tokens=[t.__dict__ for t in tokens]))
            if made != len(tokens):
                raise NotFound("a token's reader is not in this store: restore the readers first", field="reader_id")
            detail = {"restored": "tokens", "tokens": len(tokens)}
            self._audit(tx, at=at, actor=by, action="store.restore", purpose=None, detail=detail)

        with self._lock:
            self._write(work)

    @staticmethod
    def _count_rows(rows: list[dict[str, Any]]) -> int:
        return int(rows[0]["n"]) if rows else 0

    _MEANING_KINDS = (
        ("acknowledgements", "acknowledgements"),
        ("notices", "notices"),
        ("reads", "notice read marks"),
        ("webhooks", "webhooks"),
        ("deliveries", "webhook deliveries"),
    )

    def all_meaning_records(self) -> moving.MeaningRecords:
        """Acknowledgements, notices and read marks, webhooks with their secrets, the outbox."""
        return moving.MeaningRecords(
            [Acknowledgement(**r) for r in self._read("ALL_ACKNOWLEDGEMENTS")],
            [NoticeRecord(**r) for r in self._read("ALL_NOTICES")],
            [moving.NoticeRead(**r) for r in self._read("ALL_NOTICE_READS")],
            [moving.WebhookRecord(**r) for r in self._read("ALL_WEBHOOKS")],
            [moving.OutboxRecord(**r) for r in self._read("ALL_DELIVERIES")],
        )

    def restore_meaning(self, by: str, records: moving.MeaningRecords) -> None:
        """Put another store's shared meaning here as it was (ids, times, states); the
        readers who marked notices read must be here already."""
        at = self.clock()
        notices = [{k: v for k, v in n.__dict__.items() if k != "read_at"} for n in records.notices]

        def work(tx: Any) -> None:
            held = self._run(tx, "MEANING_COUNTS")[0]
            for key, kind in self._MEANING_KINDS:
                moving.refuse_if_held(kind, int(held[key]))
            self._run(
                tx,
                "RESTORE_MEANING",
                acknowledgements=[a.__dict__ for a in records.acknowledgements],
                notices=notices,
                webhooks=[w.__dict__ for w in records.webhooks],
                deliveries=[o.__dict__ for o in records.outbox],
            )
            marks = [r.__dict__ for r in records.reads]
            if self._count_rows(self._run(tx, "RESTORE_NOTICE_READS", reads=marks)) != len(marks):
                raise NotFound("a notice read mark names a reader or notice not in this store", field="reads")
            detail = {"restored": "shared meaning", **records.counts()}
            self._audit(tx, at=at, actor=by, action="store.restore", purpose=None, detail=detail)

        with self._lock:
            self._write(work)

    # ------------------------------------------------------------------ resolution review and erasure
    # What a request means is graph.resolution's and graph.retention's, shared with the
    # embedded store; what is here is storage: decisions as (:ResolutionDecision) nodes,
    # review dates on the fragments, and an erasure in one transaction.

    def mention_id(self, seq: int, idx: int) -> str:
        return f"P{self._fids([seq])[seq][1 : 1 + ID_CHARS]}-{idx}"

    def _mention_ref(self, view: ReaderView, mention_id: str) -> tuple[int, int]:
        return resolution.visible_mention(view, self.projection, self._seq_of_prefix, mention_id)

    def explain_pair(self, view: ReaderView, a: str, b: str) -> PairEvidence:
        with self._lock:
            self._catch_up()
            sa, sb = self._mention_ref(view, a), self._mention_ref(view, b)
            return resolution.explain_mentions(self.matcher, self.projection, sa, sb)

    def review_queue(self, view: ReaderView, limit: int = 50) -> list[ReviewItem]:
        """As the embedded store's; the mentions shown are read from bodies the database
        lets this reviewer see (``bodies_as_reader``), as every reader's answer is."""

        def as_reader(seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
            return self.bodies_as_reader(view.reader, view.purpose, seqs)

        with self._lock:
            self._catch_up()
            return resolution.review_queue(
                view,
                self.projection,
                self.matcher,
                self._mention_decisions_cache,
                limit,
                load=self._load if isinstance(view, SystemView) else as_reader,
                mention_id=self.mention_id,
            )

    def _component_seqs(self, refs: Iterable[tuple[int, int]]) -> set[int]:
        """Every fragment of the people these mentions (seq, index) belong to now."""
        out: set[int] = set()
        p = self.projection
        for seq, idx in refs:
            out.add(seq)
            pid = p.person_of(seq, idx)
            if pid is not None:
                out |= p.component(pid)[1]
        return out

    def _record_decision(
        self,
        by: str,
        kind: str,
        a: tuple[str, int],
        b: tuple[str, int],
        reason: str,
        *,
        evidence: dict[str, Any] | None = None,
        check: Callable[[Any], None] | None = None,
        undoes: int | None = None,
        touched: set[int],
    ) -> ResolutionDecision:
        """Write one decision and its audit entry in one transaction (``check(tx)`` first,
        inside it), then apply it here and rewrite the derived graph of the people it
        touched (``touched``: their fragments before it)."""
        at = self.clock()

        def work(tx: Any) -> int:
            if check is not None:
                check(tx)
            (row,) = self._run(
                tx,
                "ADD_RESOLUTION_DECISION",
                kind=kind,
                a_fid=a[0],
                a_idx=a[1],
                b_fid=b[0],
                b_idx=b[1],
                reason=reason,
                by=by,
                at=at,
                undoes=undoes,
                evidence=None if evidence is None else orjson.dumps(evidence).decode(),
            )
            detail: dict[str, Any] = {"decision": row["id"], "kind": kind}
            if undoes is not None:
                detail["undoes"] = undoes
            self._audit(tx, at=at, actor=by, action="resolution.decision", purpose=None, detail=detail)
            self._run(tx, "REFUSE_OLDER_DERIVED")
            return int(row["id"])

        decision_id = self._write(work)
        self._catch_up()
        if touched:
            self._write_derived(sorted(touched))
        return ResolutionDecision(decision_id, kind, a, b, reason, by, at, undoes, evidence)  # type: ignore[arg-type]

    def decide(self, view: ReaderView, kind: str, a: str, b: str, reason: str) -> ResolutionDecision:
        resolution.check_kind(kind)
        with self._lock:
            self._catch_up()
            sa, sb = self._mention_ref(view, a), self._mention_ref(view, b)
            resolution.check_pair(sa, sb)
            reason = decisions.checked(kind, reason)
            fids = self._fids([sa[0], sb[0]])
            evidence = None
            if self.matcher is not None:
                evidence = asdict(resolution.explain_mentions(self.matcher, self.projection, sa, sb))
            return self._record_decision(
                view.reader.id,
                kind,
                (fids[sa[0]], sa[1]),
                (fids[sb[0]], sb[1]),
                reason,
                evidence=evidence,
                touched=self._component_seqs([sa, sb]),
            )

    def _decision_visible(self, view: ReaderView, d: ResolutionDecision) -> bool:
        return resolution.decision_visible(view, d, self._seqs_of([d.a[0], d.b[0]]))

    def undo_decision(self, view: ReaderView, decision_id: int, reason: str) -> ResolutionDecision:
        with self._lock:
            self._catch_up()
            rows = self._read("RESOLUTION_DECISION", id=decision_id)
            old = _resolution_decision(rows[0]) if rows else None
            visible = old is not None and self._decision_visible(view, old)
            resolution.check_undo(decision_id, old, visible=visible, undone=bool(rows and rows[0]["undone"]))
            assert old is not None
            reason = decisions.checked("undo", reason)

            def still_undoable(tx: Any) -> None:
                # with the journal locked: another reviewer may have undone it meanwhile
                self._run(tx, "LOCK_JOURNAL")
                now = self._run(tx, "RESOLUTION_DECISION", id=decision_id)
                resolution.check_undo(decision_id, old, visible=visible, undone=bool(now and now[0]["undone"]))

            seq_of = self._seqs_of([old.a[0], old.b[0]])
            refs = [(seq_of[f], i) for f, i in (old.a, old.b) if f in seq_of]
            return self._record_decision(
                view.reader.id,
                "undo",
                old.a,
                old.b,
                reason,
                check=still_undoable,
                undoes=decision_id,
                touched=self._component_seqs(refs),
            )

    def resolution_decisions(self, view: ReaderView) -> list[ResolutionDecision]:
        ds = self.resolution_decision_records()
        seq_of = self._seqs_of(decided_fids(ds))
        return [d for d in ds if resolution.decision_visible(view, d, seq_of)]

    def relink(self) -> None:
        """Resolve every mention again with this replica's matcher, and rewrite the derived
        graph to match. Other replicas resolve with their own matcher (JIGSAW_LINKAGE_MODEL):
        restart them with the new model."""
        with self._lock:
            self._rebuild()
        self.rewrite_derived()

    def mention_features(self) -> list[Any]:
        with self._lock:
            self._catch_up()
            return resolution.mention_features(self.projection)

    def _review_date(self, doc: dict[str, Any]) -> dict[str, str]:
        cls, on = self.retention_policy.classify(doc)  # a tombstone: nothing left to review
        out = {"retention_class": cls, "review_on": on}
        erased = retention.when_erased(doc)
        if erased is not None:  # brought from another store: erased here too
            out["erased_at"] = erased
        return out

    def _classify_unclassified(self) -> None:
        """Give a review date to fragments that have none (bulk-loaded by neo4j-admin)."""
        while True:
            page = self._read("UNCLASSIFIED_FRAGMENTS", limit=_PAGE)
            if not page:
                return
            rows = [{"seq": r["seq"], **self._review_date(orjson.loads(r["body"]))} for r in page]

            def classify(tx: Any, rows: list[dict[str, Any]] = rows) -> None:
                self._run(tx, "CLASSIFY_FRAGMENTS", rows=rows)

            self._write(classify)

    def retention_due(self, on: str, *, limit: int = 1000) -> list[tuple[str, str, str, str]]:
        self._classify_unclassified()
        return [
            (r["fid"], r["agency"], r["retention_class"], r["review_on"])
            for r in self._read("RETENTION_DUE", on=on, limit=limit)
        ]

    def erase(self, fid: str, *, authority: str, reason: str, by: str) -> list[str]:
        """Erase a record (see ``Store.erase``). In one transaction: every version's body
        becomes its tombstone, the people, events and places derived from the record go,
        the journal's erasure count moves on (every replica rebuilds its projection when
        it sees that), and the audit entry is written. The derived graph of the people who
        remain is then rewritten from the journal, as after any write."""
        retention.check_erasure(authority, reason)
        at = self.clock()
        with self._lock:
            self._catch_up()

            def work(tx: Any) -> tuple[list[str], list[int]]:
                self._run(tx, "LOCK_JOURNAL")
                versions = self._run(tx, "ERASURE_VERSIONS", fid=fid)
                if not versions:
                    raise NotFound("no such fragment", field="fragment_id")
                stones = retention.tombstones(
                    [(r["seq"], r["fid"], orjson.loads(r["body"])) for r in versions],
                    erased_at=at,
                    authority=authority,
                )
                if not stones:
                    return [], []
                rows = []
                for seq, _, doc in stones:
                    access = FragmentAccess.of(doc)
                    rows.append(
                        {
                            "seq": seq,
                            "body": canonical_bytes(doc).decode(),
                            "audience": access.audience,
                            "named_agencies": sorted(access.named_agencies),
                            "needs": sorted(str(c) for c in needed_clearances(access.special)),
                            "existence_visible": access.existence_visible,
                            "erased_at": at,
                        }
                    )
                seqs = [seq for seq, _, _ in stones]
                self._run(tx, "ERASE_DERIVED", seqs=seqs)
                self._run(tx, "ERASE_FRAGMENTS", rows=rows)
                self._run(tx, "COUNT_ERASURE")
                self._run(tx, "REFUSE_OLDER_DERIVED")
                erased = [f for _, f, _ in stones]
                detail = retention.erasure_detail(erased, authority=authority, reason=reason)
                self._audit(tx, at=at, actor=by, action="fragment.erase", purpose=None, detail=detail)
                return erased, seqs

            p = self.projection
            erased, seqs = self._write(work)
            if not erased:
                return []
            # the people of every version, as they were before (their other records remain)
            before = self._component_seqs(
                (seq, i) for seq in seqs if seq in p.fragments for i in range(len(p.mention_people(seq)))
            )
            self._catch_up()  # the erasure count moved: the projection is rebuilt without the content
            remaining = sorted(before - set(seqs))
            if remaining:
                self._write_derived(remaining)
            return erased


def _resolution_decision(r: dict[str, Any]) -> ResolutionDecision:
    return ResolutionDecision(
        r["id"],
        r["kind"],
        (r["a_fid"], r["a_idx"]),
        (r["b_fid"], r["b_idx"]),
        r["reason"],
        r["by"],
        r["at"],
        r["undoes"],
        orjson.loads(r["evidence"]) if r["evidence"] else None,
    )


def _incident_decision(r: dict[str, Any]) -> incidents.IncidentDecision:
    return incidents.IncidentDecision(
        r["id"], r["kind"], r["a_fid"], r["b_fid"], r["reason"], r["by"], r["at"], r["undoes"]
    )


def _fragment_row(seq: int, fid: str, doc: dict[str, Any], body: bytes, h: bytes, sup: int | None) -> dict[str, Any]:
    """A Fragment node's properties: the body and what access is decided on."""
    access = FragmentAccess.of(doc)
    ev = doc.get("event") or {}
    return {
        "seq": seq,
        "fid": fid,
        "agency": access.agency,
        "record_ref": doc["record_ref"],
        "hash": h.hex(),
        "body": body.decode(),
        "supersedes": sup,
        # a retraction is never a current version (as graph.projection.FragmentMeta)
        "current": not (doc.get("supersedes") or {}).get("retract"),
        "audience": access.audience,
        "named_agencies": sorted(access.named_agencies),
        "needs": sorted(str(c) for c in needed_clearances(access.special)),
        "existence_visible": access.existence_visible,
        "recorded_at": doc["recorded_at"],
        "shared_at": doc["shared_at"],
        "summary": ev.get("summary"),
        "when_text": (ev.get("when") or {}).get("text"),
    }


def _reader(r: dict[str, Any]) -> Reader:
    return Reader(
        id=r["id"],
        agency=r["agency"],
        roles=registry._roles(r["roles"] or ()),
        cases=frozenset(r["cases"] or ()),
        clearances=registry._clearances(r["clearances"] or ()),
        active=bool(r["active"]),
        display_name=r["display_name"] or "",
    )


class Neo4jReaderView(ReaderView):
    """A reader's view whose access decisions and fragment bodies come from Neo4j.

    Everything else (resolving the reader's part, chronology, network) is the shared
    code of ``graph.view``, so both backends answer alike."""

    def __init__(self, store: Neo4jStore, source: ViewSource, reader: Reader, purpose: Purpose) -> None:
        super().__init__(source, reader, purpose)
        self._store = store

    def _direct(self, seq: int) -> Decision:
        d = self._direct_cache.get(seq)
        if d is None:
            # decide the whole component at once: one round trip for a chronology
            seqs = {seq}
            for pid in self._p.mention_people(seq):
                seqs |= self._component(pid)[1]
            want = sorted(s for s in seqs if s not in self._direct_cache)
            for s, answer in self._store.decide_in_database(self.reader, self.purpose, want).items():
                self._direct_cache[s] = Decision(answer)
            d = self._direct_cache.setdefault(seq, Decision.absent)
        return d

    def _decide_on(self, seq: int, cases: frozenset[str]) -> Decision:
        on_case = [seq] if self.reader.cases & cases else []
        answer = self._store.decide_in_database(self.reader, self.purpose, [seq], on_case=on_case)
        return Decision(answer.get(seq, "absent"))

    def on_case(self, seqs: Sequence[int]) -> list[int]:
        """Which of ``seqs`` are on one of the reader's cases, circles included."""
        return [s for s in seqs if s in self._p.fragments and self.reader.cases & self.cases_for(s)]

    def fragment_count(self) -> int:
        seqs = sorted(self._p.fragments)
        decided = self._store.decide_in_database(self.reader, self.purpose, seqs, on_case=self.on_case(seqs))
        return sum(1 for s in seqs if self._p.is_current(s) and decided.get(s) == "see")
