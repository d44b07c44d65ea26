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
from typing import TYPE_CHECKING, Any

from graph.patterns.facts import ChildCase, Report, cases_from_projection, children_of, is_child

if TYPE_CHECKING:
    from graph.projection import Projection
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


class ProjectionCases(ABC):
    """A ``CaseSource`` over a store's in-memory projection; subclasses say where the
    documents, ids, words, cases and key live."""

    def __init__(self, *, keep: int = 200_000) -> None:
        # reports of fragments read for single children, kept between calls (a meeting
        # reloads the same child's page): bounded, least recently used out first
        self._reports: _Lru = _Lru(keep)

    # ------------------------------------------------------------------ the backend's part

    @abstractmethod
    def lock(self) -> threading.RLock:
        """Catch the projection up and return the lock that holds it still."""

    @property
    @abstractmethod
    def _p(self) -> Projection: ...

    @abstractmethod
    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Documents by seq, for the system's view (never a reader's answer)."""

    @abstractmethod
    def _all_reports(self) -> dict[int, Report]:
        """Reports of every current fragment, for a full scan (the caller holds the lock)."""

    @abstractmethod
    def _decisions_at(self) -> Hashable:
        """Which resolution decisions are in force (changes whenever one is recorded)."""

    @abstractmethod
    def _global_pid(self, person_id: str) -> int:
        """The store's person a person id names (raises if there is none)."""

    @abstractmethod
    def _fids(self, seqs: Sequence[int]) -> dict[int, str]: ...

    @abstractmethod
    def _summaries(self, seqs: Sequence[int]) -> dict[int, str | None]: ...

    @abstractmethod
    def _case_map(self) -> dict[int, frozenset[str]]:
        """Person (in the projection) -> the cases opened on them."""

    @abstractmethod
    def _pseudonym_key(self) -> bytes: ...

    # ------------------------------------------------------------------ the CaseSource

    def children(self) -> Iterator[Hashable]:
        return children_of(self._p)

    def cases(self, children: Iterable[Hashable], *, everything: bool = False) -> Iterator[ChildCase]:
        kids = [c for c in children if isinstance(c, int)]
        p = self._p
        reports = self._all_reports() if everything else None
        if reports is None and self._reports.owner != id(p):  # a new projection: forget
            self._reports = _Lru(self._reports.keep, id(p))
        return cases_from_projection(p, kids, self._load, reports=reports, cache=None if everything else self._reports)

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
