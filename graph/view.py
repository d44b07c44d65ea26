"""A reader's view: the projection of exactly the fragments one reader may see.

Every read path (person lookup, search, chronology, network, counts) goes through a
``ReaderView``; none reads the store's projection directly. What a reader sees must be
what a projection built from only the fragments they may read would show (DESIGN.md,
"Access follows provenance"), including who is joined to whom: two mentions joined only
by evidence the reader cannot see must not appear joined to them.

How that is done without a projection per reader. Resolution is local: a mention's
person depends only on fragments reachable from it through shared join keys and shared
fragments (``Projection.component``). So to answer a question about one person the view
takes that person's component in the store's projection and:

- if the reader may see every fragment in it, all of them current, with no protected
  identity hidden from them, the store's projection already is the reader's (the fast
  path);
- otherwise it projects the fragments of the component the reader may see, in journal
  order, with protected identities redacted, and answers from that small projection
  (cached per set of fragments and redactions, so readers who see the same pieces, and
  a meeting paging through a chronology, pay once).

On realistic data the second is the usual path: one record kept to its own agency, a
correction, or a sibling not on the reader's cases is enough. Measured at 1,000,000
fragments it is faster than the unfiltered query once cached, and 2-3 times slower on
the first call (docs/benchmarks.md).

A test drives random agencies, readers, grants and corrections through a state machine
and compares every reader's view with a brute-force projection of only what they may
read (tests/test_access_model.py).

People and events are named as the reader knows them: a person by their earliest mention
the reader can see (``P<fragment>-<n>``), an event by its earliest source the reader can
see (``E<fragment>``). Two readers who see different pieces may know one child by two
ids; an id a reader cannot resolve answers "not found", exactly like one that never was.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Concatenate, ParamSpec, TypeVar

import networkx as nx

from graph.access import CASE_PURPOSES, Decision, Purpose, Reader, decide, may_see_identity, redact_protected
from graph.chronology import ChronologyFilters, ChronologyLine, chronology, format_when
from graph.projection import Projection, Visible
from graph.resolution import MENTIONS_PER_FRAGMENT, Matcher
from graph.search import match_people
from graph.store import PersonSummary

ID_CHARS = 16  # hex characters of a fragment id in a person or event id: 64 bits
_RANK = {Decision.absent: 0, Decision.placeholder: 1, Decision.see: 2}
CHILD_ROLE = "child"
# who is in a child's circle: named beside the child in these roles, or so related
_PARENT_ROLES = frozenset({"parent", "step_parent", "carer"})
_CIRCLE_ROLES = _PARENT_ROLES | {"household_member"}
_CIRCLE_KINDS = frozenset({"mother_of", "father_of", "parent_of", "step_parent_of", "carer_of", "lives_with"})

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _locked(fn: Callable[Concatenate[ReaderView, _P], _T]) -> Callable[Concatenate[ReaderView, _P], _T]:
    """Answer a question with the store held still (many request threads share one store)."""

    @functools.wraps(fn)
    def run(self: ReaderView, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self.source.lock:
            self.source.settle()
            return fn(self, *args, **kwargs)

    return run


def _everything(seq: int) -> bool:
    return True


@dataclass
class ViewSource:
    """What a backend gives a reader's view: its projection and small lookups."""

    projection: Projection
    # canonical documents of fragments, by seq
    load: Callable[[Sequence[int]], dict[int, dict[str, Any]]]
    # fragment ids of seqs, and the seq of a fragment id prefix (None when none or several)
    fids: Callable[[Iterable[int]], dict[int, str]]
    seq_of_prefix: Callable[[str], int | None]
    # the cases of the children a fragment mentions
    cases_of: Callable[[int], frozenset[str]]
    # a live share decision released this fragment to this agency for this purpose
    granted: Callable[[int, str, Purpose], bool]
    # a stable pseudonym for an identity-protected mention, per viewing agency
    pseudonym: Callable[[str, int, int], str]
    # case id -> the mention (fragment seq, index) the case was opened on: its child
    case_anchors: Callable[[], dict[str, tuple[int, int]]] = dict
    # held while a view reads the projection, so a write applying to it cannot interleave
    # (the embedded store passes its own lock; reads from many threads are then safe)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # small projections of reader-visible parts, shared by the views of one store
    cache: OrderedDict[Any, Projection] = field(default_factory=OrderedDict)
    cache_size: int = 1024
    # entity resolution: the store's matcher, and the reviewers' decisions in force as
    # pairs of mention keys (joins, aparts); a reader's projection applies only those
    # whose two mentions the reader can see
    matcher: Matcher | None = None
    mention_decisions: Callable[[], tuple[list[tuple[int, int]], list[tuple[int, int]]]] = lambda: ([], [])
    # the reviewers' incident decisions in force as pairs of fragment seqs (joins, aparts);
    # a reader's projection applies only those about two records the reader can see
    incident_decisions: Callable[[], tuple[list[tuple[int, int]], list[tuple[int, int]]]] = lambda: ([], [])
    # called before each answer, with the lock held: a backend that projects its own
    # writes lazily (Neo4j) applies them here, so a view sees what its store has written
    settle: Callable[[], None] = lambda: None
    # fragment ids never change: remembered across requests (bounded)
    fid_cache: dict[int, str] = field(default_factory=dict)
    # components of the store's projection, valid until the next fragment arrives
    components: dict[int, tuple[set[int], set[int]]] = field(default_factory=dict)
    components_at: int = -1


