"""The same incident, told twice: which agencies' records are one corroborated event.

Police record a welfare check on 14 May; social care record a home visit "about
mid-May". When the evidence is strong the two are one event, corroborated by two
agencies; when it is weaker they stay two events and the pair goes to a reviewer
("same incident?"); when it is absent nothing is said.

Two records of different agencies are compared on what they claim (``Claim``):

- *strong, same day*: both dated to one day (exact or day precision), the same day, the
  same kind or the same kind family (``KIND_FAMILY``: a welfare check and a home visit
  are both a visit), and exactly the same children;
- *strong, contained*: as above, but one is a single day and the other a narrow span
  (at most ``NARROW_DAYS`` days, approximate and relative dates included) that holds it;
- *weak*, for review: the same kind family and overlapping dates, but only some of the
  children in common, or dates too wide to say (two spans, a month, a year);
- otherwise unrelated. One agency's two records are never one event by the evidence
  (only a reviewer may say so). A record naming no child is compared on everyone it
  names (``_same_people``); two records dated to one day at times more than
  ``APART_MINUTES`` apart are only offered for review.

Grouping (``group``) is a pure function of the set of records and the reviewers'
decisions, so it does not depend on the order records arrive in. Evidence is taken
strongest first (a reviewer's join, then same day, then contained). At each step the
records linked by evidence of that strength or stronger form candidate groups; a
candidate becomes one event only if it is unambiguous: no two records of one agency
(unless a reviewer joined them), no pair a reviewer kept apart, and every two of its
parts directly linked. Anything else (a record that could be either of two events) is
left apart and offered for review: no tie is broken by fragment id or arrival.

Decisions are rows appended to ``incident_decisions`` (never changed; an ``undo`` row
withdraws one), about two fragments by id, as for people (graph/decisions.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from graph.errors import InvalidDecision

if TYPE_CHECKING:
    from graph.projection import Projection
    from graph.view import ReaderView

# Kinds of event that two agencies may describe differently when they attend the same
# incident: police call it a welfare check, social care a home visit.
KIND_FAMILY = {
    "home_visit": "visit",
    "welfare_check": "visit",
    "police_callout": "visit",
    "anonymous_report": "report",
    "referral": "report",
    # an injury the school saw and the emergency department's attendance for it
    "injury": "injury",
    "hospital_attendance": "injury",
}
# Two records dated to the same day with times further apart than this are two visits
# that day as far as the evidence goes: offered for review, never joined by it.
APART_MINUTES = 4 * 60
# A span this many days wide or less (e.g. "about mid-May": 10-20 May) can corroborate
# a record dated to one day inside it.
NARROW_DAYS = 14
PRECISION_RANK = {"exact": 0, "day": 1, "range": 2, "month": 3, "approximate": 4, "year": 5}

NONE, WEAK, CONTAINED, SAME_DAY, REVIEWER = 0, 1, 2, 3, 4

IncidentKind = Literal["join", "apart", "undo"]


def family(kind: str) -> str:
    return KIND_FAMILY.get(kind, kind)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one current record says about its event, for comparison."""

    seq: int
    order: str  # the fragment id: a rank that does not depend on arrival
    agency: str
    kind: str
    start: int
    end: int
    precision: str
    children: frozenset[int]
    # everyone the record names (as resolved now), and its time of day ("HH:MM") if any
    people: frozenset[int] = frozenset()
    at: str | None = None

    @property
    def one_day(self) -> bool:
        return self.start == self.end and self.precision in ("exact", "day")


def _minutes(at: str) -> int | None:
    try:
        hh, mm = at.split(":")[:2]
        return int(hh) * 60 + int(mm)
    except ValueError:
        return None


