"""What a pattern looks at: one child's reports, siblings and adults, as plain data.

A pattern never reads the store. It is handed a ``ChildCase``: every current report
that mentions the child (one fragment, one line), the reports about the child's
siblings and about the adults around them, each report reduced to the fields the
library reads (event kind, dates as day numbers, agency and its type and local
authority, concerns, significance, and two readings of its words: whether it records a
case closed as malicious, unfounded or no further action, and an attendance
percentage). A document is reduced to a person-free fact (``fact_of``), which a store
may keep; reports are made from facts and the people the projection resolved
(``report_from_fact``), and cases from the projection's people
(``cases_from_projection``).

Reading the words is deliberately narrow (docs/patterns.md lists the phrases): a
fragment has no structured "outcome" or "attendance" field, and adding them would ask
every agency to change what it sends. The phrases are the ones chronologies use
("NFA", "no further action", "malicious", "unfounded", "84%").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from operator import attrgetter
from typing import Any

from graph.household import Household, households_of
from graph.projection import Projection

# Roles that make someone one of "the adults around the child" for the adult pattern.
ADULT_ROLES = frozenset(
    {"parent", "step_parent", "carer", "partner", "household_member", "relative", "alleged_perpetrator"}
)
SIBLING_KINDS = frozenset({"sibling_of", "half_sibling_of"})
PARENT_KINDS = frozenset({"mother_of", "father_of", "parent_of", "step_parent_of", "carer_of"})

_CLOSURE = re.compile(
    r"\b(malicious|unfounded|unsubstantiated|not substantiated|no further action|nfa)\b", re.IGNORECASE
)
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*")


def closure_reading(*texts: str | None) -> str | None:
    """The closing outcome words say, if any: 'malicious', 'unfounded' or 'no_further_action'.

    >>> closure_reading("Case closed: no further action after the joint visit")
    'no_further_action'
    >>> closure_reading("Mother said the anonymous call about her had been malicious")
    'malicious'
    >>> closure_reading("Case closed: needs met") is None
    True
    """
    found = None
    for text in texts:
        if not text:
            continue
        for m in _CLOSURE.finditer(text):
            word = m.group(1).lower()
            if word == "malicious":
                return "malicious"
            if word in ("unfounded", "unsubstantiated", "not substantiated"):
                found = "unfounded"
            elif found is None:
                found = "no_further_action"
    return found


def attendance_reading(text: str, given: str | None) -> float | None:
    """The attendance percentage ``text`` gives for the child called ``given``.

    A percentage right after the child's first name is theirs ("Ellis 84%, Finley 93%");
    a text with a single percentage and no name gives it to every child in it.

    >>> attendance_reading("Summer term attendance: Ellis 84%, Finley 93%", "Finley")
    93.0
    >>> attendance_reading("Tyler's attendance 78% in the first half term", "Tyler")
    78.0
    >>> attendance_reading("Summer term attendance: Ellis 84%, Finley 93%", "Mia") is None
    True
    """
    found = [(m.start(), float(m.group(1))) for m in _PERCENT.finditer(text)]
    found = [(at, v) for at, v in found if v <= 100]
    if not found:
        return None
    if given:
        g = given.lower()
        for at, value in found:
            words = _WORD.findall(text[max(0, at - 40) : at])
            if words and g in (w.lower().removesuffix("'s") for w in words[-3:]):
                return value
        named = {w.lower() for w in _WORD.findall(text)}
        if g in named or f"{g}'s" in named:
            return found[0][1] if len(found) == 1 else None
    return found[0][1] if len(found) == 1 else None


# Not frozen: a frozen dataclass's __init__ costs twice as much, and a scan makes
# millions of these. Nothing changes them after they are made.
@dataclass(slots=True)
class Mention:
    """One person in a report: the store's person, their role, what the report says of them."""

    person: int
    role: str
    protected: bool = False
    local_authorities: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    attendance: float | None = None


@dataclass(slots=True)
class Report:
    """One current fragment reduced to what the pattern library reads."""

    seq: int
    kind: str
    start: int  # day numbers (date.toordinal)
    end: int
    agency: str
    agency_type: str
    local_authority: str | None
    concerns: tuple[str, ...]
    significance: str
    closure: str | None
    mentions: tuple[Mention, ...]
    # markings: may others know this record exists (a placeholder), or not at all
    existence_visible: bool = True
    # the event the record is part of: two agencies' records of one incident share it
    # (graph/incidents.py); 0 when not known (then the record is its own incident)
    incident: int = 0

    @property
    def incident_key(self) -> int:
        return self.incident or -self.seq

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2

    @property
    def day(self) -> date:
        return date.fromordinal(self.start)

    def mentions_person(self, pid: int) -> bool:
        return any(m.person == pid for m in self.mentions)

    def of(self, pid: int) -> Mention | None:
        for m in self.mentions:
            if m.person == pid:
                return m
        return None


