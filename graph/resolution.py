"""Entity resolution as the graph sees it: the contract a matcher meets, the decisions
reviewers record, and the clustering that turns pairwise evidence into people.

The graph does not know how to compare two mentions; ingest does (``ingest.linkage``)
and hands the store a ``Matcher``. The graph owns what follows from the comparisons,
because it must be the same wherever a projection is built, the store's or a reader's:

- which mentions are compared at all (a blocking index over every mention's keys);
- how evidence becomes people (``cluster``), strongest evidence first, at the level of
  clusters: a person never holds two different verified NHS numbers or UPNs, dates of
  birth that cannot be one date mistyped (unless a shared identifier vouches), or two
  mentions from one record; a mention with no date of birth or identifier (weak) joins
  at most one person who has one, and never bridges two; a reviewer's "apart" is never
  overridden;
- the reviewers' decisions (join, apart, and undo of either), which are records in the
  store: nothing is destroyed, and undoing one restores the picture before it.

The result is a function of the set of mentions and decisions, not of the order they
arrived in: every tie is broken by fragment id and mention index, never by arrival.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import combinations
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rapidfuzz.distance import OSA

from graph.errors import InvalidDecision

if TYPE_CHECKING:
    from graph.projection import Projection
    from graph.view import ReaderView

MENTIONS_PER_FRAGMENT = 1024  # a mention's key is seq * this + its index


def mention_key(seq: int, idx: int) -> int:
    return seq * MENTIONS_PER_FRAGMENT + idx


def split_key(mk: int) -> tuple[int, int]:
    return divmod(mk, MENTIONS_PER_FRAGMENT)


class MentionFeatures(Protocol):
    """What the clustering reads from a matcher's features (the rest is the matcher's)."""

    dob: str | None
    nhs: str | None
    nhs_verified: bool
    upn: str | None
    upn_verified: bool
    apid: str | None
    apid_verified: bool

    @property
    def has_strong(self) -> bool: ...

    @property
    def too_little(self) -> bool: ...

    def __hash__(self) -> int: ...


class Matcher(Protocol):
    """Compares mentions. ``ingest.linkage.Linker`` is the implementation."""

    version: str
    upper_weight: float  # join at or above this match weight
    lower_weight: float  # review at or above this, keep apart below

    def features(self, mention: Mapping[str, Any]) -> MentionFeatures: ...

    def keys(self, features: Any) -> Sequence[Hashable]: ...

    def weight(self, a: Any, b: Any) -> float: ...

    def explain(self, a: Any, b: Any) -> PairEvidence: ...

    # relational evidence (collective resolution): see ``cluster``
    ambiguity_margin: float

    def relation_weight(self, a: Any, b: Any, relation: str) -> float | None: ...

    def compatible(self, a: Any, b: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class FieldEvidence:
    comparison: str
    level: str
    weight: float


@dataclass(frozen=True, slots=True)
class PairEvidence:
    """Why two mentions score what they do: every comparison's level and weight."""

    weight: float
    probability: float
    fields: tuple[FieldEvidence, ...]
    model: str
    # the record's context in plain words: "both recorded as parent of Mia Walsh (NHS number match)"
    context: tuple[str, ...] = ()


DecisionKind = Literal["join", "apart", "undo"]


@dataclass(frozen=True, slots=True)
class ResolutionDecision:
    """A reviewer's decision about two mentions (a fragment id and a mention index each).

    ``join``: they are one person. ``apart``: they are not (rejects a suggested join, or
    splits an automatic one). ``undo``: withdraws decision ``undoes``; the picture is
    then as if it had never been made. Decisions are appended, never changed."""

    id: int
    kind: DecisionKind
    a: tuple[str, int]
    b: tuple[str, int]
    reason: str
    decided_by: str
    decided_at: str
    undoes: int | None = None
    evidence: dict[str, Any] | None = None


def active_decisions(decisions: Iterable[ResolutionDecision]) -> list[ResolutionDecision]:
    """The join and apart decisions not undone, in the order they were made."""
    ds = list(decisions)
    undone = {d.undoes for d in ds if d.kind == "undo"}
    return [d for d in ds if d.kind != "undo" and d.id not in undone]


@lru_cache(maxsize=1 << 14)
def _day(iso: str) -> int | None:
    try:
        return date.fromisoformat(iso).toordinal()
    except ValueError:
        return None


def adjacent_days(a: str, b: str) -> bool:
    """Two ISO dates a day apart: 2019-03-31 and 2019-04-01 (a slip of a day at a
    month's or year's end changes several digits)."""
    da, db = _day(a), _day(b)
    return da is not None and db is not None and abs(da - db) == 1


def dobs_compatible(a: str, b: str) -> bool:
    """Two written dates of birth that can be one person's: equal, day and month
    swapped, one digit wrong (or two adjacent transposed), or a day apart."""
    if a == b:
        return True
    if a[:4] == b[:4] and a[5:7] == b[8:10] and a[8:10] == b[5:7]:
        return True
    return OSA.distance(a, b) <= 1 or adjacent_days(a, b)