def _same_people(a: Claim, b: Claim) -> bool | None:
    """Do the two records name the same people? True: the same children (or, where a
    record names no child, everyone it names is named by the other: a police call-out
    naming the mother and her partner, and early help's record of it naming the children
    too); False: some in common; None: nobody in common."""
    if a.children and b.children:
        if not a.children & b.children:
            return None
        return a.children == b.children
    if not a.people & b.people:
        return None
    if not a.children and not b.children:
        return a.people == b.people
    small, big = (a, b) if not a.children else (b, a)
    return small.people <= big.people


def strength(a: Claim, b: Claim) -> int:
    """How strongly two records' claims say they are one incident (NONE .. SAME_DAY)."""
    if a.agency == b.agency or family(a.kind) != family(b.kind):
        return NONE
    if a.end < b.start or b.end < a.start:
        return NONE
    same = _same_people(a, b)
    if same is None:
        return NONE
    if not same:
        return WEAK
    if a.at and b.at and a.start == b.start:
        ma, mb = _minutes(a.at), _minutes(b.at)
        if ma is not None and mb is not None and abs(ma - mb) > APART_MINUTES:
            return WEAK  # two visits that day, as far as the times say
    if a.one_day and b.one_day:
        return SAME_DAY
    if a.one_day or b.one_day:
        span = b if a.one_day else a
        if span.end - span.start + 1 <= NARROW_DAYS:
            return CONTAINED
    return WEAK


def why(level: int) -> str:
    return {
        WEAK: "dates overlap but are too wide, or only some of the children are the same",
        CONTAINED: "could be the same incident as another event as well",
        SAME_DAY: "could be the same incident as another event as well",
    }.get(level, "")


def group(
    claims: Iterable[Claim],
    joins: Mapping[int, Iterable[int]],
    aparts: Mapping[int, Iterable[int]],
) -> tuple[list[tuple[int, ...]], dict[tuple[int, int], str]]:
    """The events these records make (sorted tuples of seqs, every record in one) and
    the pairs to review, seq pair -> reason. ``joins``/``aparts``: reviewers' decisions
    in force, seq -> seqs."""
    by_seq = {c.seq: c for c in claims}
    # only records that name a child in common can link, and only if their dates overlap:
    # a sweep over each child's records by date
    # (a record naming no child is filed under everyone it names, and so is every
    # record under its adults, so that it meets the records of the same people)
    of_child: dict[int, list[Claim]] = {}
    for c in by_seq.values():
        for child in c.children:
            of_child.setdefault(child, []).append(c)
    of_adult: dict[int, list[Claim]] = {}
    childless = any(not c.children for c in by_seq.values())
    for c in by_seq.values() if childless else ():
        for pid in c.people - c.children:
            of_adult.setdefault(-1 - pid, []).append(c)
    for key, cs in of_adult.items():
        if any(not c.children for c in cs):
            of_child[key] = cs
    links: dict[tuple[int, int], int] = {}
    for mine in of_child.values():
        mine.sort(key=lambda c: (c.start, c.order))
        for i, ca in enumerate(mine):
            for cb in mine[i + 1 :]:
                if cb.start > ca.end:
                    break
                pair = (min(ca.seq, cb.seq), max(ca.seq, cb.seq))
                if pair not in links and (s := strength(ca, cb)):
                    links[pair] = s
    apart = {(min(a, b), max(a, b)) for a, bs in aparts.items() for b in bs if a in by_seq and b in by_seq}
    for a, bs in joins.items():
        for b in bs:
            pair = (min(a, b), max(a, b))
            if a in by_seq and b in by_seq and a != b:
                links[pair] = REVIEWER
    parent = {s: s for s in by_seq}

    def root(s: int) -> int:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    members = {s: [s] for s in by_seq}
    for tier in (REVIEWER, SAME_DAY, CONTAINED):
        # candidate groups: the present groups linked by evidence this strong or stronger
        adj: dict[int, set[int]] = {}
        for (a, b), s in links.items():
            ra, rb = root(a), root(b)
            if s >= tier and ra != rb:
                adj.setdefault(ra, set()).add(rb)
                adj.setdefault(rb, set()).add(ra)
        seen: set[int] = set()
        for start in sorted(adj):
            if start in seen:
                continue
            comp, todo = [], [start]
            while todo:
                r = todo.pop()
                if r in seen:
                    continue
                seen.add(r)
                comp.append(r)
                todo.extend(adj[r])
            if _unambiguous(comp, adj, members, by_seq, apart, links, tier):
                keep = min(comp)
                for r in comp:
                    if r != keep:
                        parent[r] = keep
                        members[keep] += members.pop(r)
    groups = sorted(tuple(sorted(ms)) for ms in members.values())
    best: dict[tuple[int, int], tuple[int, tuple[str, ...], int, int]] = {}
    for (a, b), s in links.items():
        if s == REVIEWER or root(a) == root(b) or (a, b) in apart:
            continue
        ga, gb = sorted((root(a), root(b)))
        # one item per pair of events: the strongest link, then the lowest fragment ids
        cand = (-s, tuple(sorted((by_seq[a].order, by_seq[b].order))), a, b)
        if (ga, gb) not in best or cand < best[(ga, gb)]:
            best[(ga, gb)] = cand
    review = {(a, b): why(-neg) for neg, _, a, b in best.values()}
    return groups, review


