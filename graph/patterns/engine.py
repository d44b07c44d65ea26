"""Running patterns: for one child, across the store, incrementally, and shown to a reader.

Evaluation and presentation are two steps, on purpose (docs/patterns.md):

1. **Evaluate on the system's view**, as a maintenance job does: a pattern is about
   pieces no single agency can see, so it must look at all of them. Findings are kept
   inside graph/ as fragment seqs and day numbers; nothing of them leaves as it is.
2. **Present through the reader's view** (``present``): evidence the reader may read is
   shown with its provenance; evidence they may not read becomes "held by <agency>: ask
   their designated safeguarding lead"; a finding resting on a record whose very
   existence is hidden from the reader is not shown to them at all. Unless the reader is
   on the child's case (and working on it: safeguarding or meeting), the child is a
   stable pseudonym, dates are months, and no record's words are shown.

Across the store, findings are cached per selection of patterns and parameters, with the
fragments of each child's component (``Projection.component``: everything whose change
could change the child's case). After an append only the children whose component a
new fragment (or the one it replaces) touches are evaluated again; a test checks that
this equals a full run after random appends.
"""

from __future__ import annotations

import gc
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import orjson

from graph.access import CASE_PURPOSES
from graph.patterns import library
from graph.patterns.facts import ChildCase, Report
from graph.patterns.library import SEVERITY_RANK, Finding

Selection = dict[str, dict[str, Any]]  # pattern name -> parameters given (defaults for the rest)


class CaseSource(Protocol):
    """What a backend gives the engine: the system's cases, and what changed.

    Children are named by the backend's own keys (the embedded store: its projection's
    person ids). ``changes(mark, seqs_of)`` answers which children must be evaluated
    again since ``mark`` (None: all of them, e.g. after an erasure or a resolution
    decision), the children that no longer exist, and the new mark.
    """

    def lock(self) -> threading.RLock: ...

    def children(self) -> Iterator[Hashable]: ...

    def cases(
        self, children: Iterable[Hashable], *, everything: bool = False, remember: bool = False
    ) -> Iterator[ChildCase]:
        """Cases of these children (``everything``: they are all the children, a full
        scan; ``remember``: keep what was read for later scans, if the backend can). The
        source takes its own lock while it builds cases and may release it between
        batches."""
        ...

    def mark(self) -> Hashable: ...

    def changes(
        self, mark: Hashable, by_seq: dict[int, set[Hashable]]
    ) -> tuple[set[Hashable] | None, set[Hashable]]: ...

    def child_of(self, view: Any, person_id: str) -> Hashable | None: ...

    def reader_person_id(self, view: Any, child: Hashable) -> str | None: ...

    def cases_of_child(self, child: Hashable) -> frozenset[str]: ...

    def pseudonym(self, agency: str, child: Hashable) -> str: ...

    def fragment_ids(self, seqs: Sequence[int]) -> dict[int, str]: ...

    def summaries(self, seqs: Sequence[int]) -> dict[int, str | None]: ...

    def report_meta(self, seq: int) -> tuple[str, str, int, bool]:
        """(agency, kind, start day, existence visible) of a fragment, for presentation."""
        ...


def selection_of(names: Iterable[str] | None = None, params: Selection | None = None) -> Selection:
    """Which patterns, with which parameters: every pattern by default; checks names and
    parameter values now, so a bad request fails before anything runs."""
    chosen = list(names) if names else list(library.PATTERNS)
    params = params or {}
    for name in params:
        if name not in chosen:
            library.get(name)
            raise ValueError(f"parameters given for '{name}', which is not being run")
    out: Selection = {}
    for name in chosen:
        pat = library.get(name)
        pat.params(params.get(name))
        out[name] = dict(params.get(name) or {})
    return out


def _key(selection: Selection) -> bytes:
    return orjson.dumps(selection, option=orjson.OPT_SORT_KEYS)


def compiled(selection: Selection) -> list[tuple[library.Pattern, Any]]:
    """Each pattern of a selection with its parameters, checked once."""
    return [(library.get(name), library.get(name).params(given)) for name, given in selection.items()]


def evaluate_case(case: ChildCase, selection: Selection | list[tuple[library.Pattern, Any]]) -> list[Finding]:
    chosen = compiled(selection) if isinstance(selection, dict) else selection
    out: list[Finding] = []
    for pat, params in chosen:
        out.extend(pat.evaluate(case, params))
    return out


