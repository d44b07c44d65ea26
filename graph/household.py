"""The household: who lives together, where, and when, derived from the fragments.

Like everything else it is a pure function of a projection and a predicate over fragment
seqs (``visible``): a reader's view hands it the projection of the fragments that reader
may read, so a reader sees only the members, addresses and periods that a fragment they
may read supports; the pattern engine hands it the store's projection and "current".
Every fact remembers the seqs that support it.

Who lives together: evidence from ONE record (fragment) at a time, never across records
(two records giving one address to two people are not evidence they share a home: flats,
hostels, a mistyped postcode).

1. ``lives_with`` between two people in a record: they live together (strong).
2. Two people given the same address in one record: they live together there (strong).
3. A parent or carer (``mother_of``, ``father_of``, ``parent_of``, ``step_parent_of``,
   ``carer_of``) named with the child in one record: presumed to live together, unless
   the record says otherwise:
   a. it gives both of them addresses and they share none;
   b. it names another parent or carer of the child whose address differs from this
      parent's (two homes in one record; the record does not say which is the child's,
      so neither is presumed: a non-resident father is common);
   c. it records this parent as ``ex_partner_of`` another parent or carer of the child
      named in it (they live apart; again neither is presumed).
   Rules 1 and 2 still apply in such a record.

The household of a person is the person, everyone a record links them with, and, from
each adult so reached, those a record links with that adult as living together (rules 1
and 2) or as their child (rule 3, downwards only). No further: a chain through a third
record can reach another home (an adult who moves between partners would join two
households into one), and a presumed link is never followed from another child up to
that child's parent (a half-sibling's non-resident father does not join through them).
Membership is not dated: someone who lived there once is a member (a known limit).

Where: the household's address history is read from the records that link its members
(the addresses the record gives to either of the two people it links) and from the
person's own records, each dated by the record's event (its date range). Consecutive
records giving the same address make one period; the local authority of a period is the
one those records give the address. A member's address in a record that does not link
them to the household is not the household's (an adult's own records may be of another
home). The child takes the household's address for the periods recorded.

Known limit: a record naming only a father and the child, with his address, is read as
the child living there at that time (rule 3); a record that says otherwise (the child's
own address, the mother named with hers, ``ex_partner_of``) prevents it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from graph.projection import Projection, Visible

PARENT_KINDS = frozenset({"mother_of", "father_of", "parent_of", "step_parent_of", "carer_of"})
PRESUMED = "parent"


@dataclass(frozen=True, slots=True)
class Link:
    """Evidence in one record that two people live together."""

    a: int
    b: int
    how: str  # "lives_with", "shared_address" or "parent"
    seq: int
    parent: int | None = None  # for "parent": which of the two is the parent


@dataclass(slots=True)
class Member:
    pid: int
    how: set[str] = field(default_factory=set)
    seqs: set[int] = field(default_factory=set)  # the records that put them in the household
    # provably someone else than the person whose household it is: named with them in one
    # record, or a date of birth or verified NHS number or UPN that differs. Otherwise
    # they may be the person themself under a variant resolution has not joined.
    distinct: bool = True


@dataclass(slots=True)
class Period:
    """The household at one address from ``start`` to ``end`` (day numbers)."""

    place: str  # the projection's place key
    start: int
    end: int
    seqs: list[int]
    local_authority: str | None = None
    la_seqs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Household:
    """The household of ``anchor``: members (the anchor among them) and address history."""

    anchor: int
    members: dict[int, Member]
    periods: list[Period]

    @property
    def seqs(self) -> set[int]:
        out = {s for m in self.members.values() for s in m.seqs}
        for p in self.periods:
            out.update(p.seqs)
        return out

    def places(self) -> set[str]:
        return {p.place for p in self.periods}

    def local_authorities(self) -> set[str]:
        return {p.local_authority for p in self.periods if p.local_authority}

    def authority_moves(self) -> list[tuple[str, int, list[int]]]:
        """(local authority, first day, supporting seqs), in order of first appearance."""
        first: dict[str, tuple[int, list[int]]] = {}
        for p in self.periods:
            if p.local_authority and p.local_authority not in first:
                first[p.local_authority] = (p.start, sorted(set(p.la_seqs) | set(p.seqs)))
        return sorted(((la, d, ss) for la, (d, ss) in first.items()), key=lambda x: (x[1], x[0]))

    def at(self, day: int) -> list[Period]:
        return [p for p in self.periods if p.start <= day <= p.end]


class _Reader:
    """Lookups on one projection through one predicate, memoised for one derivation."""

    def __init__(self, p: Projection, visible: Visible) -> None:
        self.p = p
        self.visible = visible
        self._addrs: dict[int, dict[int, set[str]]] = {}
        self._rels: dict[int, dict[int, list[tuple[int, str, int]]]] = {}
        self._links: dict[int, list[Link]] = {}
        self._child: dict[int, bool] = {}
        self._las: dict[str, dict[int, str]] = {}
        self._at: dict[int, dict[str, set[int]]] = {}
        self._parts: dict[
            tuple[int, bool], tuple[dict[int, tuple[set[str], set[int]]], set[tuple[int, int, str, int]]]
        ] = {}

    def at(self, seq: int) -> dict[str, set[int]]:
        """place -> the people record ``seq`` gives that address (worked out once a record)."""
        got = self._at.get(seq)
        if got is None:
            got = self._at[seq] = {}
            for x in set(self.p.mention_people(seq)):
                for place in self.addresses(x).get(seq, ()):
                    got.setdefault(place, set()).add(x)
        return got

    def authorities(self, place: str) -> dict[int, str]:
        """seq -> the local authority that record gives ``place``."""
        got = self._las.get(place)
        if got is None:
            got = self._las[place] = {}
            for la, seqs in self.p.places.get(place, {}).get("local_authority", {}).items():
                for x in seqs:
                    got[x] = la
        return got

    def is_child(self, pid: int) -> bool:
        got = self._child.get(pid)
        if got is None:
            got = self._child[pid] = _is_child(self.p, pid, self.visible)
        return got

    def addresses(self, pid: int) -> dict[int, set[str]]:
        """seq -> the places that record gives ``pid``."""
        got = self._addrs.get(pid)
        if got is None:
            got = {}
            for value, seqs in self.p.people[pid].field("address"):
                for s in seqs:
                    if self.visible(s):
                        got.setdefault(s, set()).add(value)
            self._addrs[pid] = got
        return got

    def relationships(self, pid: int) -> dict[int, list[tuple[int, str, int]]]:
        """seq -> the relationships involving ``pid`` that record asserts."""
        got = self._rels.get(pid)
        if got is None:
            got = {}
            p = self.p
            for rkey in p.person_relationships.get(pid, ()):
                for s in p.relationships.get(rkey, ()):
                    if self.visible(s):
                        got.setdefault(s, []).append(rkey)
            self._rels[pid] = got
        return got

    def links(self, pid: int) -> list[Link]:
        """Every link of ``pid`` to someone else, record by record (module docstring)."""
        got = self._links.get(pid)
        if got is not None:
            return got
        p = self.p
        out: list[Link] = []
        person = p.people.get(pid)
        if person is None:
            self._links[pid] = out
            return out
        mine = self.addresses(pid)
        rels = self.relationships(pid)
        # only a record that gives them an address or a relationship can link them
        for s in sorted(rels.keys() | mine.keys()):
            rs = rels.get(s, ())
            at = mine.get(s)
            if at:
                groups = self.at(s)
                for x in sorted({x for place in at for x in groups.get(place, ())} - {pid}):
                    out.append(Link(pid, x, "shared_address", s))
            for a, k, b in rs:
                if a == b:
                    continue
                if k == "lives_with":
                    out.append(Link(pid, b if a == pid else a, "lives_with", s))
                elif k in PARENT_KINDS and self._presumed(a, b, s):
                    out.append(Link(pid, b if a == pid else a, PRESUMED, s, parent=a))
        self._links[pid] = out
        return out

    def part(self, q: int, first: bool) -> tuple[dict[int, tuple[set[str], set[int]]], set[tuple[int, int, str, int]]]:
        """The links a household follows from ``q`` (``first``: q is the person whose
        household it is; otherwise never up to a parent), and the (seq, place) pairs
        those records give the two people they link: shared by the households of one
        family (a mother's part is worked out once, not once per child)."""
        key = (q, first)
        got = self._parts.get(key)
        if got is None:
            links = [x for x in self.links(q) if first or x.how != PRESUMED or x.parent != x.b]
            who: dict[int, tuple[set[str], set[int]]] = {}
            for x in links:
                hs = who.get(x.b)
                if hs is None:
                    hs = who[x.b] = (set(), set())
                hs[0].add(x.how)
                hs[1].add(x.seq)
            got = self._parts[key] = (who, self.dated({(x.seq, y) for x in links for y in (x.a, x.b)}))
        return got

    def dated(self, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int, str, int]]:
        """(start, end, place, seq) for the place each (seq, person) pair's record gives them."""
        out = set()
        p = self.p
        for seq, who in pairs:
            places = self.addresses(who).get(seq)
            if not places:
                continue
            meta = p.fragments.get(seq)
            if meta is None or meta.event is None:
                continue
            ev = p.events[meta.event]
            for place in places:
                out.add((ev.start, ev.end, place, seq))
        return out

    def _presumed(self, parent: int, child: int, s: int) -> bool:
        """Rule 3: does record ``s`` leave the presumption that they live together?"""
        pa = self.addresses(parent).get(s, set())
        ca = self.addresses(child).get(s, set())
        if pa and ca and not pa & ca:
            return False
        others = {
            a for a, k, b in self.relationships(child).get(s, []) if k in PARENT_KINDS and b == child and a != parent
        }
        for o in others:
            oa = self.addresses(o).get(s, set())
            if pa and oa and not pa & oa:
                return False
        for a, k, b in self.relationships(parent).get(s, []):
            if k == "ex_partner_of" and (b if a == parent else a) in others:
                return False
        return True