def dobs_consistent(dobs: set[str]) -> bool:
    """The dates of birth can all be one person's: one of them agrees (as
    ``dobs_compatible``) with every other. Each agency's slip is its own, so a child
    recorded as 03/02, 02/03 and 03/02 a year out is one child born on 03/02; two dates
    that are each one slip from a third need not be one slip from each other."""
    if len(dobs) < 2:
        return True
    return any(all(dobs_compatible(x, y) for y in dobs) for x in dobs)


# ---------------------------------------------------------------- the record's context
# Who is named with whom, and in what role, as one record says it. A relation is
# evidence that two mentions are one person when the names must still agree: a child's
# mother, father or step-parent, a mother's partner, a parent's child or the household
# member listed with them (children are many, but their first names tell them apart,
# and names that cannot decide between them leave the mention to review).
_RELATION_OF = {
    "mother_of": "parent",
    "father_of": "parent",
    "parent_of": "parent",
    "step_parent_of": "step_parent",
    "carer_of": "step_parent",
}
_ROLE_RELATION = {"parent": "parent", "step_parent": "step_parent", "carer": "step_parent"}
CHILD_ROLE = "child"
PARENT_GAP_DAYS = 12 * 365  # a parent is at least about 12 years older than their child
CHILD_MAX_AGE_DAYS = 26 * 365  # a mention recorded as a child is not someone older than this


@dataclass(frozen=True, slots=True)
class MentionContext:
    """A mention's place in its own record: its role, the record's day (an ordinal),
    and its relations to the record's other mentions as (relation, mention key)."""

    role: str
    day: int
    relations: tuple[tuple[str, int], ...]


def mention_contexts(seq: int, doc: Mapping[str, Any]) -> dict[int, MentionContext]:
    """The context of each mention of a fragment that has one worth keeping: a
    relation that is evidence (``_RELATION_OF``), or a role that bounds an age (a
    child). A parent named with children and no relationship written out is taken as
    parent of each child in the record; a partner named beside exactly one parent, as
    that parent's partner."""
    people = doc.get("people") or ()
    ev = doc.get("event")
    if not people or ev is None:
        return {}
    refs = {m["ref"]: i for i, m in enumerate(people)}
    rel: dict[int, list[tuple[str, int]]] = {}
    written: set[tuple[int, str]] = set()
    for r in doc.get("relationships") or ():
        a, b = refs.get(r["subject"]), refs.get(r["object"])
        if a is None or b is None:
            continue
        kind = r["kind"]
        if kind == "partner_of":
            rel.setdefault(a, []).append(("partner", mention_key(seq, b)))
            rel.setdefault(b, []).append(("partner", mention_key(seq, a)))
            written.update({(a, "partner"), (b, "partner")})
        elif kind in _RELATION_OF:
            rel.setdefault(a, []).append((_RELATION_OF[kind], mention_key(seq, b)))
            written.add((a, _RELATION_OF[kind]))
            if _RELATION_OF[kind] == "parent":
                rel.setdefault(b, []).append(("child", mention_key(seq, a)))
                written.add((b, "child"))
    children = [i for i, m in enumerate(people) if m["role"] == CHILD_ROLE]
    parents = [i for i, m in enumerate(people) if m["role"] == "parent"]
    for i, m in enumerate(people):
        relation = _ROLE_RELATION.get(m["role"])
        if relation is not None and (i, "parent") not in written and (i, "step_parent") not in written:
            rel.setdefault(i, []).extend((relation, mention_key(seq, c)) for c in children)
        if m["role"] == "partner" and (i, "partner") not in written and len(parents) == 1:
            rel.setdefault(i, []).append(("partner", mention_key(seq, parents[0])))
            rel.setdefault(parents[0], []).append(("partner", mention_key(seq, i)))
        # a step-parent named beside the one parent is that parent's partner (the
        # school's "Mr B Price, step-parent" is social care's "Brian, mum's partner")
        step = m["role"] == "step_parent" or (i, "step_parent") in written
        if step and (i, "partner") not in written and len(parents) == 1 and parents[0] != i:
            rel.setdefault(i, []).append(("partner", mention_key(seq, parents[0])))
            rel.setdefault(parents[0], []).append(("partner", mention_key(seq, i)))
        if m["role"] == CHILD_ROLE and (i, "child") not in written:
            rel.setdefault(i, []).extend(("child", mention_key(seq, p)) for p in parents)
        elif m["role"] == "household_member":
            # listed with the parents (a housing record's tenancy): most often a child,
            # but it may be an adult (a father of the children's name), so no age is
            # implied; it is compared with their children ("child" and "household"
            # group together, ``_attach``)
            rel.setdefault(i, []).extend(("household", mention_key(seq, p)) for p in parents)
    try:
        day = date.fromisoformat(ev["when"]["start"]).toordinal()
    except (KeyError, TypeError, ValueError):
        day = 0
    out: dict[int, MentionContext] = {}
    for i, m in enumerate(people):
        rs = tuple(sorted(set(rel.get(i, ()))))
        if rs or m["role"] == CHILD_ROLE:
            out[mention_key(seq, i)] = MentionContext(sys.intern(m["role"]), day, rs)
    return out


# evidence tiers, strongest first
REVIEWER = 4
IDENTIFIER = 3
NAME_DOB = 2
SCORE = 1