@dataclass
class _Run:
    mark: Hashable
    findings: dict[Hashable, list[Finding]] = field(default_factory=dict)
    seqs_of: dict[Hashable, frozenset[int]] = field(default_factory=dict)
    by_seq: dict[int, set[Hashable]] = field(default_factory=dict)

    def put(self, case: ChildCase, found: list[Finding]) -> None:
        self.drop(case.child)
        if found:
            self.findings[case.child] = found
        self.seqs_of[case.child] = case.seqs
        for s in case.seqs:
            self.by_seq.setdefault(s, set()).add(case.child)

    def drop(self, child: Hashable) -> None:
        self.findings.pop(child, None)
        for s in self.seqs_of.pop(child, ()):
            kids = self.by_seq.get(s)
            if kids is not None:
                kids.discard(child)
                if not kids:
                    del self.by_seq[s]


@dataclass(frozen=True)
class EvidenceItem:
    """One record a flag rests on, as this reader may know it."""

    agency: str
    when: str  # a day when the reader is on the child's case, else the month
    fragment_id: str | None = None  # only when the reader may read it
    kind: str | None = None
    summary: str | None = None  # only on the child's case
    held_back: str | None = None  # whom to ask, when the reader may not read it


@dataclass(frozen=True)
class Flag:
    """A pattern that fired for a child, as one reader may see it."""

    pattern: str
    title: str
    severity: str
    description: str
    explanation: str
    child: str  # the reader's person id when on the child's case, else a pseudonym
    pseudonymised: bool
    latest: str
    evidence: list[EvidenceItem]
    # agencies holding evidence the reader may not read: whom to contact
    contact: list[str]


_DAY = re.compile(r"\[\[(\d+)\]\]")


def _when(day: int, exact: bool) -> str:
    d = date.fromordinal(day)
    return d.isoformat() if exact else f"{d.year:04d}-{d.month:02d}"


def render(explanation: str, exact: bool) -> str:
    """A finding's words with its dates as days (on the case) or months (otherwise)."""
    return _DAY.sub(lambda m: _when(int(m.group(1)), exact), explanation)