def _is_child(p: Projection, pid: int, visible: Visible) -> bool:
    person = p.people.get(pid)
    return person is not None and any(role == "child" and visible(s) for s, _, role in person.mentions)


def household_of(p: Projection, pid: int, visible: Visible, *, reader: _Reader | None = None) -> Household | None:
    """The household of ``pid`` as the fragments ``visible`` passes support it (None: no
    such person, or none of their records is visible)."""
    person = p.people.get(pid)
    if person is None or not any(visible(s) for s, _, _ in person.mentions):
        return None
    r = reader or _Reader(p, visible)
    members: dict[int, Member] = {pid: Member(pid, {"self"}, set())}
    # where: the addresses the linking records give the two people they link, and the
    # person's own addresses, each dated by its record's event
    dated = r.dated((s, pid) for s in r.addresses(pid))
    # two steps: the person's own links, then from each adult so reached their links as
    # living together or to their child; no further (an adult who moves between partners
    # would chain two homes into one)
    step = [pid]
    for depth in range(2):
        nxt = []
        for q in step:
            if depth and r.is_child(q):
                continue
            who, places = r.part(q, depth == 0)
            dated |= places
            for x, (hows, seqs) in who.items():
                if x == pid:  # a link back to the person: their own address evidence
                    continue
                m = members.get(x)
                if m is None:
                    m = members[x] = Member(x)
                    nxt.append(x)
                m.how |= hows
                m.seqs |= seqs
        step = nxt
    me = p.people[pid]
    for q, m in members.items():
        if q != pid:
            m.distinct = not Projection._compatible(me, p.people[q])
    entries = sorted(dated)
    periods: list[Period] = []
    for start, end, place, s in entries:
        last = periods[-1] if periods else None
        if last is not None and last.place == place:
            last.end = max(last.end, end)
            if s not in last.seqs:
                last.seqs.append(s)
        else:
            periods.append(Period(place, start, end, [s]))
    for per in periods:
        of_seq = r.authorities(per.place)
        by: dict[str, list[int]] = {}
        for x in per.seqs:
            la = of_seq.get(x)
            if la is not None:
                by.setdefault(la, []).append(x)
        if by:  # the authority most of the period's records give, then by name
            per.local_authority, per.la_seqs = max(by.items(), key=lambda kv: (len(kv[1]), kv[0]))
    return Household(pid, members, periods)