def _place(a: dict[str, Any]) -> str:
    """An address as the projection keys places: its words (case and spacing ignored) and postcode."""
    return " ".join((a.get("text") or "").lower().split()) + "|" + a["postcode"]


def _ordinal(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


Fact = list[Any]
FACTS_VERSION = 1
"""The format ``fact_of`` writes. Change it whenever ``fact_of`` records anything new or
differently: stores forget facts kept in another format (they are a cache) and scans
make them again."""
"""What the library reads of one fragment, without the people its mentions resolved to:
JSON-able, so a store can keep it beside the fragment (``fact_of``). Resolution can move
a mention to another person; these fields never change while the fragment exists."""


def fact_of(doc: dict[str, Any]) -> Fact | None:
    """The fact of a canonical fragment document (None: no event, nothing to read).

    ``[kind, start, end, agency, agency type, local authority, concerns, significance,
    closure, existence visible, mentions]``; a mention is ``[role, protected]``, and for
    a child ``[role, protected, local authorities, places, attendance]``.
    """
    ev = doc.get("event")
    if ev is None:
        return None
    when = ev["when"]
    words = ""
    if ev["kind"] == "school_attendance":
        words = " ".join(x for x in (ev.get("summary"), ev.get("narrative"), ev.get("action_taken")) if x)
    mentions: list[list[Any]] = []
    for m in doc.get("people", ()):
        role = m["role"]
        protected = bool(m.get("identity_protected"))
        if role != "child":  # the library reads addresses and attendance of children only
            mentions.append([role, protected])
            continue
        addrs = m.get("addresses", ())
        attendance = None
        if words:
            name = m.get("name") or {}
            norm = m.get("norm") or {}
            given = name.get("given") or (norm.get("given") or [None])[0] or (name.get("full") or "").split(" ")[0]
            attendance = attendance_reading(words, given)
        mentions.append(
            [
                role,
                protected,
                sorted({a["local_authority"] for a in addrs if a.get("local_authority")}),
                sorted({_place(a) for a in addrs if a.get("postcode")}),
                attendance,
            ]
        )
    agency = doc["agency"]
    return [
        ev["kind"],
        _ordinal(when["start"]),
        _ordinal(when["end"]),
        agency["id"],
        agency["type"],
        agency.get("local_authority"),
        list(doc.get("concerns", ())),
        doc["significance"],
        # the narrative is read only on a closure: elsewhere it may retell the history
        closure_reading(
            ev.get("summary"), ev.get("action_taken"), ev.get("narrative") if ev["kind"] == "case_closed" else None
        ),
        bool((doc.get("markings") or {}).get("existence_visible", True)),
        mentions,
    ]


def incidents_of(reports: Iterable[Report]) -> list[list[Report]]:
    """The reports grouped by incident (two agencies' records of one corroborated event
    are one incident), each group by start; the groups in order of their first report.
    Count these, not the reports, where one incident told twice must count once."""
    groups: dict[int, list[Report]] = {}
    for r in sorted(reports, key=lambda r: (r.start, r.seq)):
        groups.setdefault(r.incident_key, []).append(r)
    return list(groups.values())


def report_from_fact(
    seq: int, fact: Fact, people: Sequence[int], agency_type: str | None = None, incident: int = 0
) -> Report | None:
    """A report from a fragment's fact and the person each of its mentions resolved to
    (None when they do not match: the fragment is not projected as read)."""
    kind, start, end, agency, atype, la, concerns, significance, closure, existence, ms = fact
    if len(people) != len(ms):
        return None
    return Report(
        seq,
        kind,
        start,
        end,
        agency,
        agency_type or atype,
        la,
        tuple(concerns),
        significance,
        closure,
        tuple(
            Mention(pid, m[0], m[1]) if len(m) == 2 else Mention(pid, m[0], m[1], tuple(m[2]), tuple(m[3]), m[4])
            for pid, m in zip(people, ms, strict=True)
        ),
        existence,
        incident,
    )


@dataclass
class ChildCase:
    """One child and what the library may look at around them.

    ``reports`` mention the child; ``others`` are the reports of the people around them
    (siblings, the adults in the child's reports) that do not mention the child; the
    relationships say who is a sibling and who is whose parent.
    """

    child: int
    reports: list[Report]
    others: list[Report] = field(default_factory=list)
    siblings: frozenset[int] = frozenset()
    # adult -> the children they are a parent or carer of, by the relationships recorded
    parent_of: dict[int, frozenset[int]] = field(default_factory=dict)
    # the component's fragments (any version): what a change must touch to alter this case
    seqs: frozenset[int] = frozenset()
    # the households (graph/household.py) of the children of the component, on the
    # system's view: who lives with whom, and where and when, with supporting seqs
    households: dict[int, Household] = field(default_factory=dict)
    # every current report of the component, by seq: the records a household rests on
    lookup: dict[int, Report] = field(default_factory=dict)
    _housemates: dict[tuple[int, bool], set[int]] = field(default_factory=dict, repr=False, compare=False)

    def all_reports(self) -> Iterator[Report]:
        yield from self.reports
        yield from self.others

    @cached_property
    def places(self) -> dict[int, frozenset[str]]:
        """Each child's addresses in these reports (the child's, the siblings', any child
        the adults' reports name), person -> set. Made when first asked: few patterns do."""
        return self._children_fields()[0]

    @cached_property
    def local_authorities(self) -> dict[int, frozenset[str]]:
        """Each child's local authorities in these reports, person -> set."""
        return self._children_fields()[1]

    @property
    def household(self) -> Household | None:
        """The child's own household, if any record supports one."""
        return self.households.get(self.child)

    def household_children(self, pid: int | None = None, *, distinct: bool = True) -> set[int]:
        """The other children of ``pid``'s (default: this child's) household; with
        ``distinct``, only those provably not the child themself (``Member.distinct``):
        an unjoined variant of the child's name is not their brother or sister."""
        who = self.child if pid is None else pid
        got = self._housemates.get((who, distinct))
        if got is None:
            h = self.households.get(who)
            got = (
                set()
                if h is None
                else {
                    q
                    for q, m in h.members.items()
                    if q != who and q in self.households and (m.distinct or not distinct)
                }
            )
            self._housemates[(who, distinct)] = got
        return got

    def reports_of(self, seqs: Iterable[int]) -> list[Report]:
        """The current reports of these seqs (a household's evidence), where there are any."""
        return [r for s in seqs if (r := self.lookup.get(s)) is not None]

    def _children_fields(self) -> tuple[dict[int, frozenset[str]], dict[int, frozenset[str]]]:
        places: dict[int, set[str]] = {}
        las: dict[int, set[str]] = {}
        for r in self.all_reports():
            for m in r.mentions:
                if m.role == "child":
                    places.setdefault(m.person, set()).update(m.places)
                    las.setdefault(m.person, set()).update(m.local_authorities)
        for pid in set(places) | set(las):
            h = self.households.get(pid)
            if h is not None:  # the child takes the household's addresses
                places.setdefault(pid, set()).update(h.places())
                las.setdefault(pid, set()).update(h.local_authorities())
        return {k: frozenset(v) for k, v in places.items()}, {k: frozenset(v) for k, v in las.items()}


def is_child(p: Projection, pid: int) -> bool:
    """Someone any current record names in the role of child."""
    person = p.people.get(pid)
    return person is not None and any(role == "child" and p.is_current(s) for s, _, role in person.mentions)


def children_of(p: Projection) -> Iterator[int]:
    """Every child in the projection, in the store's order."""
    for pid in p.people:
        if is_child(p, pid):
            yield pid


def agency_type(p: Projection, agency: str) -> str:
    types = p.agencies.get(agency, {}).get("type", {})
    if not types:
        return ""
    return max(types.items(), key=lambda kv: len(kv[1]))[0]


class ReportMaker:
    """Reports from facts on one projection: the people each mention resolved to now,
    and each agency's type as the projection knows it (looked up once per agency)."""

    def __init__(self, p: Projection) -> None:
        self.p = p
        self._types: dict[str, str] = {}

    def __call__(self, seq: int, fact: Fact | None) -> Report | None:
        if fact is None:
            return None
        aid = fact[3]
        t = self._types.get(aid)
        if t is None:
            t = self._types[aid] = agency_type(self.p, aid)
        meta = self.p.fragments.get(seq)
        incident = meta.event if meta is not None and meta.event is not None else 0
        return report_from_fact(seq, fact, self.p.mention_people(seq), t, incident)


ReportsFor = Callable[[Sequence[int]], dict[int, Report]]
"""Reports of these (current) fragments: the backend's part of building cases."""


def cases_from_projection(
    p: Projection,
    children: Iterable[int],
    reports_for: ReportsFor,
    *,
    batch: int = 20_000,
    every: bool = False,
    lock: AbstractContextManager[Any] | None = None,
) -> Iterator[ChildCase]:
    """``ChildCase`` for each of ``children``, read from the store's projection.

    Children are taken component by component (``Projection.component``): a component's
    reports are fetched once, in batches of about ``batch`` fragments, so a scan of the
    whole store reads each fragment once. Only the children asked for get a case, unless
    ``every`` says they are all of them. ``lock`` (the store's) is held while a batch is
    built and released between batches, so a long scan does not hold up writers: a case
    is then as of the moment its batch was built.
    """
    wanted = None if every else set(children)
    todo = iter(children if every else sorted(wanted or ()))
    seen: set[int] = set()
    guard = lock if lock is not None else nullcontext()
    while True:
        with guard:
            pending: list[tuple[list[int], frozenset[int]]] = []
            size = 0
            for child in todo:
                if child in seen or child not in p.people:
                    continue
                people, seqs = p.component(child)
                kids = [
                    q for q in sorted(people) if q not in seen and (wanted is None or q in wanted) and is_child(p, q)
                ]
                if child not in kids:
                    kids.append(child)
                seen.update(kids)
                pending.append((kids, frozenset(seqs)))
                size += len(seqs)
                if size >= batch:
                    break
            if not pending:
                return
            reports = reports_for(sorted({s for _, seqs in pending for s in seqs if p.is_current(s)}))
            built = []
            for kids, part in pending:
                # the households of every child of the component, once per component
                homes = households_of(p, _children_in(p, part), p.is_current)
                built += [_case(p, child, reports, part, homes) for child in kids]
        yield from built


_BY_DATE = attrgetter("start", "seq")


def _children_in(p: Projection, seqs: frozenset[int]) -> list[int]:
    """The children a component's current fragments name in the role of child."""
    kids: set[int] = set()
    for s in seqs:
        meta = p.fragments.get(s)
        if meta is None or meta.event is None or not p.is_current(s):
            continue
        kids.update(q for q, role, s2 in p.events[meta.event].people if s2 == s and role == "child")
    return sorted(kids)


def _case(
    p: Projection,
    child: int,
    reports: dict[int, Report],
    seqs: frozenset[int],
    households: dict[int, Household] | None = None,
) -> ChildCase:
    people, relationships, is_current = p.people, p.relationships, p.is_current
    mine_seqs = {s for s, _, _ in people[child].mentions if s in reports}
    mine = sorted([reports[s] for s in mine_seqs], key=_BY_DATE)
    siblings: set[int] = set()
    parent_of: dict[int, set[int]] = {}
    for rkey in p.person_relationships.get(child, ()):
        a, kind, b = rkey
        if kind in SIBLING_KINDS:
            if any(is_current(s) for s in relationships[rkey]):
                siblings.add(b if a == child else a)
        elif kind in PARENT_KINDS and b == child and any(is_current(s) for s in relationships[rkey]):
            parent_of.setdefault(a, set())
    # the children of the child's parents are siblings too
    for parent in list(parent_of):
        for rkey in p.person_relationships.get(parent, ()):
            a, kind, b = rkey
            if a == parent and kind in PARENT_KINDS and any(is_current(s) for s in relationships[rkey]):
                parent_of[parent].add(b)
                if b != child:
                    siblings.add(b)
    siblings.discard(child)
    adults = {m.person for r in mine for m in r.mentions if m.role in ADULT_ROLES and not m.protected}
    others: dict[int, Report] = {}
    home = households.get(child) if households else None
    # the other children of the household: what is recorded about them counts too
    housemates = (
        {q for q, m in home.members.items() if q != child and q in households and m.distinct}
        if home and households
        else set()
    )
    for q in siblings | adults | housemates:
        person = people.get(q)
        if person is None:
            continue
        for s, _, _ in person.mentions:
            if s in reports and s not in mine_seqs:
                others[s] = reports[s]
    return ChildCase(
        child=child,
        reports=mine,
        others=sorted(others.values(), key=_BY_DATE),
        siblings=frozenset(siblings),
        parent_of={k: frozenset(v) for k, v in parent_of.items()},
        seqs=seqs,
        households=households or {},
        lookup=reports,
    )