@dataclass(frozen=True, slots=True)
class Edge:
    """Evidence for joining every mention in ``a`` with every mention in ``b``.

    Mentions that read exactly alike (one variant, ``Candidates``) are compared once, so
    an edge joins two groups of mention keys; ``a is b`` for the mentions of one variant
    among themselves. Both groups are in the clustering's stable order."""

    tier: int
    weight: float
    a: tuple[int, ...]
    b: tuple[int, ...]
    # the two mentions carry one identifier, as written: the edge may join people whose
    # dates of birth disagree (a mistyped date is likelier than a shared identifier)
    vouched: bool = False

    def pairs(self) -> Iterator[tuple[int, int]]:
        if self.a is self.b:
            return combinations(self.a, 2)
        return ((x, y) for x in self.a for y in self.b)


def evidence_tier(a: MentionFeatures, b: MentionFeatures) -> int:
    """The deterministic evidence two mentions share, if any: a verified identifier
    (NHS number, UPN, the agency's own person id), or first name, surname and date of
    birth exactly (the Core's joins)."""
    if (a.nhs_verified and b.nhs_verified and a.nhs == b.nhs) or (a.upn_verified and b.upn_verified and a.upn == b.upn):
        return IDENTIFIER
    if a.apid_verified and b.apid_verified and a.apid == b.apid:
        return IDENTIFIER
    fa: Any = a
    fb: Any = b
    if a.dob and a.dob == b.dob and fa.given and fa.given == fb.given and fa.family and fa.family == fb.family:
        return NAME_DOB
    return 0


def shares_identifier(a: MentionFeatures, b: MentionFeatures) -> bool:
    return bool((a.nhs and a.nhs == b.nhs) or (a.upn and a.upn == b.upn) or (a.apid and a.apid == b.apid))


def edge_between(
    matcher: Matcher, a: MentionFeatures, b: MentionFeatures, ma: tuple[int, ...], mb: tuple[int, ...]
) -> tuple[float, Edge | None]:
    """Two variants' match weight and the evidence for joining their mentions (``ma``
    with ``mb``), or None: a deterministic tier, or a weight at or above the upper
    threshold when both have enough to go on. The store and the benchmarks both ask
    this, so they cannot disagree."""
    tier = evidence_tier(a, b)
    w = matcher.weight(a, b)
    if tier == 0 and (w < matcher.upper_weight or a.too_little or b.too_little):
        return w, None
    vouched = tier == IDENTIFIER or (w >= matcher.upper_weight and shares_identifier(a, b))
    return w, Edge(tier or SCORE, w, ma, mb, vouched)