def households_of(p: Projection, pids: Iterable[int], visible: Visible) -> dict[int, Household]:
    """Households of several people on one projection, sharing lookups."""
    r = _Reader(p, visible)
    out = {}
    for q in pids:
        h = household_of(p, q, visible, reader=r)
        if h is not None:
            out[q] = h
    return out


def _day(n: int) -> str:
    return date.fromordinal(n).isoformat()


def describe(
    p: Projection,
    h: Household,
    person_id: Any,
    fragment_id: Any,
) -> dict[str, Any]:
    """The household as plain data, people and records named by the caller's functions
    (``person_id(pid)``, ``fragment_id(seq)``): for the API."""

    def texts(place: str, seqs: list[int]) -> str | None:
        rec = p.places.get(place, {}).get("text", {})
        best = [t for t, ss in rec.items() if set(ss) & set(seqs)]
        return best[0] if best else None

    def postcode(place: str, seqs: list[int]) -> str | None:
        rec = p.places.get(place, {}).get("postcode", {})
        best = [t for t, ss in rec.items() if set(ss) & set(seqs)]
        return best[0] if best else None

    return {
        "person_id": person_id(h.anchor),
        "members": [
            {
                "person_id": person_id(m.pid),
                "evidence": sorted(m.how - {"self"}),
                "sources": sorted(fragment_id(s) for s in m.seqs),
            }
            for m in sorted(h.members.values(), key=lambda m: (m.pid != h.anchor, m.pid))
        ],
        "addresses": [
            {
                "address": texts(per.place, per.seqs),
                "postcode": postcode(per.place, per.seqs),
                "local_authority": per.local_authority,
                "from": _day(per.start),
                "to": _day(per.end),
                "sources": sorted(fragment_id(s) for s in per.seqs),
            }
            for per in h.periods
        ],
    }


def household_for_reader(view: Any, person_id: str) -> dict[str, Any] | None:
    """The household of a person as ``view``'s reader may see it (None: no such person
    for them), people named by their ids as this reader knows them and every fact with
    the ids of the records supporting it. Derived in the reader's own projection of the
    person's component (``ReaderView``): a member, address or period that only records
    the reader may not read support is absent, exactly as in a projection of what they
    may read. (Uses the view's parts; graph/view.py is left as it is.)"""
    with view.source.lock:
        view.source.settle()
        found = view._resolve(person_id)
        if found is None:
            return None
        part, pid = found
        vis = view._vis(part)
        h = household_of(part.projection, pid, vis)
        if h is None:
            return None
        names = view._person_ids(part)
        fids = view.fid_map(sorted(h.seqs))
        return describe(part.projection, h, names, lambda s: fids[s])