def _unambiguous(
    comp: list[int],
    adj: Mapping[int, set[int]],
    members: Mapping[int, list[int]],
    by_seq: Mapping[int, Claim],
    apart: set[tuple[int, int]],
    links: Mapping[tuple[int, int], int],
    tier: int,
) -> bool:
    """May these groups become one event?"""
    seqs = [s for r in comp for s in members[r]]
    for i, a in enumerate(seqs):
        for b in seqs[i + 1 :]:
            if (min(a, b), max(a, b)) in apart:
                return False
    if tier == REVIEWER:
        return True
    agencies: set[str] = set()
    for r in comp:
        mine = {by_seq[s].agency for s in members[r]}
        if mine & agencies:
            return False
        agencies |= mine
    return all(b in adj[a] for i, a in enumerate(comp) for b in comp[i + 1 :])


# ---------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class IncidentDecision:
    """A reviewer's decision about two records: ``join`` (one incident), ``apart`` (two),
    or ``undo`` (withdraws decision ``undoes``; the events are as if it was never made)."""

    id: int
    kind: IncidentKind
    a: str  # fragment ids
    b: str
    reason: str
    decided_by: str
    decided_at: str
    undoes: int | None = None


@dataclass(frozen=True)
class IncidentSide:
    fragment_id: str
    agency: str
    kind: str
    start: str
    end: str
    precision: str
    when_text: str | None
    summary: str | None


@dataclass(frozen=True)
class IncidentItem:
    """Two records that may be the same incident, side by side, with why they were not joined."""

    a: IncidentSide
    b: IncidentSide
    reason: str


INCIDENT_DDL = """
CREATE TABLE IF NOT EXISTS incident_decisions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('join', 'apart', 'undo')),
    a_fragment TEXT NOT NULL,
    b_fragment TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    undoes INTEGER REFERENCES incident_decisions(id)
) STRICT;
CREATE TRIGGER IF NOT EXISTS incident_decisions_no_update BEFORE UPDATE ON incident_decisions
BEGIN SELECT RAISE(ABORT, 'incident decisions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS incident_decisions_no_delete BEFORE DELETE ON incident_decisions
BEGIN SELECT RAISE(ABORT, 'incident decisions are append-only'); END;
"""

_COLUMNS = "id, kind, a_fragment, b_fragment, reason, decided_by, decided_at, undoes"


def _row(r: tuple[Any, ...]) -> IncidentDecision:
    return IncidentDecision(*r)