@dataclass
class _Part:
    """One person's component as this reader sees it."""

    projection: Projection
    fast: bool  # the store's own projection: everything in the component is visible
    seqs: list[int]
    mention_pid: dict[tuple[int, int], int]


class ReaderView:
    """What one reader, for one declared purpose, may see. Build one per request: the
    reader's entitlements are read when it is made, so a change takes effect at once."""

    def __init__(self, source: ViewSource, reader: Reader, purpose: Purpose) -> None:
        self.source = source
        self.reader = reader
        self.purpose = purpose
        self._p = source.projection
        self._decisions: dict[int, Decision] = {}
        self._direct_cache: dict[int, Decision] = {}
        self._circles: dict[int, frozenset[int]] = {}
        self._identity: dict[int, bool] = {}
        self._parts: dict[int, _Part] = {}

    # ------------------------------------------------------------------ the policy

    def decision(self, seq: int) -> Decision:
        """The policy's answer for one fragment (any version), cached for this request:
        ``decide`` given the cases the fragment is on for this reader (``cases_for``)."""
        d = self._decisions.get(seq)
        if d is None:
            d = self._direct(seq)
            if d is not Decision.see:
                extra = self._circle_cases(seq)
                if extra:
                    wider = self._decide_on(seq, self.source.cases_of(seq) | extra)
                    if _RANK[wider] > _RANK[d]:
                        d = wider
            self._decisions[seq] = d
        return d

    def cases_for(self, seq: int) -> frozenset[str]:
        """The cases fragment ``seq`` is on as this reader may know it: those of the
        children it names, and those of the reader's cases whose child's circle it names
        (``_circle_cases``)."""
        return self.source.cases_of(seq) | self._circle_cases(seq)

    # ------------------------------------------------------------------ a child's circle
    # A record that names only the adults around a child (a police record about the
    # mother's partner) is on the child's case: its people are the child's parents,
    # step-parents, carers or household, or a parent's partner. Which adults those are
    # is itself evidence, so it is read only from records this reader may read on the
    # child's own account (``_direct``: never through another circle), and the record
    # then meets the same rule as any other on the case (``decide``).

    def _decide_on(self, seq: int, cases: frozenset[str]) -> Decision:
        """The policy's answer for one fragment taken to be on ``cases``."""
        meta = self._p.fragments[seq]
        granted = self.source.granted(seq, self.reader.agency, self.purpose)
        return decide(self.reader, self.purpose, meta.access, cases, granted=granted)

    def _direct(self, seq: int) -> Decision:
        """The policy's answer on the cases of the children the fragment names only."""
        d = self._direct_cache.get(seq)
        if d is None:
            d = self._direct_cache[seq] = self._decide_on(seq, self.source.cases_of(seq))
        return d

    def _circle_cases(self, seq: int) -> frozenset[str]:
        """The reader's cases whose child's circle a person of fragment ``seq`` is in
        (the fragment not naming that child itself)."""
        if not self.reader.cases or self.purpose not in CASE_PURPOSES:
            return frozenset()
        p = self._p
        meta = p.fragments.get(seq)
        if meta is None or meta.event is None:
            return frozenset()
        named = {pid for pid, _, s in p.events[meta.event].people if s == seq}
        anchors = self.source.case_anchors()
        out = set()
        for case in sorted(self.reader.cases):
            anchor = anchors.get(case)
            child = p.person_of(*anchor) if anchor is not None else None
            if child is None or child in named:
                continue
            if named & self._circle(child):
                out.add(case)
        return frozenset(out)

    def _circle(self, child: int) -> frozenset[int]:
        """The adults around a child as records this reader may read on the child's
        own account say: named as parent, step-parent, carer or household member beside
        the child, related to the child (mother of, lives with, ...), or the partner of
        one of the child's parents."""
        found = self._circles.get(child)
        if found is not None:
            return found
        p = self._p

        def readable(s: int) -> bool:
            return p.is_current(s) and self._direct(s) is Decision.see

        circle: set[int] = set()
        parents: set[int] = set()
        person = p.people.get(child)
        for s, _, role in person.mentions if person is not None else ():
            if role != CHILD_ROLE or not readable(s):
                continue
            ev = p.events[p.fragments[s].event]  # type: ignore[index]
            for pid, r, s2 in ev.people:
                if s2 == s and pid != child and r in _CIRCLE_ROLES:
                    circle.add(pid)
                    if r in _PARENT_ROLES:
                        parents.add(pid)
        for a, kind, b in p.person_relationships.get(child, ()):
            if kind in _CIRCLE_KINDS and any(readable(s) for s in p.relationships.get((a, kind, b), ())):
                other = a if b == child else b
                if kind == "lives_with" or b == child:
                    circle.add(other)
                    if kind != "lives_with":
                        parents.add(other)
        for q in sorted(parents):
            for a, kind, b in p.person_relationships.get(q, ()):
                if kind == "partner_of" and any(readable(s) for s in p.relationships.get((a, kind, b), ())):
                    circle.add(a if b == q else b)
            pq = p.people.get(q)
            for s, _, role in pq.mentions if pq is not None else ():
                if role == "parent" and readable(s):
                    ev = p.events[p.fragments[s].event]  # type: ignore[index]
                    circle.update(pid for pid, r, s2 in ev.people if s2 == s and r == "partner")
        circle.discard(child)
        found = self._circles[child] = frozenset(circle)
        return found

    def may_read(self, seq: int) -> bool:
        """May this reader read this fragment (current or an earlier version)?"""
        return seq in self._p.fragments and self.decision(seq) is Decision.see

    def visible(self, seq: int) -> bool:
        """A current fragment the reader may read: what their projection is built from."""
        return self._p.is_current(seq) and self.decision(seq) is Decision.see

    def _hidden_identities(self, seq: int) -> tuple[int, ...]:
        access = self._p.fragments[seq].access
        if not access.protected_mentions:
            return ()
        ok = self._identity.get(seq)
        if ok is None:
            ok = self._identity[seq] = may_see_identity(self.reader, access)
        return () if ok else access.protected_mentions

    def hides_identity(self, seq: int, idx: int) -> bool:
        """Mention ``idx`` of fragment ``seq`` is identity-protected from this reader."""
        return idx in self._hidden_identities(seq)

    # ------------------------------------------------------------------ parts

    def _part(self, pid: int) -> _Part:
        """The reader's projection of ``pid``'s component (see the module docstring)."""
        part = self._parts.get(pid)
        if part is not None:
            return part
        p = self._p
        people, seqs = self._component(pid)
        mine = sorted(s for s in seqs if self.visible(s))
        redactions = tuple((s, hidden) for s in mine if (hidden := self._hidden_identities(s)))
        if len(mine) == len(seqs) and not redactions:
            part = _Part(p, True, mine, {})
        else:
            pseudo_agency = self.reader.agency if redactions else ""
            key = (tuple(mine), redactions, pseudo_agency)
            cache = self.source.cache
            local = cache.get(key)
            if local is None:
                local = self._project(mine, dict(redactions))
                cache[key] = local
                while len(cache) > self.source.cache_size:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(key)
            part = _Part(local, False, mine, {})
        for q in people:
            self._parts[q] = part
        return part

    def _component(self, pid: int) -> tuple[set[int], set[int]]:
        src = self.source
        if src.components_at != self._p.last_seq or src.projection is not self._p:
            src.components.clear()
            src.components_at = self._p.last_seq
        found = src.components.get(pid)
        if found is None:
            found = self._p.component(pid)
            if len(src.components) > 100_000:
                src.components.clear()
            for q in found[0]:
                src.components[q] = found
        return found

    def _project(self, seqs: list[int], redactions: dict[int, tuple[int, ...]]) -> Projection:
        docs = self.source.load(seqs)
        fids = self.fid_map(seqs)
        for s in seqs:
            hidden = redactions.get(s)
            if hidden:
                docs[s] = _redact_each(docs[s], hidden, self._pseudonyms_for(s))
        local = Projection(matcher=self.source.matcher, docs=lambda want: {s: docs[s] for s in want})
        if self.source.matcher is not None:
            mine = set(seqs)
            joins, aparts = self.source.mention_decisions()

            def seen(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
                return [
                    (a, b)
                    for a, b in pairs
                    if a // MENTIONS_PER_FRAGMENT in mine and b // MENTIONS_PER_FRAGMENT in mine
                ]

            local.set_decisions(seen(joins), seen(aparts))
        mine_seqs = set(seqs)
        ijoins, iaparts = self.source.incident_decisions()
        local.set_incident_decisions(
            [(a, b) for a, b in ijoins if a in mine_seqs and b in mine_seqs],
            [(a, b) for a, b in iaparts if a in mine_seqs and b in mine_seqs],
        )
        for s in seqs:
            local.apply(s, fids[s], docs[s], self._p.fragments[s].supersedes)
        return local

    def _pseudonyms_for(self, seq: int) -> Callable[[int], str]:
        def name(mention: int) -> str:
            return self.source.pseudonym(self.reader.agency, seq, mention)

        return name

    def _local_pid(self, part: _Part, seq: int, idx: int) -> int | None:
        """The person mention ``(seq, idx)`` belongs to in this reader's part."""
        if not part.mention_pid:
            lp = part.projection
            for s in part.seqs:
                for i, q in enumerate(lp.mention_people(s)):
                    part.mention_pid[(s, i)] = q
        return part.mention_pid.get((seq, idx))

    # ------------------------------------------------------------------ naming

    def fid_map(self, seqs: Iterable[int]) -> dict[int, str]:
        cache = self.source.fid_cache
        want = [s for s in seqs if s not in cache]
        if want:
            if len(cache) > 1_000_000:
                cache.clear()
            cache.update(self.source.fids(want))
        return cache

    def _anchor(self, part: _Part, pid: int) -> tuple[int, int]:
        lp = part.projection
        if part.fast:
            return min((s, i) for s, i, _ in lp.people[pid].mentions if self.visible(s))
        return min((s, i) for s, i, _ in lp.people[pid].mentions)

    def _person_ids(self, part: _Part) -> Callable[[int], str]:
        memo: dict[int, str] = {}

        def name(pid: int) -> str:
            out = memo.get(pid)
            if out is None:
                s, i = self._anchor(part, pid)
                out = memo[pid] = f"P{self.fid_map([s])[s][1 : 1 + ID_CHARS]}-{i}"
            return out

        return name

    def _event_ids(self, part: _Part, vis: Visible) -> Callable[[int], str]:
        lp = part.projection

        def name(eid: int) -> str:
            s = min(x for x in lp.events[eid].sources if vis(x))
            return f"E{self.fid_map([s])[s][1 : 1 + ID_CHARS]}"

        return name

    def _resolve(self, person_id: str) -> tuple[_Part, int] | None:
        """The reader's part and local person for a person id, or None (never a hint why)."""
        head, _, idx = person_id.partition("-")
        if len(head) != 1 + ID_CHARS or not head.startswith("P") or not idx.isdigit():
            return None
        try:
            int(head[1:], 16)
        except ValueError:
            return None
        seq = self.source.seq_of_prefix(head[1:].lower())
        if seq is None or not self.may_read(seq):
            return None
        people = self._p.mention_people(seq)
        i = int(idx)
        if i >= len(people):
            return None
        part = self._part(people[i])
        if self.visible(seq):
            local = self._local_pid(part, seq, i) if not part.fast else people[i]
            return None if local is None else (part, local)
        # The id names a mention in a version since corrected or withdrawn (one the reader
        # may still read): the person it named is now known by their other mentions.
        for s, j, _ in sorted(self._p.people[people[i]].mentions):
            if self.visible(s):
                local = self._local_pid(part, s, j) if not part.fast else people[i]
                if local is not None:
                    return part, local
        return None

    def _vis(self, part: _Part) -> Visible:
        return self.visible if part.fast else _everything

    # ------------------------------------------------------------------ questions

    @_locked
    def person(self, person_id: str) -> PersonSummary | None:
        found = self._resolve(person_id)
        if found is None:
            return None
        part, pid = found
        return self._summary(part, pid)

    def _summary(self, part: _Part, pid: int) -> PersonSummary:
        lp, vis = part.projection, self._vis(part)
        person = lp.people[pid]
        return PersonSummary(
            person_id=self._person_ids(part)(pid),
            names=[v for v, _ in lp.person_values(pid, "name", vis)],
            dobs=[v for v, _ in lp.person_values(pid, "dob", vis)],
            identifiers=[
                {"scheme": v[0], "value": v[1], "verified": v[2]} for v, _ in lp.person_values(pid, "identifier", vis)
            ],
            descriptions=[v for v, _ in lp.person_values(pid, "description", vis)],
            events=len(lp.events_of(pid, vis)),
            agencies=sorted({lp.fragments[s].agency for s, _, _ in person.mentions if vis(s)}),
        )

    @_locked
    def find_people(self, query: str, *, limit: int = 20) -> list[PersonSummary]:
        """People the reader may see whose visible name or identifier matches ``query``.

        Candidates come from the store's indexes through the reader's predicate; each is
        then checked in the reader's own part, so a hit never rests on hidden evidence.
        Results come in the order the store first learnt of each person.
        """
        out: dict[str, PersonSummary] = {}
        for gpid in match_people(self._p, query, self.visible, limit=max(limit * 4, 50)):
            part = self._part(gpid)
            hits = [gpid] if part.fast else match_people(part.projection, query, _everything, limit=limit)
            for pid in hits:
                summary = self._summary(part, pid)
                out.setdefault(summary.person_id, summary)
        # in the store's order (first known first), so a longer search extends a shorter
        # one: pages of a search never skip or repeat anyone
        return list(out.values())[:limit]

    @_locked
    def chronology(self, person_id: str, filters: ChronologyFilters | None = None) -> list[ChronologyLine]:
        """The person's merged chronology as this reader may see it, with placeholders
        for records whose existence the reader may know of but not their content."""
        found = self._resolve(person_id)
        if found is None:
            return []
        part, pid = found
        vis = self._vis(part)
        lines = chronology(
            part.projection,
            pid,
            vis,
            filters,
            replaced=self._replaced,
            person_id=self._person_ids(part),
            event_id=self._event_ids(part, vis),
        )
        held = self._placeholders(part, pid, filters)
        return _merge_by_middle(lines, held) if held else lines

    def _replaced(self, seq: int) -> list[str]:
        """Earlier versions of ``seq`` this reader may read, newest first."""
        p = self._p
        out = []
        cur = p.fragments[seq].supersedes
        while cur is not None and cur in p.fragments:
            if self.may_read(cur):
                out.append(cur)
            cur = p.fragments[cur].supersedes
        fids = self.fid_map(out)
        return [fids[s] for s in out]

    def _placeholders(self, part: _Part, pid: int, filters: ChronologyFilters | None) -> list[ChronologyLine]:
        """Lines for current fragments about this child's case that the reader may know
        exist but not read: the holding agency, the month, and whom to ask; nothing else.

        Only on the chronology of the case's child as this reader knows them (the person
        holding the earliest child mention of that child the reader may read: the reader
        learnt from being shown it that it is about their case), and only for fragments on
        that case. A placeholder says "there is a record about the child of your case",
        never "this person is the one in that hidden record", which would rest a join on
        evidence the reader cannot see (an anonymous referrer could be unmasked so), and
        it appears once, not under every person the hidden record alone would join.
        """
        p = self._p
        mine = {(s, i) for s, i, _ in part.projection.people[pid].mentions}
        anchors = self.source.case_anchors()
        children: dict[str, int] = {}
        for c in sorted(self.reader.cases):
            anchor = anchors.get(c)
            if anchor is None or anchor[1] >= len(people := p.mention_people(anchor[0])):
                continue
            child = people[anchor[1]]
            first = min(
                ((s, i) for s, i, role in p.people[child].mentions if role == "child" and self.visible(s)),
                default=None,
            )
            if first in mine:
                children[c] = child
        if not children:
            return []
        cases = frozenset(children)
        seqs = {s for s, _ in mine}
        held: list[int] = []
        for child in sorted(set(children.values())):
            for s, _, _ in p.people[child].mentions:
                if s in seqs or not p.is_current(s) or self.decision(s) is not Decision.placeholder:
                    continue
                if not self.source.cases_of(s) & cases:
                    continue
                seqs.add(s)
                held.append(s)
        if filters is not None and filters.agencies:
            held = [s for s in held if p.fragments[s].agency in filters.agencies]
        lines = []
        for s in sorted(held):
            meta = p.fragments[s]
            if meta.event is None:
                continue
            ev = p.events[meta.event]
            start = date.fromordinal(ev.start).replace(day=1)
            nxt = (
                start.replace(year=start.year + 1, month=1)
                if start.month == 12
                else start.replace(month=start.month + 1)
            )
            month_end = date.fromordinal(nxt.toordinal() - 1)
            agency = meta.agency
            lines.append(
                ChronologyLine(
                    event_id="",
                    start=start.isoformat(),
                    end=month_end.isoformat(),
                    at=None,
                    precision="month",
                    when=format_when(start, start, "month", None, None),
                    kind="record_held_back",
                    summary=f"A record held by {agency} that you may not see: ask their designated safeguarding lead.",
                    people=[],
                    agencies=[agency],
                    author_roles=[],
                    statements=[],
                    significance="",
                    concerns=[],
                    corroborated=False,
                    corrected=False,
                    sources=[],
                    held_back=f"Held by {agency}: ask their designated safeguarding lead if you need it.",
                )
            )
        return lines

    @_locked
    def network(self, person_id: str, *, radius: int = 1) -> nx.MultiDiGraph:
        """The person's ego network in the reader's projection."""
        found = self._resolve(person_id)
        if found is None:
            return nx.MultiDiGraph()
        part, pid = found
        lp, vis = part.projection, self._vis(part)
        people = {pid}
        frontier = {pid}
        for _ in range(radius):
            nxt: set[int] = set()
            for q in frontier:
                for eid in lp.events_of(q, vis):
                    nxt.update(x for x, _, s in lp.events[eid].people if vis(s))
                for rkey in lp.person_relationships.get(q, ()):
                    if any(vis(s) for s in lp.relationships[rkey]):
                        nxt.update((rkey[0], rkey[2]))
            frontier = nxt - people
            people |= nxt
        g = lp.to_networkx(vis, people=people)
        names, events = self._person_ids(part), self._event_ids(part, vis)
        fids = self.fid_map(n[1] for n in g if n[0] == "fragment")
        relabel = {
            n: ("person", names(n[1]))
            if n[0] == "person"
            else ("event", events(n[1]))
            if n[0] == "event"
            else ("fragment", fids[n[1]])
            for n in g
            if n[0] in ("person", "event", "fragment")
        }
        g = nx.relabel_nodes(g, relabel)
        for _, data in g.nodes(data=True):  # supporting fragments by id: seqs would betray counts
            data["sources"] = tuple(sorted(fids.get(s) or self.fid_map([s])[s] for s in data.get("sources", ())))
        for _, _, data in g.edges(data=True):
            data["sources"] = tuple(sorted(fids.get(s) or self.fid_map([s])[s] for s in data.get("sources", ())))
        return g

    @_locked
    def incident_open(self, a: int, b: int) -> bool:
        """Two records the reader may read that, in the reader's own picture, are still two
        events offered for review as one incident (graph/incidents.py). A pair the store
        offers only because of a record the reader cannot see is not offered to them."""
        if not (self.visible(a) and self.visible(b)):
            return False
        # the part that holds both: through a child, or (a record naming no child)
        # through anyone the record names
        anchor = self._p.children_of(a) or self._p.children_of(b) or self._p.people_of(a)
        if not anchor:
            return False
        part = self._part(min(anchor))
        pair = (min(a, b), max(a, b))
        return pair in (self._p if part.fast else part.projection).incident_review

    @_locked
    def event(self, event_id: str) -> ChronologyLine | None:
        """One event as this reader may see it: its chronology line, with every source
        the reader may read. ``event_id`` is ``E`` and a source fragment's id prefix (any
        visible source names the event); None exactly as for no such event."""
        head = event_id[1:]
        if len(event_id) != 1 + ID_CHARS or not event_id.startswith("E"):
            return None
        try:
            int(head, 16)
        except ValueError:
            return None
        seq = self.source.seq_of_prefix(head.lower())
        if seq is None or not self.visible(seq):
            return None
        fid = self.fid_map([seq])[seq]
        for i in range(len(self._p.mention_people(seq))):
            for line in self.chronology(f"P{fid[1 : 1 + ID_CHARS]}-{i}"):
                if any(src.fragment_id == fid for src in line.sources):
                    return line
        return None

    @_locked
    def fragment(self, fid: str) -> dict[str, Any] | None:
        """One fragment as this reader may see it (protected identities redacted), a
        placeholder if they may know of it only, or None exactly as for no such id."""
        if not fid.startswith("F") or len(fid) != 25:
            return None
        seq = self.source.seq_of_prefix(fid[1:].lower())
        if seq is None or self.fid_map([seq])[seq] != fid:
            return None
        d = self.decision(seq)
        meta = self._p.fragments[seq]
        if d is Decision.absent:
            return None
        if d is Decision.placeholder:
            return {
                "id": fid,
                "held_back": True,
                "agency": meta.agency,
                "ask": f"Held by {meta.agency}: ask their designated safeguarding lead if you need it.",
            }
        doc = self.source.load([seq])[seq]
        hidden = self._hidden_identities(seq)
        if hidden:
            doc = _redact_each(doc, hidden, self._pseudonyms_for(seq))
        return doc

    @_locked
    def fragment_count(self) -> int:
        """How many current fragments this reader may read."""
        return sum(1 for s in self._p.fragments if self.visible(s))


def _middle(ln: ChronologyLine) -> float:
    return (date.fromisoformat(ln.start).toordinal() + date.fromisoformat(ln.end).toordinal()) / 2


def _merge_by_middle(lines: list[ChronologyLine], held: list[ChronologyLine]) -> list[ChronologyLine]:
    """Put placeholder lines where their month falls, leaving the chronology's own order
    of the other lines (by the middle of each date's span) exactly as it was."""
    out: list[ChronologyLine] = []
    todo = sorted(held, key=_middle)
    for ln in lines:
        while todo and _middle(todo[0]) < _middle(ln):
            out.append(todo.pop(0))
        out.append(ln)
    return out + todo


def _redact_each(doc: dict[str, Any], hidden: Sequence[int], pseudonym: Callable[[int], str]) -> dict[str, Any]:
    """Redact each hidden mention with its own pseudonym (stable per viewing agency)."""
    for i in hidden:
        doc = redact_protected(doc, [i], pseudonym(i))
    return doc


class SystemView(ReaderView):
    """Every current fragment, no identity redacted: the store's own projection as a view.
    For tests, benchmarks and maintenance; never served to a person."""

    def __init__(self, source: ViewSource) -> None:
        super().__init__(source, Reader("system", "", frozenset(), frozenset(), frozenset()), Purpose.safeguarding)

    def decision(self, seq: int) -> Decision:
        return Decision.see

    def _hidden_identities(self, seq: int) -> tuple[int, ...]:
        return ()
