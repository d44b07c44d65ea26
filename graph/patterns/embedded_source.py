"""The embedded store's side of the pattern engine (``CaseSource``).

Children are the projection's person ids; cases come from the projection and the
journal (``facts.cases_from_projection``). The mark is (projection object, last seq,
resolution decisions in force): a new projection (after an erasure) or a new decision
can move anyone, so either means "evaluate everything again"; new fragments mean
"evaluate the children whose component they, or the versions they replace, touch".
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

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
    from graph.embedded import EmbeddedStore
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


class EmbeddedCases:
    def __init__(self, store: EmbeddedStore, *, keep: int = 200_000, batch: int = 20_000) -> None:
        self.store = store
        # fragments per batch of cases: the store's lock is released between batches
        self.batch = batch
        # reports of fragments read for single children, kept between calls (a meeting
        # reloads the same child's page): bounded, least recently used out first
        self._reports: _Lru = _Lru(keep)

    def lock(self) -> threading.RLock:
        self.store._catch_up()
        return self.store._lock

    @property
    def _p(self) -> Any:
        return self.store.projection

    def children(self) -> Iterator[Hashable]:
        return children_of(self._p)

    def cases(
        self, children: Iterable[Hashable], *, everything: bool = False, remember: bool = False
    ) -> Iterator[ChildCase]:
        """Cases of ``children``; ``everything``: they are all the children (a full scan).

        Reports are made from the store's fact cache (``EmbeddedStore._pattern_facts``);
        a fragment not in it yet is read from the journal, and, on a scan or a refresh
        (``remember``), its fact is kept there for next time. A single child's reports are
        also kept in memory between calls."""
        store = self.store
        with store._lock:
            p = self._p
            kids = [c for c in children if isinstance(c, int)]
            if self._reports.owner != id(p):  # a new projection: forget
                self._reports = _Lru(self._reports.keep, id(p))
        make = ReportMaker(p)
        if everything:
            facts = self._all_facts(p)
            loads = orjson.loads

            def from_scan(seqs: Sequence[int]) -> dict[int, Report]:
                out = {}
                for s in seqs:
                    blob = facts.get(s)
                    if blob is not None and (r := make(s, loads(blob))) is not None:
                        out[s] = r
                return out

            return cases_from_projection(p, kids, from_scan, batch=self.batch, every=True, lock=store._lock)
        lru = self._reports

        def from_cache(seqs: Sequence[int]) -> dict[int, Report]:
            out: dict[int, Report] = {}
            missing = []
            for s in seqs:
                r = lru.get(s)
                if r is not None and [m.person for m in r.mentions] == p.mention_people(s):
                    out[s] = r
                else:
                    missing.append(s)
            for s, fact in self._facts(missing, remember=remember).items():
                if (r := make(s, fact)) is not None:
                    out[s] = lru[s] = r
            return out

        return cases_from_projection(p, kids, from_cache, batch=self.batch, lock=store._lock)

    def _facts(self, seqs: Sequence[int], *, remember: bool) -> dict[int, Fact | None]:
        """Facts of these fragments: from the cache, else from the journal."""
        if not seqs:
            return {}
        loads = orjson.loads
        out: dict[int, Fact | None] = {s: loads(b) for s, b in self.store._pattern_facts(seqs).items()}
        missing = [s for s in seqs if s not in out]
        if missing:
            made = {s: fact_of(doc) for s, doc in self.store._load(missing).items()}
            out.update(made)
            if remember:
                self.store._keep_pattern_facts([(s, orjson.dumps(f)) for s, f in made.items()])
        return out

    def _all_facts(self, p: Any) -> dict[int, bytes]:
        """Every current fragment's fact, as stored (a full scan). The first scan of a store
        makes the facts from the journal, in order, and keeps them: a one-off cost of
        reading every fragment (docs/patterns.md)."""
        store = self.store
        chunk = self.batch
        with store._lock:
            facts = store._pattern_facts()
            missing = [s for s in p.fragments if s not in facts and p.is_current(s)]
        if len(missing) < chunk:
            for s, f in self._facts(missing, remember=True).items():
                facts[s] = orjson.dumps(f)
            return facts
        missing.sort()
        for k in range(0, len(missing), chunk):
            part = missing[k : k + chunk]
            want = set(part)
            made = []
            with store._lock:  # released between chunks: writers are not held up for long
                for seq, _fid, doc, _sup in store._rows(part[0] - 1, until=part[-1]):
                    if seq in want:
                        blob = orjson.dumps(fact_of(doc))
                        facts[seq] = blob
                        made.append((seq, blob))
                store._keep_pattern_facts(made)
        return facts

    def mark(self) -> Hashable:
        return (id(self._p), self._p.last_seq, self.store._decisions_at)

    def changes(self, mark: Hashable, by_seq: dict[int, set[Hashable]]) -> tuple[set[Hashable] | None, set[Hashable]]:
        p = self._p
        assert isinstance(mark, tuple)
        pid_of, last, decided = mark
        if pid_of != id(p) or decided != self.store._decisions_at:
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
            pid = self.store.global_pid(person_id)
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
                fid = self.store._fids([s])[s]
                candidate = f"P{fid[1:17]}-{i}"
                return candidate if view.person(candidate) is not None else None
        return None

    def cases_of_child(self, child: Hashable) -> frozenset[str]:
        return self.store._case_map().get(child, frozenset()) if isinstance(child, int) else frozenset()

    def pseudonym(self, agency: str, child: Hashable) -> str:
        """Stable per child and per viewing agency (so agencies cannot match theirs up):
        a keyed hash of the child's earliest mention, never their id or name."""
        p = self._p
        person = p.people.get(child) if isinstance(child, int) else None
        anchor = min((s, i) for s, i, _ in person.mentions) if person else (0, 0)
        fid = self.store._fids([anchor[0]]).get(anchor[0], "")
        self.store._load_access()
        msg = f"pattern-child\x1f{agency}\x1f{fid}\x1f{anchor[1]}".encode()
        return "C-" + hmac.new(self.store._pseudonym_key, msg, hashlib.sha256).hexdigest()[:10].upper()

    def fragment_ids(self, seqs: Sequence[int]) -> dict[int, str]:
        return self.store._fids(seqs) if seqs else {}

    def summaries(self, seqs: Sequence[int]) -> dict[int, str | None]:
        return {s: t.summary for s, t in self.store._details(seqs).items()} if seqs else {}

    def report_meta(self, seq: int) -> tuple[str, str, int, bool]:
        p = self._p
        meta = p.fragments[seq]
        ev = p.events.get(meta.event) if meta.event is not None else None
        return meta.agency, ev.kind if ev else "", ev.start if ev else 0, meta.access.existence_visible