def all_decisions(conn: sqlite3.Connection) -> list[IncidentDecision]:
    return [_row(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM incident_decisions ORDER BY id")]


def latest_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM incident_decisions").fetchone()[0])


def get(conn: sqlite3.Connection, decision_id: int) -> IncidentDecision | None:
    r = conn.execute(f"SELECT {_COLUMNS} FROM incident_decisions WHERE id = ?", (decision_id,)).fetchone()
    return None if r is None else _row(r)


def undone(conn: sqlite3.Connection, decision_id: int) -> bool:
    return conn.execute("SELECT 1 FROM incident_decisions WHERE undoes = ?", (decision_id,)).fetchone() is not None


def check(kind: str, reason: str, *, undo: bool = False) -> str:
    """The reason, once the kind and reason are checked."""
    if kind not in (("undo",) if undo else ("join", "apart")):
        raise InvalidDecision("must be join or apart", field="kind")
    if not reason.strip():
        raise InvalidDecision("a decision needs a reason", field="reason")
    return reason.strip()


def add(
    conn: sqlite3.Connection,
    *,
    kind: str,
    a: str,
    b: str,
    reason: str,
    by: str,
    at: str,
    undoes: int | None = None,
) -> IncidentDecision:
    reason = check(kind, reason, undo=undoes is not None)
    cur = conn.execute(
        "INSERT INTO incident_decisions (kind, a_fragment, b_fragment, reason, decided_by, decided_at, undoes)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, a, b, reason, by, at, undoes),
    )
    found = get(conn, int(cur.lastrowid or 0))
    assert found is not None
    return found


def active(ds: Iterable[IncidentDecision]) -> list[IncidentDecision]:
    """The join and apart decisions not undone, in the order made."""
    ds = list(ds)
    gone = {d.undoes for d in ds if d.kind == "undo"}
    return [d for d in ds if d.kind != "undo" and d.id not in gone]


def decision_pairs(
    ds: Iterable[IncidentDecision], seq_of: Mapping[str, int]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The decisions in force as pairs of fragment seqs: (joins, aparts)."""
    joins: list[tuple[int, int]] = []
    aparts: list[tuple[int, int]] = []
    for d in active(ds):
        if d.a in seq_of and d.b in seq_of:
            (joins if d.kind == "join" else aparts).append((seq_of[d.a], seq_of[d.b]))
    return joins, aparts


def decision_visible(view: ReaderView, d: IncidentDecision, seq_of: Mapping[str, int]) -> bool:
    """May this reviewer read both records a decision is about?"""
    return all(fid in seq_of and view.may_read(seq_of[fid]) for fid in (d.a, d.b))


def queue(view: ReaderView, p: Projection, limit: int = 50) -> list[IncidentItem]:
    """The "same incident?" pairs this reviewer may decide: both records readable by
    them and still two events offered for review in their own picture. Pairs whose
    records could each be another event come first, then by fragment id."""
    pairs = [(a, b, r) for (a, b), r in p.incident_review.items() if view.visible(a) and view.visible(b)]
    fids = view.fid_map({s for a, b, _ in pairs for s in (a, b)})
    pairs.sort(key=lambda x: (x[2] == why(WEAK), min(fids[x[0]], fids[x[1]]), max(fids[x[0]], fids[x[1]])))
    out: list[IncidentItem] = []
    for a, b, reason in pairs:
        if len(out) >= limit:
            break
        if not view.incident_open(a, b):
            continue
        if fids[b] < fids[a]:
            a, b = b, a
        texts = p.details([a, b])
        sides = []
        for s in (a, b):
            kind, start, end, precision, _ = p.claimed(s)
            sides.append(
                IncidentSide(
                    fragment_id=fids[s],
                    agency=p.fragments[s].agency,
                    kind=kind,
                    start=date.fromordinal(start).isoformat(),
                    end=date.fromordinal(end).isoformat(),
                    precision=precision,
                    when_text=texts[s].when_text,
                    summary=texts[s].summary,
                )
            )
        out.append(IncidentItem(sides[0], sides[1], reason))
    return out
