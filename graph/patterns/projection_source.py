"""What every backend that keeps a projection in memory shares as a ``CaseSource``.

Both backends keep the same ``graph.projection.Projection`` of the journal (the Neo4j
store as each replica's cache), so who the children are, which fragments make up each
child's case, what a new fragment touches, the id a reader knows a child by and the
pseudonym are decided by the same code here. A backend says only where its parts live:
the projection, documents by seq, fragment ids, summaries, the case map, the pseudonym
key, the resolution decisions in force, and how a full scan reads every current
document (``graph/patterns/embedded_source.py``, ``graph/patterns/neo4j_source.py``).

The mark is (projection object, last seq, resolution decisions in force): a new
projection (after an erasure, or on Neo4j after any decision) or a new decision can move
anyone, so either means "evaluate everything again"; new fragments mean "evaluate the
children whose component they, or the versions they replace, touch".
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from graph.patterns.facts import (
    ChildCase,
    Fact,
    Report,
    ReportMaker,
    cases_from_projection,
    children_of,
    fact_of,
    is_child,
)

if TYPE_CHECKING:
    from graph.projection import FragmentText, Projection
    from graph.view import ReaderView


class _Lru(OrderedDict[int, Report]):
    def __init__(self, keep: int, owner: int = 0) -> None:
        super().__init__()
        self.keep = keep
        self.owner = owner

    def get(self, key: int, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not default:
            self.move_to_end(key)
        return found

    def __setitem__(self, key: int, value: Report) -> None:
        super().__setitem__(key, value)
        if len(self) > self.keep:
            self.popitem(last=False)


class ProjectionStore(Protocol):
    """What both stores offer that a ``ProjectionCases`` reads (graph.embedded,
    graph.neo4j_store): the projection and its lock, documents, ids and words by seq,
    and the resolution decisions in force."""

    @property
    def projection(self) -> Projection: ...

    @property
    def _lock(self) -> threading.RLock: ...

    @property
    def _decisions_at(self) -> Hashable: ...

    def _catch_up(self) -> None: ...

    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]: ...

    def _fids(self, seqs: Sequence[int]) -> dict[int, str]: ...

    def _details(self, seqs: Sequence[int]) -> dict[int, FragmentText]: ...

    def global_pid(self, person_id: str) -> int: ...


class ProjectionCases(ABC):
    """A ``CaseSource`` over a store's in-memory projection; subclasses say how the
    journal is read in order, where the case map and key live, and whether pattern
    facts are kept."""

    def __init__(self, store: ProjectionStore, *, keep: int = 200_000, batch: int = 20_000) -> None:
        self.store = store
        # reports of fragments read for single children, kept between calls (a meeting
        # reloads the same child's page): bounded, least recently used out first
        self._reports: _Lru = _Lru(keep)
        # fragments per batch of cases: the store's lock is released between batches
        self.batch = batch

    # ------------------------------------------------------------------ what both stores have

    def lock(self) -> threading.RLock:
        """Catch the projection up (people settled: patterns read them) and return the
        lock that holds it still."""
        self.store._catch_up()
        with self.store._lock:
            self.store.projection.settle()
        return self.store._lock

    @property
    def _p(self) -> Projection:
        return self.store.projection

    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Documents by seq, for the system's view (never a reader's answer)."""
        return self.store._load(seqs)

    def _decisions_at(self) -> Hashable:
        """Which resolution and incident decisions are in force (changes whenever one is
        recorded)."""
        return (self.store._decisions_at, getattr(self.store, "_incidents_at", -1))

    def _global_pid(self, person_id: str) -> int:
        """The store's person a person id names (raises if there is none)."""
        return self.store.global_pid(person_id)

    def _fids(self, seqs: Sequence[int]) -> dict[int, str]:
        return self.store._fids(seqs)

    def _summaries(self, seqs: Sequence[int]) -> dict[int, str | None]:
        return {s: t.summary for s, t in self.store._details(seqs).items()}

    # ------------------------------------------------------------------ the backend's part

    @abstractmethod
    def _journal(self, first: int, last: int) -> Iterator[tuple[int, dict[str, Any]]]:
        """(seq, document) of the journal from ``first`` to ``last``, in order, for the
        system's view (the caller holds the lock)."""

    def _kept_facts(self, seqs: Sequence[int] | None = None) -> dict[int, bytes]:
        """Pattern facts the backend keeps (encoded), of these fragments or of all: none
        unless the backend keeps them."""
        return {}

    def _keep_facts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        """Keep pattern facts for next time, if the backend can (a cache)."""
        return None

    @abstractmethod
    def _case_map(self) -> dict[int, frozenset[str]]:
        """Person (in the projection) -> the cases opened on them."""

    @abstractmethod
    def _pseudonym_key(self) -> bytes: ...

    # ------------------------------------------------------------------ the CaseSource

    def children(self) -> Iterator[Hashable]:
        return children_of(self._p)

    def cases(
        self, children: Iterable[Hashable], *, everything: bool = False, remember: bool = False
    ) -> Iterator[ChildCase]:
        """Cases of ``children``; ``everything``: they are all the children (a full scan).

        Reports are made from pattern facts (``facts.fact_of``): the ones the backend
        keeps, else made from the journal and, on a scan or a refresh (``remember``),
        kept for next time. A single child's reports are also kept in memory between
        calls. Cases are built in batches under the store's lock, released between them."""
        lock = self.lock()
        with lock:
            p = self._p
            kids = [c for c in children if isinstance(c, int)]
            if self._reports.owner != id(p):  # a new projection: forget
                self._reports = _Lru(self._reports.keep, id(p))
        make = ReportMaker(p)
        if everything:
            facts = self._all_facts(p, lock)
            loads = orjson.loads

            def from_scan(seqs: Sequence[int]) -> dict[int, Report]:
                out = {}
                for s in seqs:
                    blob = facts.get(s)
                    if blob is not None and (r := make(s, loads(blob))) is not None:
                        out[s] = r
                return out

            return cases_from_projection(p, kids, from_scan, batch=self.batch, every=True, lock=lock)
        lru = self._reports

        def from_cache(seqs: Sequence[int]) -> dict[int, Report]:
            out: dict[int, Report] = {}
            missing = []
            for s in seqs:
                r = lru.get(s)
                if (
                    r is not None
                    and [m.person for m in r.mentions] == p.mention_people(s)
                    and r.incident == (p.fragments[s].event or 0)
                ):
                    out[s] = r
                else:
                    missing.append(s)
            for s, fact in self._facts(missing, remember=remember).items():
                if (r := make(s, fact)) is not None:
                    out[s] = lru[s] = r
            return out

        return cases_from_projection(p, kids, from_cache, batch=self.batch, lock=lock)

    def _facts(self, seqs: Sequence[int], *, remember: bool) -> dict[int, Fact | None]:
        """Facts of these fragments: kept ones, else made from the journal."""
        if not seqs:
            return {}
        loads = orjson.loads
        out: dict[int, Fact | None] = {s: loads(b) for s, b in self._kept_facts(seqs).items()}
        missing = [s for s in seqs if s not in out]
        if missing:
            made = {s: fact_of(doc) for s, doc in self._load(missing).items()}
            out.update(made)
            if remember:
                self._keep_facts([(s, orjson.dumps(f)) for s, f in made.items()])
        return out

    def _all_facts(self, p: Projection, lock: threading.RLock) -> dict[int, bytes]:
        """Every current fragment's fact, encoded (a full scan). What the backend does not
        keep yet is made from the journal, read in order in chunks (the lock released
        between them) and kept: on the embedded store a one-off cost (docs/patterns.md)."""
        with lock:
            facts = self._kept_facts()
            missing = [s for s in p.fragments if s not in facts and p.is_current(s)]
        if len(missing) < self.batch:  # a few new fragments: by seq (known not to be kept)
            made = [(s, orjson.dumps(fact_of(doc))) for s, doc in self._load(missing).items()]
            facts.update(made)
            self._keep_facts(made)
            return facts
        missing.sort()
        for k in range(0, len(missing), self.batch):
            part = missing[k : k + self.batch]
            want = set(part)
            made = []
            with lock:
                for seq, doc in self._journal(part[0], part[-1]):
                    if seq in want:
                        blob = orjson.dumps(fact_of(doc))
                        facts[seq] = blob
                        made.append((seq, blob))
                self._keep_facts(made)
        return facts

    def mark(self) -> Hashable:
        return (id(self._p), self._p.last_seq, self._decisions_at())

    def changes(self, mark: Hashable, by_seq: dict[int, set[Hashable]]) -> tuple[set[Hashable] | None, set[Hashable]]:
        p = self._p
        assert isinstance(mark, tuple)
        pid_of, last, decided = mark
        if pid_of != id(p) or decided != self._decisions_at():
            return None, set()
        touched: set[int] = set()
        old_children: set[Hashable] = set()
        seq = p.last_seq
        while seq > last:  # seqs are dense in the journal; a retracted one may have no event
            meta = p.fragments.get(seq)
            if meta is not None:
                touched.update(p.mention_people(seq))
                old_children |= by_seq.get(seq, set())
                if meta.supersedes is not None:
                    old_children |= by_seq.get(meta.supersedes, set())
                    touched.update(p.mention_people(meta.supersedes))
            seq -= 1
        todo: set[Hashable] = set()
        done: set[int] = set()
        for q in touched:
            if q in done or q not in p.people:
                continue
            people, _ = p.component(q)
            done |= people
            todo.update(x for x in people if is_child(p, x))
        gone: set[Hashable] = set()
        for child in old_children:
            if isinstance(child, int) and is_child(p, child):
                todo.add(child)
            else:
                gone.add(child)
        return todo, gone

    def child_of(self, view: ReaderView, person_id: str) -> Hashable | None:
        try:
            pid = self._global_pid(person_id)
        except Exception:
            return None
        return pid if is_child(self._p, pid) else None

    def reader_person_id(self, view: ReaderView, child: Hashable) -> str | None:
        """The id this reader knows the child by: their earliest mention the reader may read."""
        p = self._p
        person = p.people.get(child) if isinstance(child, int) else None
        if person is None:
            return None
        for s, i, _ in sorted(person.mentions):
            if view.visible(s):
                fid = self._fids([s])[s]
                candidate = f"P{fid[1:17]}-{i}"
                return candidate if view.person(candidate) is not None else None
        return None

    def cases_of_child(self, child: Hashable) -> frozenset[str]:
        return self._case_map().get(child, frozenset()) if isinstance(child, int) else frozenset()

    def pseudonym(self, agency: str, child: Hashable) -> str:
        """Stable per child and per viewing agency (so agencies cannot match theirs up):
        a keyed hash of the child's earliest mention, never their id or name. The same
        on every backend holding the same journal and key."""
        p = self._p
        person = p.people.get(child) if isinstance(child, int) else None
        anchor = min((s, i) for s, i, _ in person.mentions) if person else (0, 0)
        fid = self._fids([anchor[0]]).get(anchor[0], "")
        msg = f"pattern-child\x1f{agency}\x1f{fid}\x1f{anchor[1]}".encode()
        return "C-" + hmac.new(self._pseudonym_key(), msg, hashlib.sha256).hexdigest()[:10].upper()

    def fragment_ids(self, seqs: Sequence[int]) -> dict[int, str]:
        return self._fids(seqs) if seqs else {}

    def summaries(self, seqs: Sequence[int]) -> dict[int, str | None]:
        return self._summaries(seqs) if seqs else {}

    def report_meta(self, seq: int) -> tuple[str, str, int, bool]:
        p = self._p
        meta = p.fragments[seq]
        ev = p.events.get(meta.event) if meta.event is not None else None
        return meta.agency, ev.kind if ev else "", ev.start if ev else 0, meta.access.existence_visible