class PatternEngine:
    """Runs the library over a store's cases and shows the results to readers."""

    def __init__(self, source: CaseSource, *, keep: int = 8) -> None:
        self.source = source
        self._runs: OrderedDict[bytes, _Run] = OrderedDict()
        self._keep = keep
        self._lock = threading.RLock()
        # how many children the last refresh evaluated (for tests and the benchmark)
        self.last_evaluated = 0

    # ------------------------------------------------------------------ evaluation

    def for_child(self, child: Hashable, selection: Selection) -> list[Finding]:
        """The findings for one child, evaluated now on the system's view."""
        with self.source.lock():
            cases = list(self.source.cases([child]))
        case = next((c for c in cases if c.child == child), None)
        return [] if case is None else evaluate_case(case, selection)

    def scan(self, selection: Selection) -> list[tuple[Hashable, Finding]]:
        """Every finding across the store, ranked: most severe first, then most recent."""
        with self._lock:  # another caller's refresh changes the run in place
            run = self.refresh(selection)
            out = [(child, f) for child, found in run.findings.items() for f in found]
        out.sort(key=lambda cf: (-SEVERITY_RANK[cf[1].severity], -cf[1].latest, cf[1].pattern, str(cf[0])))
        return out

    def refresh(self, selection: Selection) -> _Run:
        """The cached run for ``selection``, brought up to date: incrementally when it
        can be, in full the first time or when the store says everything changed.

        The store is not locked for the whole of a full run: the source builds cases in
        batches, each under the store's lock, and writers go on between them. The run's
        mark is taken before it starts, so whatever was written meanwhile is evaluated
        again by the next refresh; if meanwhile something changed everything (an erasure,
        a resolution decision), the run starts again."""
        key = _key(selection)
        chosen = compiled(selection)
        with self._lock:
            for _ in range(3):
                with self.source.lock():
                    run = self._runs.get(key)
                    todo: set[Hashable] | None = None
                    if run is not None:
                        todo, gone = self.source.changes(run.mark, run.by_seq)
                        if todo is not None:
                            for child in gone:
                                run.drop(child)
                    everything = run is None or todo is None
                    if everything:
                        run = _Run(self.source.mark())
                        children: list[Hashable] = list(self.source.children())
                    else:
                        assert run is not None and todo is not None
                        run.mark = self.source.mark()
                        for child in todo:
                            run.drop(child)
                        children = sorted(todo, key=str)
                assert run is not None
                # a run half brought up to date must not be kept: drop it until it is whole
                self._runs.pop(key, None)
                n = 0
                # the cases and findings are many small acyclic objects: collecting while
                # they are made is wasted work (measured: a third of a scan's time)
                was_enabled = gc.isenabled()
                gc.disable()
                try:
                    for case in self.source.cases(children, everything=everything, remember=True):
                        run.put(case, evaluate_case(case, chosen))
                        n += 1
                finally:
                    if was_enabled:
                        gc.enable()
                self.last_evaluated = n
                self._runs[key] = run
                while len(self._runs) > self._keep:
                    self._runs.popitem(last=False)
                if not everything:
                    break
                with self.source.lock():
                    again, _ = self.source.changes(run.mark, run.by_seq)
                if again is not None:  # only new fragments since it began: the next refresh
                    break
            assert run is not None
            return run

    # ------------------------------------------------------------------ presentation

    def present(self, view: Any, child: Hashable, findings: Sequence[Finding]) -> list[Flag]:
        """Findings about one child as ``view``'s reader may see them (module docstring)."""
        reader = view.reader
        on_case = (
            reader.active and view.purpose in CASE_PURPOSES and bool(reader.cases & self.source.cases_of_child(child))
        )
        person_id = self.source.reader_person_id(view, child) if on_case else None
        exact = person_id is not None
        name = person_id or self.source.pseudonym(reader.agency, child)
        seqs = sorted({s for f in findings for s in f.evidence})
        readable = {s for s in seqs if view.visible(s)}
        fids = self.source.fragment_ids(sorted(readable))
        words = self.source.summaries(sorted(readable)) if exact else {}
        flags = []
        for f in findings:
            items = []
            contact: set[str] = set()
            hidden = False
            for s in f.evidence:
                agency, kind, start, existence = self.source.report_meta(s)
                if s in readable:
                    items.append(
                        EvidenceItem(
                            agency=agency,
                            when=_when(start, exact),
                            fragment_id=fids[s],
                            kind=kind,
                            summary=words.get(s) if exact else None,
                        )
                    )
                elif existence:
                    contact.add(agency)
                    items.append(
                        EvidenceItem(
                            agency=agency,
                            when=_when(start, False),
                            held_back=f"Held by {agency}: ask their designated safeguarding lead if you need it.",
                        )
                    )
                else:
                    hidden = True
                    break
            if hidden:  # never betray a record the reader may not know exists
                continue
            pat = library.get(f.pattern)
            flags.append(
                Flag(
                    pattern=f.pattern,
                    title=pat.title,
                    severity=f.severity,
                    description=pat.description,
                    explanation=render(f.explanation, exact),
                    child=name,
                    pseudonymised=not exact,
                    latest=_when(f.latest, exact),
                    evidence=items,
                    contact=sorted(contact),
                )
            )
        return flags

    def run_for(
        self, store: Any, view: Any, person_id: str, selection: Selection, *, audited: bool = True
    ) -> list[Flag] | None:
        """Flags for one person as the reader knows them (None: no such person for them).
        Audited: the person, the patterns and parameters, and the records shown; a caller
        that writes its own audit entry for the same read (the chronology page) passes
        ``audited=False`` and puts ``audit_detail`` in it."""
        if view.person(person_id) is None:
            return None
        child = self.source.child_of(view, person_id)
        flags = [] if child is None else self.present(view, child, self.for_child(child, selection))
        if audited:
            store.audit_read(view, "read.patterns", audit_detail(selection, flags, [person_id]))
        return flags

    def scan_for(
        self, store: Any, view: Any, selection: Selection, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[Flag], bool]:
        """A page of the ranked list across the store, as the reader may see it, and
        whether there is more. Audited like ``run_for``."""
        ranked = self.scan(selection)
        out: list[Flag] = []
        skipped = 0
        more = False
        for child, f in ranked:
            shown = self.present(view, child, [f])
            if not shown:
                continue
            if skipped < offset:
                skipped += 1
                continue
            if len(out) == limit:
                more = True
                break
            out.extend(shown)
        people = sorted({fl.child for fl in out if not fl.pseudonymised})
        store.audit_read(view, "read.patterns_scan", {**audit_detail(selection, out, people), "offset": offset})
        return out, more


def audit_detail(selection: Selection, flags: Sequence[Flag], people: Sequence[str]) -> dict[str, Any]:
    """Names and parameters, and the ids of what was shown: never content."""
    return {
        "patterns": sorted(selection),
        "params": {k: v for k, v in selection.items() if v},
        "people": sorted(set(people)),
        "fragments": sorted({e.fragment_id for fl in flags for e in fl.evidence if e.fragment_id}),
        "flags": len(flags),
    }


def as_report(r: Report) -> dict[str, Any]:  # pragma: no cover - debugging aid
    return {"seq": r.seq, "kind": r.kind, "start": date.fromordinal(r.start).isoformat(), "agency": r.agency}


Evaluator = Callable[[ChildCase, Selection], list[Finding]]