class _Cluster:
    __slots__ = ("dobs", "dobs_differ", "members", "nhs", "seqs", "strong", "upn", "variants")

    def __init__(self, mk: int, f: MentionFeatures | None) -> None:
        self.members = [mk]
        self.seqs = {mk // MENTIONS_PER_FRAGMENT}
        self.nhs: set[str] = {f.nhs} if f is not None and f.nhs and f.nhs_verified else set()
        self.upn: set[str] = {f.upn} if f is not None and f.upn and f.upn_verified else set()
        self.dobs: set[str] = {f.dob} if f is not None and f.dob else set()
        # holds a mention with a date of birth or an identifier
        self.strong = f is None or f.has_strong
        # joined across dates of birth that disagree, on a shared identifier
        self.dobs_differ = False
        # the distinct ways its mentions read (for names that must be one person's)
        self.variants: list[MentionFeatures] = [] if f is None else [f]


def compatible_sets(
    nhs_a: set[str], nhs_b: set[str], upn_a: set[str], upn_b: set[str], dobs_a: set[str], dobs_b: set[str]
) -> bool:
    """Two groups of mentions may be one person: no two different verified NHS numbers
    or UPNs, and dates of birth that can be one date (``dobs_consistent``)."""
    if nhs_a and nhs_b and nhs_a != nhs_b:
        return False
    if upn_a and upn_b and upn_a != upn_b:
        return False
    return dobs_consistent(dobs_a | dobs_b)


def _dobs_allow(ca: _Cluster, cb: _Cluster, vouched: bool) -> tuple[bool, bool]:
    """May these clusters join as far as dates of birth go, and do their dates then
    disagree? Dates that cannot be one date (``dobs_consistent``) keep people apart (a parent and a
    child of one name at one address) unless the joining evidence carries a shared
    identifier; a person already joined that way takes further mentions whose date
    agrees with one of theirs."""
    if dobs_consistent(ca.dobs | cb.dobs):
        return True, ca.dobs_differ or cb.dobs_differ
    if vouched:
        return True, True
    if (ca.dobs_differ or cb.dobs_differ) and any(dobs_compatible(x, y) for x in ca.dobs for y in cb.dobs):
        return True, True
    return False, False


def _day_of(iso: str) -> int | None:
    return _day(iso)


class _Clustering:
    """The union-find and rules of one ``cluster`` call."""

    def __init__(
        self,
        mentions: Sequence[int],
        features: Mapping[int, MentionFeatures | None],
        apart: Iterable[tuple[int, int]],
        order: Mapping[int, Any],
        contexts: Mapping[int, MentionContext],
    ) -> None:
        self.clusters: dict[int, _Cluster] = {mk: _Cluster(mk, features.get(mk)) for mk in mentions}
        self.parent = {mk: mk for mk in mentions}
        self.order = order
        self.contexts = contexts
        self.blocked: dict[int, set[int]] = {}
        for x, y in apart:
            if x in self.parent and y in self.parent:
                self.blocked.setdefault(x, set()).add(y)
                self.blocked.setdefault(y, set()).add(x)

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def allowed(self, ra: int, rb: int, vouched: bool) -> tuple[bool, bool]:
        """May clusters ``ra`` and ``rb`` be one person (the module's rules), and do
        their dates of birth then disagree?"""
        ca, cb = self.clusters[ra], self.clusters[rb]
        if ca.seqs & cb.seqs:
            return False, False  # two mentions in one record are two people
        if (ca.nhs and cb.nhs and ca.nhs != cb.nhs) or (ca.upn and cb.upn and ca.upn != cb.upn):
            return False, False
        dobs_ok, dobs_differ = _dobs_allow(ca, cb, vouched)
        if not dobs_ok:
            return False, False
        blocked = self.blocked
        if blocked and any(blocked[m] & set(cb.members) for m in ca.members if m in blocked):
            return False, False
        return True, dobs_differ

    def ages_allow(self, ra: int, rb: int) -> bool:
        """Age against role: a mention recorded as a child is not someone much older,
        and a parent is at least about 12 years older than the child of their record."""
        ca, cb = self.clusters[ra], self.clusters[rb]
        for mine, other in ((ca, cb), (cb, ca)):
            if not other.dobs:
                continue
            born = [d for d in (_day_of(x) for x in other.dobs) if d is not None]
            if not born:
                continue
            for mk in mine.members:
                ctx = self.contexts.get(mk)
                if ctx is None:
                    continue
                if ctx.role == CHILD_ROLE and ctx.day and any(ctx.day - b > CHILD_MAX_AGE_DAYS for b in born):
                    return False
                for relation, o in ctx.relations:
                    if relation in ("partner", "household") or o not in self.parent:
                        continue
                    kin = self.clusters[self.find(o)]
                    kin_born = [d for d in (_day_of(x) for x in kin.dobs) if d is not None]
                    if relation == "child":  # ``o`` is this mention's parent
                        if any(b - k < PARENT_GAP_DAYS for k in kin_born for b in born):
                            return False
                    elif any(k - b < PARENT_GAP_DAYS for k in kin_born for b in born):
                        return False
        return True

    def names_allow(self, ra: int, rb: int, matcher: Matcher) -> bool:
        """Every way one cluster's mentions read can be the other's person: joins on
        weak or relational evidence never bridge "Dean" and "Dan" through "D Price"."""
        ca, cb = self.clusters[ra], self.clusters[rb]
        va, vb = ca.variants[:20], cb.variants[:20]
        if ca.strong and cb.strong:
            return True  # dates of birth and identifiers decide between such people
        if ca.strong or cb.strong:
            # a person anchored by a date of birth or identifier may have been written
            # many ways (an identifier vouches for a nickname the list lacks): each way
            # the other side reads must fit one of them
            weak, anchored = (vb, va) if ca.strong else (va, vb)
            return all(any(matcher.compatible(x, y) for y in anchored) for x in weak)
        return all(matcher.compatible(x, y) for x in va for y in vb)

    def union(self, ra: int, rb: int, dobs_differ: bool) -> None:
        ca, cb = self.clusters[ra], self.clusters[rb]
        big, small = (ra, rb) if len(ca.members) >= len(cb.members) else (rb, ra)
        cbig, csmall = self.clusters[big], self.clusters.pop(small)
        self.parent[small] = big
        cbig.members += csmall.members
        cbig.seqs |= csmall.seqs
        cbig.nhs |= csmall.nhs
        cbig.upn |= csmall.upn
        cbig.dobs |= csmall.dobs
        cbig.strong = cbig.strong or csmall.strong
        cbig.dobs_differ = dobs_differ
        for f in csmall.variants:
            if f not in cbig.variants:
                cbig.variants.append(f)


Review = list[tuple[int, int, float]]


def cluster(
    mentions: Sequence[int],
    features: Mapping[int, MentionFeatures | None],
    edges: Iterable[Edge],
    apart: Iterable[tuple[int, int]],
    order: Mapping[int, Any],
    *,
    contexts: Mapping[int, MentionContext] | None = None,
    matcher: Matcher | None = None,
    review: Review | None = None,
) -> dict[int, int]:
    """People from evidence: each mention key -> a representative mention key.

    First, the evidence between mentions that each have a date of birth or an
    identifier (and reviewers' joins), strongest first (tier, then weight, then the
    stable ``order`` of their first mentions, which must not depend on arrival); each
    pair joins its two clusters unless the union would break a rule (see the module
    docstring). ``apart`` pairs never end up in one cluster.

    Then, in rounds, the weaker evidence: scored edges with a mention that has neither
    (a weak mention), and, given the mentions' ``contexts`` and a ``matcher``, relational
    evidence: two mentions each recorded in the same relation to one person as resolved
    so far (both parent of one child; both partner of one mother) whose names can be one
    person's (``Matcher.relation_weight``). Each round decides every candidate join at
    once from the clusters as they stand, so its outcome does not depend on the order of
    mentions: a cluster that fits two people who cannot be one (two people with dates of
    birth, or names that cannot be one person's), about equally (within the matcher's
    ambiguity margin), joins neither. Such pairs, and relational pairs scoring between
    the thresholds, are appended to ``review`` as (mention key, mention key, weight).
    Joins made in a round inform the next (a partner of the mother becomes evidence once
    "Mrs L Walsh" is known to be the mother)."""
    st = _Clustering(mentions, features, apart, order, contexts or {})
    find = st.find

    def rank(e: Edge) -> tuple[Any, ...]:
        ends = sorted((order[e.a[0]], order[e.b[0]]))
        return (-e.tier, -e.weight, ends[0], ends[1])

    weak_edges: list[Edge] = []
    for e in sorted(edges, key=rank):
        if e.tier == SCORE:
            fa, fb = features.get(e.a[0]), features.get(e.b[0])
            if (fa is not None and not fa.has_strong) or (fb is not None and not fb.has_strong):
                weak_edges.append(e)
                continue
        for x, y in e.pairs():
            ra, rb = find(x), find(y)
            if ra == rb:
                continue
            ok, differ = st.allowed(ra, rb, e.vouched)
            if ok:
                st.union(ra, rb, differ)
    if weak_edges or (contexts and matcher is not None):
        _attach(st, features, weak_edges, matcher, review)
    rep: dict[int, int] = {}
    for c in st.clusters.values():
        first = min(c.members, key=order.__getitem__)
        for mk in c.members:
            rep[mk] = first
    return rep


def _attach(
    st: _Clustering,
    features: Mapping[int, MentionFeatures | None],
    weak_edges: Sequence[Edge],
    matcher: Matcher | None,
    review: Review | None,
) -> None:
    """The rounds of weaker evidence (see ``cluster``)."""
    find = st.find
    margin = matcher.ambiguity_margin if matcher is not None else 0.0
    upper = matcher.upper_weight if matcher is not None else float("inf")
    lower = matcher.lower_weight if matcher is not None else float("inf")
    offered: set[tuple[int, int]] = set()

    def offer(x: int, y: int, w: float) -> None:
        key = (min(x, y), max(x, y))
        if review is not None and key not in offered:
            offered.add(key)
            review.append((key[0], key[1], w))

    for _ in range(8):
        # candidate joins between clusters: root -> other root -> (weight, a mention pair)
        cand: dict[int, dict[int, tuple[float, int, int]]] = {}

        def consider(
            x: int, y: int, w: float, vouched: bool, cand: dict[int, dict[int, tuple[float, int, int]]] = cand
        ) -> None:
            rx, ry = find(x), find(y)
            if rx == ry:
                return
            ok, _ = st.allowed(rx, ry, vouched)
            if not ok or not st.ages_allow(rx, ry):
                return
            for a, b in ((rx, ry), (ry, rx)):
                row = cand.setdefault(a, {})
                old = row.get(b)
                if old is None or w > old[0]:
                    row[b] = (w, x, y)

        for e in weak_edges:
            for x, y in e.pairs():
                consider(x, y, e.weight, e.vouched)
        if matcher is not None and st.contexts:
            groups: dict[tuple[str, int], list[int]] = {}
            # the people each person is related to, either way (their family as far as
            # the records say), for the rivals a weak mention must be told apart from
            kin: dict[int, set[int]] = {}
            for mk, ctx in st.contexts.items():
                if mk not in st.parent:
                    continue
                for relation, o in ctx.relations:
                    if o in st.parent:
                        ro, rm = find(o), find(mk)
                        groups.setdefault((_COMPARED_AS.get(relation, relation), ro), []).append(mk)
                        kin.setdefault(ro, set()).add(rm)
                        kin.setdefault(rm, set()).add(ro)
            for (relation, r), ms in sorted(groups.items(), key=lambda kv: (kv[0][0], st.order[kv[0][1]])):
                if len(ms) < 2:
                    continue
                ms.sort(key=st.order.__getitem__)
                for i, x in enumerate(ms):
                    fx = features.get(x)
                    for y in ms[i + 1 :]:
                        if find(x) == find(y):
                            continue
                        w = matcher.relation_weight(fx, features.get(y), relation)
                        if w is None or w < lower:
                            continue
                        if w < upper:
                            offer(x, y, w)
                            continue
                        rival = _family_rival(st, features, matcher, kin, r, x, y)
                        if rival is not None:
                            offer(x, y, w)
                            offer(rival[0], rival[1], w)
                            continue
                        consider(x, y, w, False)
        accepted: list[tuple[float, Any, int, int, bool]] = []
        for ra, row in cand.items():
            for rb, (w, x, y) in row.items():
                if st.order[ra] > st.order[rb]:
                    continue  # each pair once
                if _ambiguous(st, cand, ra, rb, w, margin, matcher) or _ambiguous(st, cand, rb, ra, w, margin, matcher):
                    for r in (ra, rb):
                        for w2, x2, y2 in cand[r].values():
                            offer(x2, y2, w2)
                    continue
                if matcher is not None and not st.names_allow(ra, rb, matcher):
                    offer(x, y, w)
                    continue
                both = st.clusters[ra].strong and st.clusters[rb].strong
                accepted.append((-w, st.order[ra], ra, rb, both))
        joined = False
        for _w, _o, ra, rb, both in sorted(accepted):
            ra, rb = find(ra), find(rb)
            if ra == rb:
                continue
            if not both and st.clusters[ra].strong and st.clusters[rb].strong:
                continue  # a weak mention is never the bridge between two people
            ok, differ = st.allowed(ra, rb, False)
            if ok and st.ages_allow(ra, rb) and (matcher is None or st.names_allow(ra, rb, matcher)):
                st.union(ra, rb, differ)
                joined = True
        if not joined:
            return


def _family_rival(
    st: _Clustering,
    features: Mapping[int, MentionFeatures | None],
    matcher: Matcher,
    kin: Mapping[int, set[int]],
    r: int,
    x: int,
    y: int,
) -> tuple[int, int] | None:
    """A relative of the person ``r`` whom the weaker of mentions ``x`` and ``y`` fits
    by name as well, but who cannot be the other's person: "Stuart Hughes", a household
    member listed with Carly, may be her son Stuart or his father Stuart, whatever the
    record's roles suggest. Returns (the weak mention, a mention of that relative), or
    None when the family holds no such rival."""
    rx, ry = st.find(x), st.find(y)
    cx, cy = st.clusters[rx], st.clusters[ry]
    if cx.strong and cy.strong:
        return None  # dates of birth and identifiers tell such people apart
    weak, other = (x, ry) if not cx.strong else (y, rx)
    fw = features.get(weak)
    if fw is None:
        return None
    family = set(kin.get(r, ()))
    for q in list(family):
        family |= kin.get(q, set())
    rw = st.find(weak)
    if len(family) <= 2:
        return None  # nobody else in the family
    family -= {rw, other, r}
    for z in sorted(family, key=st.order.__getitem__):
        cz = st.clusters[z]
        if not any(matcher.compatible(fw, f) for f in cz.variants[:20]):
            continue
        fits, _ = st.allowed(rw, z, False)
        if not fits or not st.ages_allow(rw, z):
            continue  # the weak mention's own record rules this relative out
        ok, _ = st.allowed(other, z, False)
        if not ok or not st.ages_allow(other, z) or not st.names_allow(other, z, matcher):
            return weak, cz.members[0]
    return None


def _ambiguous(
    st: _Clustering,
    cand: Mapping[int, Mapping[int, tuple[float, int, int]]],
    ra: int,
    rb: int,
    w: float,
    margin: float,
    matcher: Matcher | None,
) -> bool:
    """Would joining ``ra`` to ``rb`` be an arbitrary choice? It is when ``ra`` fits
    another cluster about as well (within ``margin``) that cannot be ``rb``'s person:
    the rules keep them apart (dates of birth that cannot be one date, identifiers that
    differ, one record naming both, age against role) or their names cannot be one
    person's. Two candidates that could be one person (one person's records not yet
    joined) are no dilemma: the mention joins the better, and nothing wrong is shown.
    A cluster with a date of birth or an identifier that several weak mentions fit has
    no dilemma either: each of them may join it, and each one's own choice is checked
    from its side."""
    if st.clusters[ra].strong:
        return False
    for rc, (w2, _, _) in cand[ra].items():
        if rc == rb or w2 < w - margin:
            continue
        ok, _ = st.allowed(rb, rc, False)
        if not ok or not st.ages_allow(rb, rc):
            return True
        if matcher is not None and not st.names_allow(rb, rc, matcher):
            return True
    return False


class Candidates:
    """The blocking index of one projection: every mention's features and keys, with
    mentions that read alike sharing one entry (agencies repeat the same details)."""

    __slots__ = ("_variant", "blocks", "feats", "matcher", "members", "of")

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self._variant: dict[Any, int] = {}
        self.feats: list[Any] = []  # variant -> features
        self.members: list[list[int]] = []  # variant -> mention keys
        self.blocks: dict[Hashable, list[int]] = {}  # key -> variants
        self.of: dict[int, int] = {}  # mention key -> variant

    def add(self, mk: int, mention: Mapping[str, Any]) -> int:
        """Index a mention (again: idempotent); returns its variant."""
        v = self.of.get(mk)
        if v is not None:
            return v
        f = self.matcher.features(mention)
        v = self._variant.get(f)
        if v is None:
            v = len(self.feats)
            self._variant[f] = v
            self.feats.append(f)
            self.members.append([])
            for k in self.matcher.keys(f):
                self.blocks.setdefault(k, []).append(v)
        self.members[v].append(mk)
        self.of[mk] = v
        return v

    def features(self, mk: int) -> Any:
        v = self.of.get(mk)
        return None if v is None else self.feats[v]

    def neighbours(self, v: int) -> list[int]:
        """Every variant sharing a blocking key with ``v`` (``v`` itself included)."""
        seen: dict[int, None] = {}
        blocks = self.blocks
        for k in self.matcher.keys(self.feats[v]):
            for o in blocks.get(k, ()):
                seen[o] = None
        return list(seen)

    def scored(self, v: int) -> list[tuple[float, int]]:
        """Other variants sharing a key with ``v`` and scoring at least the review
        threshold, with their match weight."""
        m = self.matcher
        f = self.feats[v]
        seen = {v}
        out = []
        lower = m.lower_weight
        for k in m.keys(f):
            for o in self.blocks.get(k, ()):
                if o in seen:
                    continue
                seen.add(o)
                w = m.weight(f, self.feats[o])
                if w >= lower:
                    out.append((w, o))
        out.sort(key=lambda wo: -wo[0])
        return out


# ---------------------------------------------------------------- reviewing (every backend)
# What a reviewer's request means, the same on every backend: which mention an id names
# and whether this reviewer may see it, whether a decision may be made or undone, which
# decisions a reviewer is shown, the queue of undecided pairs and their evidence. A
# backend gives its projection and its lookups; storing the decisions is its own.


@dataclass(frozen=True)
class ReviewSide:
    mention_id: str
    agency: str
    record_ref: str
    mention: dict[str, Any]


@dataclass(frozen=True)
class ReviewItem:
    """Two mentions the model could not decide on, side by side, with its evidence."""

    a: ReviewSide
    b: ReviewSide
    evidence: PairEvidence


def person_id_ref(person_id: str, seq_of_prefix: Callable[[str], int | None]) -> tuple[int, int] | None:
    """(seq, index) of the mention a person id names, ``P<fragment>-<n>``, or None.
    ``seq_of_prefix`` finds the one fragment whose id (after its ``F``) starts so."""
    head, _, idx = person_id.partition("-")
    seq = seq_of_prefix(head[1:].lower()) if head.startswith("P") and idx.isdigit() else None
    return None if seq is None else (seq, int(idx))


def visible_mention(
    view: ReaderView, projection: Projection, seq_of_prefix: Callable[[str], int | None], mention_id: str
) -> tuple[int, int]:
    """(seq, index) of a mention the reviewer may see. One the reader cannot read, or
    whose protected identity is hidden from them, is "no such mention", exactly like one
    that never was."""
    ref = person_id_ref(mention_id, seq_of_prefix)
    if (
        ref is None
        or not view.may_read(ref[0])
        or ref[1] >= len(projection.mention_people(ref[0]))
        or view.hides_identity(*ref)
    ):
        raise InvalidDecision(f"no such mention: {mention_id!r}", field="mention")
    return ref


def check_kind(kind: str) -> None:
    """A reviewer decides ``join`` or ``apart`` (an ``undo`` is its own request)."""
    if kind not in ("join", "apart"):
        raise InvalidDecision("must be join or apart", field="kind")


def check_pair(a: tuple[int, int], b: tuple[int, int]) -> None:
    if a[0] == b[0]:
        raise InvalidDecision("two mentions in one record are two people", field="mention")


def explain_mentions(
    matcher: Matcher | None, projection: Projection, a: tuple[int, int], b: tuple[int, int]
) -> PairEvidence:
    """The matcher's field-by-field evidence for two mentions (seq, index) of the projection."""
    cands = projection.candidates
    if matcher is None or cands is None:
        raise InvalidDecision("this store was opened without a matcher", field="matcher")
    fa, fb = cands.features(mention_key(*a)), cands.features(mention_key(*b))
    base = matcher.explain(fa, fb)
    fields, words = list(base.fields), []
    weight = base.weight
    for relation, how, name in _shared_relations(matcher, projection, a, b):
        w = matcher.relation_weight(fa, fb, relation)
        if w is None:
            continue
        fields.append(FieldEvidence("relation", relation, round(w - matcher.weight(fa, fb), 3)))
        words.append(f"both recorded as {_RELATION_WORDS[relation]} of {name} ({how})")
        weight = max(weight, round(w, 3))
    if not words:
        return base
    prob = 1.0 if weight > 60 else 2.0**weight / (1 + 2.0**weight)
    return PairEvidence(weight, prob, tuple(fields), base.model, tuple(words))


# relations compared as another: a household member listed with a parent, as a child
_COMPARED_AS = {"household": "child"}
_RELATION_WORDS = {
    "parent": "parent",
    "step_parent": "step-parent or carer",
    "partner": "partner",
    "child": "child",
}


def _shared_relations(
    matcher: Matcher, projection: Projection, a: tuple[int, int], b: tuple[int, int]
) -> list[tuple[str, str, str]]:
    """Relations the two mentions' records give them to one person, as (relation, how
    the two records' mentions of that person match, that person's name in ``a``'s
    record). Only a match the two records show between themselves counts (an
    identifier, name and date of birth, or a score over the threshold), so the words
    rest on nothing but the two records the reviewer is looking at."""
    ca = projection.mention_context(mention_key(*a))
    cb = projection.mention_context(mention_key(*b))
    cands = projection.candidates
    if ca is None or cb is None or cands is None:
        return []
    out: list[tuple[str, str, str]] = []
    for relation_a, oa in ca.relations:
        relation = _COMPARED_AS.get(relation_a, relation_a)
        for relation_b, ob in cb.relations:
            if relation != _COMPARED_AS.get(relation_b, relation_b):
                continue
            xa, xb = cands.features(oa), cands.features(ob)
            if xa is None or xb is None:
                continue
            tier = evidence_tier(xa, xb)
            if tier == IDENTIFIER:
                how = (
                    "NHS number match"
                    if xa.nhs_verified and xa.nhs == xb.nhs
                    else "UPN match"
                    if xa.upn_verified and xa.upn == xb.upn
                    else "agency person id match"
                )
            elif tier == NAME_DOB:
                how = "name and date of birth match"
            elif matcher.weight(xa, xb) >= matcher.upper_weight and not (xa.too_little or xb.too_little):
                how = "matched on name and details"
            else:
                continue
            seq_a, idx_a = split_key(oa)
            # a protected identity is never named here, whoever is reviewing
            protected = idx_a in projection.fragments[seq_a].access.protected_mentions
            name = None if protected else projection.mention_name(seq_a, idx_a)
            name = name or "the same person"
            out.append((relation, how, name))
            break
    return out


def check_undo(decision_id: int, old: ResolutionDecision | None, *, visible: bool, undone: bool) -> None:
    """An undo names a join or apart decision the reviewer may see, not undone yet."""
    if old is None or old.kind == "undo" or not visible:
        raise InvalidDecision(f"no join or apart decision {decision_id}", field="decision")
    if undone:
        raise InvalidDecision(f"decision {decision_id} is already undone", field="decision")


def decision_visible(view: ReaderView, d: ResolutionDecision, seq_of: Mapping[str, int]) -> bool:
    """May this reviewer see both records a decision is about?"""
    return all(fid in seq_of and view.may_read(seq_of[fid]) for fid in (d.a[0], d.b[0]))


def decision_pairs(
    ds: Iterable[ResolutionDecision], seq_of: Mapping[str, int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The decisions in force as pairs of mention keys: (joins, aparts). Decisions about
    fragments the store does not hold name nothing and are left out."""
    joins: list[tuple[int, int]] = []
    aparts: list[tuple[int, int]] = []
    for d in active_decisions(ds):
        if d.a[0] in seq_of and d.b[0] in seq_of:
            pair = (mention_key(seq_of[d.a[0]], d.a[1]), mention_key(seq_of[d.b[0]], d.b[1]))
            (joins if d.kind == "join" else aparts).append(pair)
    return joins, aparts


def decided_fids(ds: Iterable[ResolutionDecision]) -> list[str]:
    """Every fragment id the decisions name (to look their seqs up)."""
    return sorted({fid for d in ds for fid in (d.a[0], d.b[0])})


def _pairs(xs: list[int], ys: list[int], same: bool) -> Iterator[tuple[int, int]]:
    """The mention pairs of two variants (of one variant with itself: each pair once)."""
    if same:
        return ((x, y) for k, x in enumerate(xs) for y in xs[k + 1 :])
    return ((x, y) for x in xs for y in ys)


def review_queue(
    view: ReaderView,
    projection: Projection,
    matcher: Matcher | None,
    decided: tuple[Sequence[tuple[int, int]], Sequence[tuple[int, int]]],
    limit: int,
    *,
    load: Callable[[Sequence[int]], dict[int, dict[str, Any]]],
    mention_id: Callable[[int, int], str],
) -> list[ReviewItem]:
    """Pairs of people the model could not decide on, best first: one item per pair of
    people (their closest mentions), none a reviewer has already decided (``decided``:
    the joins and aparts in force, as mention keys), and only pairs of mentions this
    reviewer may see, identities included. ``load`` gives the store's own bodies."""
    p = projection
    done = {(min(a, b), max(a, b)) for a, b in (*decided[0], *decided[1])}
    best: dict[tuple[int, int], tuple[float, int, int]] = {}
    cands = p.candidates
    if matcher is None or cands is None:
        raise InvalidDecision("this store was opened without a matcher", field="matcher")
    seen: dict[int, bool] = {}

    def shown(mk: int) -> bool:
        ok = seen.get(mk)
        if ok is None:
            r = split_key(mk)
            ok = seen[mk] = view.may_read(r[0]) and not view.hides_identity(*r)
        return ok

    for (va, vb), w in p.review.items():
        for a, b in _pairs(cands.members[va], cands.members[vb], va == vb):
            if a // MENTIONS_PER_FRAGMENT == b // MENTIONS_PER_FRAGMENT:
                continue  # two mentions of one record are two people: nothing to decide
            pa, pb = p.person_of(*split_key(a)), p.person_of(*split_key(b))
            if pa is None or pb is None or pa == pb or (min(a, b), max(a, b)) in done:
                continue
            if not (shown(a) and shown(b)):
                continue
            key = (min(pa, pb), max(pa, pb))
            if key not in best or w > best[key][0] or (w == best[key][0] and (a, b) < best[key][1:]):
                best[key] = (w, a, b)
    ranked = sorted(best.values(), key=lambda t: (-t[0], t[1], t[2]))[:limit]
    docs = load(sorted({split_key(mk)[0] for _, a, b in ranked for mk in (a, b)}))
    out = []
    for _w, a, b in ranked:
        sides = []
        for mk in (a, b):
            seq, idx = split_key(mk)
            doc = docs[seq]
            sides.append(
                ReviewSide(
                    mention_id=mention_id(seq, idx),
                    agency=doc["agency"]["id"],
                    record_ref=doc["record_ref"],
                    mention=doc["people"][idx],
                )
            )
        out.append(ReviewItem(sides[0], sides[1], explain_mentions(matcher, p, split_key(a), split_key(b))))
    return out


def mention_features(projection: Projection) -> list[Any]:
    """Every mention's features, for training the model on the store's own data."""
    cands = projection.candidates
    if cands is None:
        raise InvalidDecision("this store was opened without a matcher", field="matcher")
    return [cands.feats[v] for v in cands.of.values()]
