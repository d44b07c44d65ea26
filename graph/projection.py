"""The projection: people, events, agencies, places and relationships derived from the
journal of fragments, held in memory.

``Projection.apply`` is the only way in, and it is a pure function of the sequence of
``(seq, fragment_id, document, supersedes_seq)`` it is given: replaying the journal from
empty gives exactly the state the incremental build reached (a property test checks
this). Every derived element remembers the fragment sequence numbers that support it;
every query decides what to show with a predicate over those numbers (``visible(seq)``),
so "current versions only" and, later, "only what this reader may see" are one
mechanism: an element shows iff at least one of its supporting fragments passes.

Why not hold the whole graph as a networkx graph? Measured at 1,000,000 fragments a
networkx DiGraph of the same content took 1.6 GB and 9.5 s to build, over the budget of
1 KB per fragment and 15 s to reopen. So the resident projection is compact slotted
records and integer ids, and ``to_networkx`` materialises a networkx MultiDiGraph of any
part of it (a person's network, a whole small store) on demand for layouts and analysis.

Resolution here is the Core's: two mentions are the same person when a verified strong
identifier matches (NHS number, UPN, an agency's own person id) or, failing any
identifier conflict, the folded first given name, family name and date of birth match
exactly. Two mentions in one fragment are never the same person. Everything else stays
apart until entity resolution (ingest) records decisions.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import networkx as nx

from graph import incidents
from graph.access import FragmentAccess
from graph.resolution import (
    MENTIONS_PER_FRAGMENT,
    REVIEWER,
    SCORE,
    Candidates,
    Edge,
    Matcher,
    MentionContext,
    Review,
    cluster,
    compatible_sets,
    edge_between,
    mention_contexts,
    mention_key,
)
from graph.text import fold

Visible = Callable[[int], bool]

SIGNIFICANCE_RANK = {"low": 1, "medium": 2, "high": 3}
PRECISION_RANK = incidents.PRECISION_RANK
# Kinds of event that two agencies may describe differently (graph/incidents.py)
_KIND_FAMILY = incidents.KIND_FAMILY

_intern = sys.intern


def _ordinal(iso: str) -> int:
    return date.fromisoformat(iso).toordinal()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Build or extend a projection with Python's cyclic collector out of the way (a
    growing graph of fresh objects makes it rescan them all, again and again), then
    freeze what is there: the projection is long-lived, not garbage, so later full
    collections, during writes and reads, need not walk it. Both stores use this."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


@dataclass(frozen=True, slots=True)
class FragmentText:
    """The words of a fragment a chronology line shows. The embedded store does not keep
    them in memory (its journal holds them); see ``Projection(text_source=...)``."""

    fid: str
    record_ref: str
    recorded_at: str
    shared_at: str
    summary: str | None
    when_text: str | None

    @classmethod
    def of(cls, fid: str, doc: dict[str, Any]) -> FragmentText:
        ev = doc.get("event")
        return cls(
            fid,
            doc["record_ref"],
            doc["recorded_at"],
            doc["shared_at"],
            ev["summary"] if ev else None,
            ev["when"].get("text") if ev else None,
        )


TextSource = Callable[[Iterable[int]], dict[int, FragmentText]]
DocSource = Callable[[Sequence[int]], dict[int, dict[str, Any]]]
_CONCERN_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}
# Most fragments share a handful of markings: one FragmentAccess object per distinct one.
_ACCESS: dict[FragmentAccess, FragmentAccess] = {}


class FragmentMeta:
    """What the projection keeps of one fragment: small, interned values only."""

    __slots__ = (
        "access",
        "agency",
        "author_role",
        "concerns",
        "event",
        "order",
        "retracted",
        "seq",
        "significance",
        "statement",
        "superseded_by",
        "supersedes",
    )

    def __init__(self, seq: int, doc: dict[str, Any], supersedes: int | None, fid: str = "") -> None:
        self.seq = seq
        # a rank that does not depend on arrival: resolution breaks ties by it
        self.order: str = fid
        self.agency: str = _intern(doc["agency"]["id"])
        self.author_role: str = _intern(doc["author"]["role"])
        self.statement: str = _intern(doc["statement"]["kind"])
        self.significance: str = _intern(doc["significance"])
        concerns = tuple(doc.get("concerns", ()))
        self.concerns: tuple[str, ...] = _CONCERN_SETS.setdefault(concerns, tuple(_intern(c) for c in concerns))
        self.event: int | None = None
        self.supersedes = supersedes
        self.superseded_by: int | None = None
        # a retraction, or the tombstone of an erased fragment: never a current version
        self.retracted = bool(doc.get("supersedes", {}).get("retract")) or "erased" in doc
        access = FragmentAccess.of(doc)
        self.access: FragmentAccess = _ACCESS.setdefault(access, access)


class EventNode:
    """One thing that happened, reported by one or more fragments."""

    __slots__ = ("at", "end", "id", "key", "kind", "people", "place", "precision", "sources", "start")

    def __init__(self, eid: int, kind: str, start: int, end: int, precision: str, at: str | None) -> None:
        self.id = eid
        self.kind = kind
        self.start = start
        self.end = end
        self.precision = precision
        self.at = at
        self.sources: list[int] = []
        # (person id, role, fragment seq) for every mention that took part
        self.people: list[tuple[int, str, int]] = []
        self.place: list[tuple[str, int]] = []
        # the corroboration key this event is indexed under, if any
        self.key: tuple[Any, ...] | None = None


class PersonNode:
    """One person, as far as the recorded evidence joins their mentions."""

    __slots__ = ("dobs", "events", "id", "keys", "mentions", "values")

    def __init__(self, pid: int) -> None:
        self.id = pid
        # (fragment seq, index of the mention in the fragment's people, role)
        self.mentions: list[tuple[int, int, str]] = []
        self.events: list[int] = []
        # (field, value) -> the fragment seq asserting it, or a list when several do.
        # One flat dict, single seqs as plain ints: a dict per field and a list per
        # value cost ~1.2 KB a person at 1M fragments.
        self.values: dict[tuple[str, Any], int | list[int]] = {}
        # join keys (a short list: a set costs 216 bytes a person)
        self.keys: list[tuple[str, ...]] = []
        # dates of birth asserted, for the conflict check on every match (usually 0 or 1)
        self.dobs: tuple[str, ...] = ()

    def add_value(self, field: str, value: Any, seq: int) -> None:
        k = (field, value)
        v = self.values.get(k)
        if v is None:
            self.values[k] = seq
            if field == "dob":
                self.dobs = (*self.dobs, value)
        elif isinstance(v, int):
            if v != seq:
                self.values[k] = [v, seq]
        elif v[-1] != seq:
            v.append(seq)

    def has(self, field: str, value: Any) -> bool:
        return (field, value) in self.values

    def field(self, field: str) -> list[tuple[Any, list[int]]]:
        """Every value of ``field`` with the fragment seqs asserting it."""
        return [(k[1], [v] if isinstance(v, int) else v) for k, v in self.values.items() if k[0] == field]


@lru_cache(maxsize=1 << 16)
def _place_key(text: str | None, postcode: str) -> str:
    """A place is its address as written (case and spacing ignored) within its postcode."""
    return sys.intern(" ".join((text or "").lower().split()) + "|" + postcode)


def _index_add(index: dict[str, int | list[int]], key: str, pid: int) -> None:
    v = index.get(key)
    if v is None:
        index[key] = pid
    elif isinstance(v, int):
        if v != pid:
            index[key] = [v, pid]
    elif pid not in v:
        v.append(pid)


def _index_replace(index: dict[str, int | list[int]], key: str, old: int, new: int) -> None:
    v = index.get(key)
    if v == old:
        index[key] = new
    elif isinstance(v, list) and old in v:
        v.remove(old)
        if new not in v:
            v.append(new)


def index_get(index: dict[str, int | list[int]], key: str) -> list[int]:
    """The person ids under ``key`` in an identifier index."""
    v = index.get(key)
    return [] if v is None else [v] if isinstance(v, int) else list(v)


def mention_keys(m: dict[str, Any]) -> list[tuple[str, ...]]:
    """The Core's join keys for a mention, strongest first."""
    keys: list[tuple[str, ...]] = []
    for ident in m.get("identifiers", ()):
        if not ident.get("verified"):
            continue
        scheme = ident["scheme"]
        if scheme == "agency_person_id":
            keys.append(("agency_person_id", ident.get("issuer", ""), ident["value"]))
        else:
            keys.append((scheme, ident["value"]))
    norm = m.get("norm")
    dob = m.get("dob")
    if norm and dob and norm.get("family") and norm.get("given") and len(norm["given"][0]) > 1:
        keys.append(("name_dob", norm["given"][0], norm["family"], dob))
    return keys


def display_name(m: dict[str, Any]) -> str | None:
    name = m.get("name")
    if not name:
        return None
    if name.get("full"):
        return str(name["full"])
    parts = [name.get("given"), name.get("family")]
    return " ".join(p for p in parts if p) or None


class Projection:
    """The derived graph, built by applying fragments in journal order."""

    def __init__(
        self,
        text_source: TextSource | None = None,
        *,
        matcher: Matcher | None = None,
        docs: DocSource | None = None,
    ) -> None:
        # Entity resolution (graph/resolution.py): with a matcher, mentions are also
        # joined on scored evidence and reviewers' decisions, and a person can be split
        # again, which re-projects their fragments (fetched from ``docs``).
        self.candidates = Candidates(matcher) if matcher is not None else None
        self._docs = docs
        self._mention_pid: dict[int, int] = {}
        # reviewers' decisions in force, both ways: mention key -> mention keys
        self._joins: dict[int, set[int]] = {}
        self._aparts: dict[int, set[int]] = {}
        # pairs of variants (mentions that read alike, ``Candidates``) scored between the
        # thresholds, or above the upper one but kept apart by a rule -> match weight
        self.review: dict[tuple[int, int], float] = {}
        self._pending: set[int] = set()
        # each mention's place in its record (role, relations), for relational evidence,
        # and the other way: mention key -> the mentions of its record related to it
        self._contexts: dict[int, MentionContext] = {}
        self._related: dict[int, list[int]] = {}
        self._relations_seen: set[tuple[int, str, int]] = set()
        # Where chronology lines get their words: the journal (embedded store) or, for a
        # projection built on its own, memory.
        self._text_source = text_source
        self._text: dict[int, FragmentText] | None = {} if text_source is None else None
        self.fragments: dict[int, FragmentMeta] = {}
        self.events: dict[int, EventNode] = {}
        self.people: dict[int, PersonNode] = {}
        self.agencies: dict[str, dict[str, dict[str, list[int]]]] = {}
        # (subject pid, kind, object pid) -> fragment seqs
        self.relationships: dict[tuple[int, str, int], list[int]] = {}
        self.person_relationships: dict[int, list[tuple[int, str, int]]] = {}
        # place key -> {"text": {value: seqs}} and the people who live there
        self.places: dict[str, dict[str, dict[str, list[int]]]] = {}
        # folded name word -> people; cleaned identifier -> people (search candidates only)
        self.name_index: dict[str, set[int]] = {}
        # identifiers are nearly unique: one person id, a list only when shared
        self.ident_index: dict[str, int | list[int]] = {}
        self._key_index: dict[tuple[str, ...], int] = {}
        # the other people who hold a key (joined elsewhere because of a conflict): rare
        self._key_extra: dict[tuple[str, ...], list[int]] = {}
        self._event_index: dict[tuple[Any, ...], int] = {}
        # The same incident told by two agencies (graph/incidents.py): what each record
        # claims, the reviewers' decisions in force (seq -> seqs), the pairs offered for
        # review (seq pair -> reason), and the records whose grouping must be worked out
        self._claims: dict[int, tuple[str, int, int, str, str | None]] = {}
        self._inc_joins: dict[int, set[int]] = {}
        self._inc_aparts: dict[int, set[int]] = {}
        self.incident_review: dict[tuple[int, int], str] = {}
        self._review_of: dict[int, set[tuple[int, int]]] = {}
        self._inc_pending: set[int] = set()
        self._next_person = 1
        self._next_event = 1
        self.last_seq = 0

    # ------------------------------------------------------------------ building

    def apply(
        self,
        seq: int,
        fid: str,
        doc: dict[str, Any],
        supersedes: int | None = None,
        *,
        forced: dict[int, int] | None = None,
        settle: bool = True,
    ) -> None:
        """Add one accepted fragment. Fragments must arrive in increasing ``seq``.
        ``forced`` (mention key -> person id) is for ``build``, which has resolved them.
        ``settle=False`` leaves the people this fragment may change to the next
        ``settle`` (``extend`` settles a batch once, at its end)."""
        if seq <= self.last_seq:
            raise ValueError(f"fragment seq {seq} applied out of order (last {self.last_seq})")
        self.last_seq = seq
        meta = FragmentMeta(seq, doc, supersedes, fid)
        self.fragments[seq] = meta
        if self._text is not None:
            self._text[seq] = FragmentText.of(fid, doc)
        if supersedes is not None and supersedes in self.fragments:
            self.fragments[supersedes].superseded_by = seq
            self._inc_pending.add(supersedes)  # an old version leaves its incident
        agency = doc["agency"]
        rec = self.agencies.setdefault(meta.agency, {})
        for field in ("name", "type"):
            rec.setdefault(field, {}).setdefault(agency[field], []).append(seq)

        self._apply_content(seq, meta, doc, forced)
        if settle and forced is None:  # ``build`` settles once, at the end
            self.settle()

    def settle(self, limit: int | None = None) -> None:
        """Work out the people around every mention applied without settling, then the
        incidents their records tell (``_settle_incidents``: events follow people).
        With ``limit``, a part of that work (``_settle``); call again until
        ``unsettled`` is 0."""
        if self._pending:
            self._settle(limit)
        if self._inc_pending and not self._pending:
            self._settle_incidents()

    def _apply_content(self, seq: int, meta: FragmentMeta, doc: dict[str, Any], forced: dict[int, int] | None) -> None:
        """The people, event, places and relationships of one fragment."""
        ev = doc.get("event")
        if ev is None:  # a retraction carries no event of its own
            return
        if self.candidates is not None and seq * MENTIONS_PER_FRAGMENT not in self._contexts:
            self._add_contexts(seq, doc)
        pids = self._resolve_people(seq, doc, forced)
        if self.candidates is not None and forced is None:
            self._note_relations(seq, pids)
        when = ev["when"]
        start, end = _ordinal(when["start"]), _ordinal(when["end"])
        precision = _intern(when["precision"])
        kind = _intern(ev["kind"])
        # every record is its own event first; ``_settle_incidents`` joins the records
        # that tell one incident (graph/incidents.py), whatever order they came in
        self._claims[seq] = (kind, start, end, precision, when.get("at"))
        self._inc_pending.add(seq)
        event = EventNode(seq, kind, start, end, precision, when.get("at"))
        self.events[event.id] = event
        event.sources.append(seq)
        meta.event = event.id
        for i, (pid, m) in enumerate(zip(pids, doc.get("people", ()), strict=True)):
            role = _intern(m["role"])
            person = self.people[pid]
            if not any(p == pid for p, _, _ in event.people):
                person.events.append(event.id)
            event.people.append((pid, role, seq))
            person.mentions.append((seq, i, role))
        place = ev.get("place")
        if place:
            pkey = self._place(place, seq)
            if pkey:
                event.place.append((pkey, seq))
        refs = {m["ref"]: pid for pid, m in zip(pids, doc.get("people", ()), strict=True)}
        for r in doc.get("relationships", ()):
            rkey = (refs[r["subject"]], _intern(r["kind"]), refs[r["object"]])
            seqs = self.relationships.get(rkey)
            if seqs is None:
                self.relationships[rkey] = [seq]
                self.person_relationships.setdefault(rkey[0], []).append(rkey)
                self.person_relationships.setdefault(rkey[2], []).append(rkey)
            else:
                seqs.append(seq)

    def _add_contexts(self, seq: int, doc: dict[str, Any]) -> None:
        """Keep the fragment's mention contexts (``graph.resolution.mention_contexts``);
        the first mention's key always gets one, marking the fragment as done."""
        ctxs = mention_contexts(seq, doc)
        first = mention_key(seq, 0)
        if first not in ctxs:
            ctxs[first] = MentionContext("", 0, ())
        for mk, ctx in ctxs.items():
            self._contexts[mk] = ctx
            for _, o in ctx.relations:
                self._related.setdefault(o, []).append(mk)

    def _note_relations(self, seq: int, pids: list[int]) -> None:
        """Mark for settling each mention that gives its person a relation they did not
        have yet (the first record saying Leanne is Mia's mother: "Mrs L Walsh", parent
        of Mia in the school's records, may now be her). A relation already known changes
        nothing, so most records of a family settle nothing. (Remembered by person id: a
        person renumbered by a rebuild only looks new, which costs a settle, never a
        missed one.)"""
        for i, pid in enumerate(pids):
            mk = mention_key(seq, i)
            ctx = self._contexts.get(mk)
            if ctx is None or not ctx.relations:
                continue
            for relation, o in ctx.relations:
                other = pids[o % MENTIONS_PER_FRAGMENT]
                key = (pid, relation, other)
                if key not in self._relations_seen:
                    self._relations_seen.add(key)
                    self._pending.add(mk)

    def _place(self, place: dict[str, Any], seq: int) -> str | None:
        addr = place.get("address") or {}
        text = addr.get("text") or place.get("description")
        postcode = addr.get("postcode")
        if not postcode:
            return None
        pkey = _place_key(text, postcode)
        rec = self.places.setdefault(pkey, {})
        if text:
            rec.setdefault("text", {}).setdefault(text, []).append(seq)
        rec.setdefault("postcode", {}).setdefault(addr["postcode"], []).append(seq)
        if addr.get("local_authority"):  # the household's authority per period (graph/household.py)
            rec.setdefault("local_authority", {}).setdefault(addr["local_authority"], []).append(seq)
        return pkey

    def _resolve_people(self, seq: int, doc: dict[str, Any], forced: dict[int, int] | None = None) -> list[int]:
        pids: list[int] = []
        used: set[int] = set()
        for i, m in enumerate(doc.get("people", ())):
            keys = mention_keys(m)
            if forced is not None:
                pid: int | None = forced[mention_key(seq, i)]
                if self.candidates is not None:
                    self.candidates.add(mention_key(seq, i), m)
            elif self.candidates is None:
                pid = self._match(keys, m, used)
            else:
                pid = self._match_scored(seq, i, keys, m, used)
            if pid is None:
                pid = self._next_person
                self._next_person += 1
                self.people[pid] = PersonNode(pid)
            elif pid not in self.people:
                self.people[pid] = PersonNode(pid)
            used.add(pid)
            person = self.people[pid]
            for k in keys:
                owner = self._key_index.get(k)
                if owner is None:
                    self._key_index[k] = pid
                if k not in person.keys:
                    person.keys.append(k)
                    if owner is not None and owner != pid:
                        self._key_extra.setdefault(k, []).append(pid)
            name = display_name(m)
            if name:
                if not person.has("name", name):
                    for word in fold(name).split():
                        self.name_index.setdefault(word, set()).add(pid)
                person.add_value("name", name, seq)
            elif m.get("description"):
                person.add_value("description", m["description"], seq)
            if m.get("dob"):
                person.add_value("dob", m["dob"], seq)
            if m.get("sex"):
                person.add_value("sex", m["sex"], seq)
            for ident in m.get("identifiers", ()):
                _index_add(self.ident_index, ident["value"], pid)
                person.add_value(
                    "identifier",
                    (ident["scheme"], ident["value"], bool(ident.get("verified"))),
                    seq,
                )
            for addr in m.get("addresses", ()):
                pkey = self._place({"address": addr}, seq)
                if pkey:
                    person.add_value("address", pkey, seq)
            if m.get("identity_protected"):
                person.add_value("identity_protected", True, seq)
            if self.candidates is not None:
                self._mention_pid[mention_key(seq, i)] = pid
            pids.append(pid)
        return pids

    def _match(self, keys: list[tuple[str, ...]], m: dict[str, Any], used: set[int]) -> int | None:
        """The existing person these keys join, strongest key first, or None.

        When the keys lead to two or more existing people who are compatible with the
        mention and with each other, they were one person all along (the evidence that
        joins them arrived late): they are merged, so the result does not depend on the
        order fragments arrived in.
        """
        found: list[int] = []
        for k in keys:
            pid = self._key_index.get(k)
            if pid is None or pid in used or pid in found:
                continue
            if self._conflicts(self.people[pid], keys, m):
                continue
            found.append(pid)
        if not found:
            return None
        keep = found[0]
        for other in found[1:]:
            if other in self.people and keep in self.people and self._compatible(self.people[keep], self.people[other]):
                keep = self._merge(keep, other)
        return keep

    @staticmethod
    def _compatible(a: PersonNode, b: PersonNode) -> bool:
        """Two people may be one: no differing verified NHS number or UPN, dates of birth
        that agree, and never named side by side in one fragment."""
        for scheme in ("nhs", "upn"):
            ka = {k for k in a.keys if k[0] == scheme}
            kb = {k for k in b.keys if k[0] == scheme}
            if ka and kb and not ka & kb:
                return False
        if a.dobs and b.dobs and not set(a.dobs) & set(b.dobs):
            return False
        return not {s for s, _, _ in a.mentions} & {s for s, _, _ in b.mentions}

    def _merge(self, a: int, b: int) -> int:
        """Fold the later-numbered person into the earlier; returns the survivor."""
        keep, gone = min(a, b), max(a, b)
        pk, pg = self.people[keep], self.people.pop(gone)
        pk.mentions = sorted(pk.mentions + pg.mentions)
        if self.candidates is not None:
            for s, i, _ in pg.mentions:
                self._mention_pid[mention_key(s, i)] = keep
        for fv, v in pg.values.items():
            both = {v} if isinstance(v, int) else set(v)
            mine = pk.values.get(fv)
            if mine is not None:
                both |= {mine} if isinstance(mine, int) else set(mine)
            pk.values[fv] = sorted(both) if len(both) > 1 else next(iter(both))
        pk.dobs = tuple(dict.fromkeys((*pk.dobs, *pg.dobs)))
        for k in pg.keys:
            owner = self._key_index.get(k)
            self._key_index[k] = keep
            extra = self._key_extra.pop(k, [])
            holders = {q for q in (*extra, owner) if q is not None and q not in (gone, keep)}
            if holders:
                self._key_extra[k] = sorted(holders)
            if k not in pk.keys:
                pk.keys.append(k)
        for name, _ in pg.field("name"):
            for word in fold(name).split():
                self.name_index[word].discard(gone)
                self.name_index[word].add(keep)
        for ident, _ in pg.field("identifier"):
            _index_replace(self.ident_index, ident[1], gone, keep)
        for eid in pg.events:
            ev = self.events[eid]
            self._inc_pending.update(ev.sources)  # their incidents may be one now
            had = any(p == keep for p, _, _ in ev.people)
            ev.people = [(keep if p == gone else p, r, s) for p, r, s in ev.people]
            if not had:
                pk.events.append(eid)
            if ev.key is not None and self._event_index.get(ev.key) == eid:
                del self._event_index[ev.key]
                ev.key = (ev.key[0], ev.key[1], tuple(sorted({keep if p == gone else p for p in ev.key[2]})))
                self._event_index.setdefault(ev.key, eid)
        pk.events.sort()
        for rkey in self.person_relationships.pop(gone, []):
            if rkey not in self.relationships:
                continue
            seqs = self.relationships.pop(rkey)
            for end in (rkey[0], rkey[2]):
                lst = self.person_relationships.get(end)
                if end != gone and lst and rkey in lst:
                    lst.remove(rkey)
            new = (keep if rkey[0] == gone else rkey[0], rkey[1], keep if rkey[2] == gone else rkey[2])
            existed = new in self.relationships
            self.relationships[new] = sorted(set(self.relationships.get(new, [])) | set(seqs))
            if not existed:
                for end in {new[0], new[2]}:
                    self.person_relationships.setdefault(end, []).append(new)
        return keep

    @staticmethod
    def _conflicts(person: PersonNode, keys: list[tuple[str, ...]], m: dict[str, Any]) -> bool:
        """A verified identifier of the same scheme that differs, or a different date of birth."""
        mine = {k[0]: k for k in keys if k[0] in ("nhs", "upn")}
        for k in person.keys:
            other = mine.get(k[0])
            if other is not None and other != k:
                return True
        dob = m.get("dob")
        return bool(dob and person.dobs and dob not in person.dobs)

    # ------------------------------------------------------------------ scored resolution

    def _verified(self, person: PersonNode, scheme: str) -> set[str]:
        return {k[1] for k in person.keys if k[0] == scheme}

    def _fits(self, person: PersonNode, f: Any) -> bool:
        """A mention with features ``f`` may be this person (graph/resolution.py rules)."""
        return compatible_sets(
            self._verified(person, "nhs"),
            {f.nhs} if f.nhs and f.nhs_verified else set(),
            self._verified(person, "upn"),
            {f.upn} if f.upn and f.upn_verified else set(),
            set(person.dobs),
            {f.dob} if f.dob else set(),
        )

    def _joinable(self, a: PersonNode, b: PersonNode) -> bool:
        if not compatible_sets(
            self._verified(a, "nhs"),
            self._verified(b, "nhs"),
            self._verified(a, "upn"),
            self._verified(b, "upn"),
            set(a.dobs),
            set(b.dobs),
        ):
            return False
        return not {s for s, _, _ in a.mentions} & {s for s, _, _ in b.mentions}

    def _match_scored(
        self, seq: int, idx: int, keys: list[tuple[str, ...]], m: dict[str, Any], used: set[int]
    ) -> int | None:
        """The person a new mention joins, on its keys and its scores against earlier
        mentions. The quick answer is right unless a rule had to keep something apart;
        then the mention is marked, and ``_settle`` works out the order-free answer."""
        assert self.candidates is not None
        cands = self.candidates
        mk = mention_key(seq, idx)
        v = cands.add(mk, m)
        f = cands.feats[v]
        upper = cands.matcher.upper_weight
        ctx = self._contexts.get(mk)
        # a weak mention in a relation, or one others relate to, may join on relational
        # evidence: the clustering decides (``_settle``); strong mentions are marked when
        # they bring a person a relation they did not have (``_apply_content``)
        unsettled = (
            mk in self._joins
            or mk in self._aparts
            or (not f.has_strong and (bool(ctx and ctx.relations) or mk in self._related))
        )
        ordered: list[int] = []
        for k in keys:
            holders = self._key_holders(k)
            for pid in holders:
                if pid in used or pid in ordered:
                    continue
                if self._fits(self.people[pid], f):
                    ordered.append(pid)
                else:
                    unsettled = True
        scored = cands.scored(v)
        if len(cands.members[v]) > 1:
            self_weight = cands.matcher.weight(f, f)
            if self_weight >= cands.matcher.lower_weight:
                scored.append((self_weight, v))
        for w, o in scored:
            of = cands.feats[o]
            if w < upper or f.too_little or of.too_little:
                self.review[(min(v, o), max(v, o))] = w
                continue
            if not (f.has_strong and of.has_strong):
                # a weak mention joins at most one person with a date of birth or an
                # identifier: which one is the clustering's to say (``_settle``)
                unsettled = True
            for omk in cands.members[o]:
                if omk // MENTIONS_PER_FRAGMENT == seq:
                    continue
                opid = self._mention_pid.get(omk)
                if opid is None or opid in used:
                    continue
                if opid not in ordered:
                    ordered.append(opid)
        keep: int | None = None
        for pid in ordered:
            if pid not in self.people:
                continue
            if keep is None:
                if self._fits(self.people[pid], f):
                    keep = pid
                else:
                    unsettled = True
            elif self._joinable(self.people[keep], self.people[pid]) and self._fits(self.people[pid], f):
                keep = self._merge(keep, pid)
                unsettled = True  # two people became one: their relations may now meet
            else:
                unsettled = True
        if unsettled:
            self._pending.add(mk)
        return keep

    def _order(self, mk: int) -> tuple[str, int]:
        """A mention's place in the order resolution breaks ties by (never arrival)."""
        return (self.fragments[mk // MENTIONS_PER_FRAGMENT].order, mk % MENTIONS_PER_FRAGMENT)

    def _present(self, v: int) -> tuple[int, ...]:
        """The projected mentions of variant ``v``, in resolution order."""
        assert self.candidates is not None
        return tuple(sorted((mk for mk in self.candidates.members[v] if mk in self._mention_pid), key=self._order))

    def _edge_groups(self, v: int) -> list[tuple[int, Edge]]:
        """Every piece of evidence for joining the mentions of variant ``v`` with another
        variant's (or among themselves), with that other variant."""
        assert self.candidates is not None
        cands = self.candidates
        matcher = cands.matcher
        f = cands.feats[v]
        mine = self._present(v)
        out: list[tuple[int, Edge]] = []
        if not mine:
            return out
        for o in cands.neighbours(v):
            theirs = mine if o == v else self._present(o)
            if (o == v and len(mine) < 2) or not theirs:
                continue
            _, e = edge_between(matcher, f, cands.feats[o], mine, theirs)
            if e is not None:
                out.append((o, e))
        return out

    def _settle(self, limit: int | None = None) -> None:
        """Make the people around the pending mentions what the evidence decides
        regardless of arrival order (``graph.resolution.cluster``), splitting and
        re-projecting them when the quick joins made at arrival were not that. With
        ``limit``, only the neighbourhoods of that many pending mentions (the lowest
        keys): each is worked out whole, so any part of the work is a right answer."""
        if limit is None or len(self._pending) <= limit:
            pending, self._pending = self._pending, set()
        else:
            pending = set(sorted(self._pending)[:limit])
            self._pending -= pending
        assert self.candidates is not None
        cands = self.candidates
        mentions: set[int] = set()
        variants: set[int] = set()
        edges: dict[tuple[int, int], Edge] = {}
        todo = [mk for mk in pending if mk in self._mention_pid]
        while todo:
            mk = todo.pop()
            if mk in mentions:
                continue
            mentions.add(mk)
            pid = self._mention_pid[mk]
            todo.extend(mention_key(s, i) for s, i, _ in self.people[pid].mentions)
            todo.extend(o for o in self._aparts.get(mk, ()) if o in self._mention_pid)
            todo.extend(o for o in self._joins.get(mk, ()) if o in self._mention_pid)
            ctx = self._contexts.get(mk)
            if ctx is not None:
                todo.extend(o for _, o in ctx.relations if o in self._mention_pid)
            todo.extend(o for o in self._related.get(mk, ()) if o in self._mention_pid)
            v = cands.of[mk]
            if v in variants:
                continue
            variants.add(v)
            todo.extend(self._present(v))
            for o, e in self._edge_groups(v):
                edges.setdefault((min(v, o), max(v, o)), e)
                todo.extend(e.b)
        self._pending -= mentions  # worked out here with their neighbourhood
        found = list(edges.items())
        groups = [e for _, e in found]
        for a in mentions:
            groups += [Edge(REVIEWER, 0.0, (a,), (b,)) for b in self._joins.get(a, ()) if b in mentions and a < b]
        apart = [(a, b) for a in mentions for b in self._aparts.get(a, ()) if b in mentions]
        order = {mk: self._order(mk) for mk in mentions}
        feats = {mk: cands.features(mk) for mk in mentions}
        contexts = {mk: c for mk in mentions if (c := self._contexts.get(mk)) is not None and (c.relations or c.role)}
        offered: Review = []
        rep = cluster(
            sorted(mentions), feats, groups, apart, order, contexts=contexts, matcher=cands.matcher, review=offered
        )
        # scored evidence the rules kept apart goes to review
        for (va, vb), e in found:
            if e.tier == SCORE and any(rep[x] != rep[y] for x, y in e.pairs()):
                self.review[(va, vb)] = e.weight
        self._offer(offered, rep)
        now: dict[int, int] = {}
        same = True
        for mk in mentions:
            pid = self._mention_pid[mk]
            r = now.setdefault(rep[mk], pid)
            if r != pid:
                same = False
                break
        if same and len(set(now.values())) == len(now):
            return
        self._rebuild(mentions, rep)

    def _offer(self, offered: Review, rep: dict[int, int]) -> None:
        """Pairs the clustering could not decide (relational evidence between the
        thresholds, a mention that fits two people) go to review, by variant."""
        assert self.candidates is not None
        of = self.candidates.of
        for x, y, w in offered:
            if rep.get(x) != rep.get(y):
                va, vb = of[x], of[y]
                key = (min(va, vb), max(va, vb))
                if w > self.review.get(key, float("-inf")):
                    self.review[key] = w

    def _rebuild(self, mentions: set[int], rep: dict[int, int]) -> None:
        """Re-project the fragments of ``mentions`` with each mention assigned its
        cluster (and every other mention in those fragments its present person)."""
        if self._docs is None:
            raise RuntimeError("a projection that can split people needs a document source")
        seqs = sorted({mk // MENTIONS_PER_FRAGMENT for mk in mentions})
        docs = self._docs(seqs)
        old = {self._mention_pid[mk] for mk in mentions}
        forced: dict[int, int] = {}
        fresh: dict[int, int] = {}
        for s in seqs:
            for i in range(len(docs[s].get("people", ()))):
                mk = mention_key(s, i)
                if mk in rep:
                    r = rep[mk]
                    if r not in fresh:
                        fresh[r] = self._next_person
                        self._next_person += 1
                    forced[mk] = fresh[r]
                else:
                    forced[mk] = self._mention_pid[mk]
        # what the old people asserted, before the teardown takes it out of them: their
        # index entries must go with them (or a search finds a person who is no more)
        asserted = {pid: list(self.people[pid].values) for pid in old if pid in self.people}
        for s in reversed(seqs):
            self._teardown(s)
        for pid in old:
            self._drop_person(pid)
            self._unindex(pid, asserted.get(pid, ()))
        for s in seqs:
            self._apply_content(s, self.fragments[s], docs[s], forced)
        for pid in {forced[mk] for mk in forced if mk not in rep}:
            person = self.people.get(pid)
            if person is not None:
                person.dobs = tuple(v for (fld, v) in person.values if fld == "dob")
                person.events.sort()
                if not person.mentions:
                    self._drop_person(pid)

    def _teardown(self, seq: int) -> None:
        """Take one fragment's content out of the projection (see ``_rebuild``)."""
        meta = self.fragments[seq]
        if meta.event is None:
            return
        ev = self.events[meta.event]
        mine = {pid for pid, _, s in ev.people if s == seq}
        ev.people = [x for x in ev.people if x[2] != seq]
        ev.sources = [s for s in ev.sources if s != seq]
        # the places this fragment named (its event's and its people's addresses): only
        # these can hold its seq, so only these are visited (not every place in the store)
        touched = {pkey for pkey, s in ev.place if s == seq}
        ev.place = [x for x in ev.place if x[1] != seq]
        for pid in mine:
            person = self.people[pid]
            person.mentions = [x for x in person.mentions if x[0] != seq]
            if not any(p == pid for p, _, _ in ev.people) and ev.id in person.events:
                person.events.remove(ev.id)
            for k, val in list(person.values.items()):
                if val == seq:
                    del person.values[k]
                elif isinstance(val, list) and seq in val:
                    val.remove(seq)
                    if len(val) == 1:
                        person.values[k] = val[0]
                else:
                    continue
                if k[0] == "address":
                    touched.add(k[1])
            for rkey in list(self.person_relationships.get(pid, ())):
                rs = self.relationships.get(rkey)
                if rs is None or seq not in rs:
                    continue
                rs.remove(seq)
                if not rs:
                    del self.relationships[rkey]
                    for end in {rkey[0], rkey[2]}:
                        lst = self.person_relationships.get(end)
                        if lst and rkey in lst:
                            lst.remove(rkey)
        for pkey in touched:
            for values in self.places.get(pkey, {}).values():
                for text, ss in list(values.items()):
                    if seq in ss:
                        ss.remove(seq)
                        if not ss:
                            del values[text]
        if not ev.sources:
            del self.events[ev.id]
            if ev.key is not None and self._event_index.get(ev.key) == ev.id:
                del self._event_index[ev.key]
        else:  # the incident it was part of is worked out again without it
            self._inc_pending.update(ev.sources)
            if ev.id == seq:
                self._rekey_event(ev, min(ev.sources))
        meta.event = None

    def _drop_person(self, pid: int) -> None:
        """Remove a person whose mentions have all gone, and every index entry of theirs."""
        person = self.people.pop(pid, None)
        if person is None:
            return
        for k in person.keys:
            if self._key_index.get(k) == pid:
                extra = self._key_extra.pop(k, [])
                if extra:
                    self._key_index[k] = extra[0]
                    if extra[1:]:
                        self._key_extra[k] = extra[1:]
                else:
                    del self._key_index[k]
            elif k in self._key_extra and pid in self._key_extra[k]:
                self._key_extra[k].remove(pid)
                if not self._key_extra[k]:
                    del self._key_extra[k]
        self._unindex(pid, person.values)
        self.person_relationships.pop(pid, None)

    def _unindex(self, pid: int, values: Iterable[tuple[str, Any]]) -> None:
        """Take a person who is gone out of the name and identifier indexes."""
        for fld, val in values:
            if fld == "name":
                for word in fold(val).split():
                    self.name_index.get(word, set()).discard(pid)
            elif fld == "identifier":
                v = self.ident_index.get(val[1])
                if v == pid:
                    del self.ident_index[val[1]]
                elif isinstance(v, list) and pid in v:
                    v.remove(pid)

    def set_decisions(self, joins: Iterable[tuple[int, int]], aparts: Iterable[tuple[int, int]]) -> None:
        """The reviewers' decisions in force, as pairs of mention keys. People affected
        by a change are worked out again (split or joined) at once."""
        before = {(a, b) for a, bs in self._joins.items() for b in bs} | {
            (a, b) for a, bs in self._aparts.items() for b in bs
        }
        self._joins, self._aparts = {}, {}
        for table, pairs in ((self._joins, joins), (self._aparts, aparts)):
            for a, b in pairs:
                table.setdefault(a, set()).add(b)
                table.setdefault(b, set()).add(a)
        after = {(a, b) for a, bs in self._joins.items() for b in bs} | {
            (a, b) for a, bs in self._aparts.items() for b in bs
        }
        if self.candidates is None:
            return
        for a, b in before ^ after:
            for mk in (a, b):
                if mk in self._mention_pid:
                    self._pending.add(mk)
        if self._pending:
            self._settle()
        if self._inc_pending:
            self._settle_incidents()

    def mention_context(self, mk: int) -> MentionContext | None:
        """A mention's role and relations in its own record (with a matcher only)."""
        return self._contexts.get(mk)

    def mention_name(self, seq: int, idx: int) -> str | None:
        """The name mention ``idx`` of fragment ``seq`` gives, as written."""
        pid = self.person_of(seq, idx)
        person = self.people.get(pid) if pid is not None else None
        if person is None:
            return None
        names = [v for v, seqs in person.field("name") if seq in seqs]
        return names[0] if len(names) == 1 else None

    def person_of(self, seq: int, idx: int) -> int | None:
        """The person mention ``idx`` of fragment ``seq`` belongs to."""
        if self.candidates is not None:
            return self._mention_pid.get(mention_key(seq, idx))
        people = self.mention_people(seq)
        return people[idx] if idx < len(people) else None

    def near(self, mk: int) -> set[int]:
        """Mentions with evidence for joining ``mk`` that the rules kept apart, and those
        a reviewer decided about."""
        out = self._joins.get(mk, set()) | self._aparts.get(mk, set())
        if self.candidates is None or mk not in self._mention_pid:
            return out
        pid = self._mention_pid[mk]
        for _, e in self._edge_groups(self.candidates.of[mk]):
            for other in (*e.a, *e.b):
                if self._mention_pid.get(other, pid) != pid:
                    out.add(other)
        return out

    def extend(self, rows: Iterable[tuple[int, str, dict[str, Any], int | None]], *, settle: bool = True) -> None:
        """Apply fragments in order, settling the people they touch once at the end:
        clustering the union of a batch's neighbourhoods gives what settling after each
        fragment would (resolution does not depend on arrival order), for one walk.
        ``settle=False`` leaves that to a later ``settle`` (the embedded store settles
        behind the acknowledgement, and before any answer)."""
        for seq, fid, doc, sup in rows:
            self.apply(seq, fid, doc, sup, settle=False)
        if settle:
            self.settle()

    @property
    def unsettled(self) -> int:
        """Mentions applied whose people, and records whose incidents, are not yet
        worked out (``settle``)."""
        return len(self._pending) + len(self._inc_pending)

    # ------------------------------------------------------------------ incidents

    def set_incident_decisions(self, joins: Iterable[tuple[int, int]], aparts: Iterable[tuple[int, int]]) -> None:
        """The reviewers' decisions about incidents in force, as pairs of fragment seqs
        (graph/incidents.py). The events around a changed decision are worked out again."""
        before = {(a, b) for a, bs in self._inc_joins.items() for b in bs} | {
            (a, b) for a, bs in self._inc_aparts.items() for b in bs
        }
        self._inc_joins, self._inc_aparts = {}, {}
        for table, pairs in ((self._inc_joins, joins), (self._inc_aparts, aparts)):
            for a, b in pairs:
                table.setdefault(a, set()).add(b)
                table.setdefault(b, set()).add(a)
        after = {(a, b) for a, bs in self._inc_joins.items() for b in bs} | {
            (a, b) for a, bs in self._inc_aparts.items() for b in bs
        }
        for a, b in before ^ after:
            self._inc_pending.update(s for s in (a, b) if s in self.fragments)
        if self._inc_pending and self.last_seq:
            self._settle_incidents()

    def children_of(self, seq: int) -> frozenset[int]:
        """The people a record names as a child (as resolved now)."""
        meta = self.fragments.get(seq)
        if meta is None or meta.event is None:
            return frozenset()
        return frozenset(p for p, r, s in self.events[meta.event].people if s == seq and r == "child")

    def _names_childless(self, pid: int) -> bool:
        """Is this person named in a record that names no child (one that must be
        compared on its adults)?"""
        person = self.people.get(pid)
        return person is not None and any(not self.children_of(s) for s, _, _ in person.mentions)

    def people_of(self, seq: int) -> frozenset[int]:
        """Everyone a record names (as resolved now)."""
        meta = self.fragments.get(seq)
        if meta is None or meta.event is None:
            return frozenset()
        return frozenset(p for p, _, s in self.events[meta.event].people if s == seq)

    def claim(self, seq: int) -> incidents.Claim:
        kind, start, end, precision, at = self._claims[seq]
        meta = self.fragments[seq]
        return incidents.Claim(
            seq, meta.order, meta.agency, kind, start, end, precision, self.children_of(seq), self.people_of(seq), at
        )

    def _settle_incidents(self) -> None:
        """Group the records around the pending ones into events as the evidence and the
        reviewers' decisions say (``incidents.group``). The records taken are everything
        linked to the pending ones (through evidence, a decision, or a shared event),
        all of them at once, so the answer does not depend on the order they arrived in.
        The grouping of a set of records depends only on the records linked to them, so
        only that part is worked out: a record's links are found among the records of its
        children whose dates overlap its own."""
        pending, self._inc_pending = self._inc_pending, set()
        hood: set[int] = set()
        claims: dict[int, incidents.Claim] = {}
        todo = [s for s in pending if s in self._claims and self.fragments[s].event is not None]
        while todo:
            s = todo.pop()
            if s in hood:
                continue
            meta = self.fragments.get(s)
            if meta is None or meta.event is None:
                continue
            hood.add(s)
            todo.extend(self.events[meta.event].sources)
            todo.extend(self._inc_joins.get(s, ()))
            todo.extend(self._inc_aparts.get(s, ()))
            # a record no longer current still leads to the records it was linked to:
            # without it they may now be one event (it made them ambiguous before)
            c = claims.get(s) or claims.setdefault(s, self.claim(s))
            # a record's links are among its children's records, or, for a record that
            # names no child, among the records of the people it names
            for pid in c.people:
                adult = pid not in c.children
                if c.children and adult and not self._names_childless(pid):
                    continue
                for s2, _, role in self.people[pid].mentions:
                    if s2 in hood or s2 == s:
                        continue
                    if c.children and (role != "child" if not adult else self.children_of(s2)):
                        continue  # by a child, its records; by an adult, those naming no child
                    _, start, end, _, _ = self._claims[s2]
                    if end < c.start or start > c.end or not self.is_current(s2):
                        continue
                    c2 = claims.get(s2) or claims.setdefault(s2, self.claim(s2))
                    if incidents.strength(c, c2):
                        todo.append(s2)
        if not hood:
            return
        current = [claims.get(s) or self.claim(s) for s in hood if self.is_current(s)]
        groups, review = incidents.group(current, self._inc_joins, self._inc_aparts)
        groups += [(s,) for s in hood if not self.is_current(s)]
        for s in hood:
            for pair in self._review_of.pop(s, ()):
                if self.incident_review.pop(pair, None) is not None:
                    for x in pair:
                        if x != s:
                            self._review_of.get(x, set()).discard(pair)
        for pair, reason in review.items():
            self.incident_review[pair] = reason
            for x in pair:
                self._review_of.setdefault(x, set()).add(pair)
        changed = [
            g
            for g in groups
            if set(self.events[self.fragments[g[0]].event].sources) != set(g)  # type: ignore[index]
        ]
        if changed:
            self._regroup(changed)

    def _rekey_event(self, ev: EventNode, new: int) -> None:
        """Number an event by its lowest source (event ids are the seq of their first
        record, so a replay numbers them as the incremental build did)."""
        old = ev.id
        del self.events[old]
        ev.id = new
        self.events[new] = ev
        for s in ev.sources:
            self.fragments[s].event = new
        for pid in {p for p, _, _ in ev.people}:
            evs = self.people[pid].events
            evs[evs.index(old)] = new
            evs.sort()

    def _regroup(self, groups: list[tuple[int, ...]]) -> None:
        """Make each of ``groups`` (sorted seqs) one event, taking its records out of the
        events they were in."""
        slices: dict[int, tuple[list[tuple[int, str, int]], list[tuple[str, int]]]] = {}
        for g in groups:
            for s in g:
                ev = self.events[self.fragments[s].event]  # type: ignore[index]
                mine = [x for x in ev.people if x[2] == s]
                slices[s] = (mine, [x for x in ev.place if x[1] == s])
                ev.people = [x for x in ev.people if x[2] != s]
                ev.place = [x for x in ev.place if x[1] != s]
                ev.sources = [x for x in ev.sources if x != s]
                for pid in {p for p, _, _ in mine}:
                    if not any(p == pid for p, _, _ in ev.people):
                        self.people[pid].events.remove(ev.id)
                self.fragments[s].event = None
                if not ev.sources:
                    del self.events[ev.id]
                elif ev.id == s:
                    self._rekey_event(ev, min(ev.sources))
        for g in groups:
            # the event says what its most precise record says (ties: the lowest fragment id)
            rep = min(g, key=lambda s: self._precision_rank(s))
            kind, start, end, precision, at = self._claims[rep]
            ev = EventNode(g[0], kind, start, end, precision, at)
            self.events[ev.id] = ev
            for s in g:
                ev.sources.append(s)
                self.fragments[s].event = ev.id
                mine, places = slices[s]
                for pid in {p for p, _, _ in mine}:
                    if not any(p == pid for p, _, _ in ev.people):
                        self.people[pid].events.append(ev.id)
                        self.people[pid].events.sort()
                ev.people += mine
                ev.place += places

    def claimed(self, seq: int) -> tuple[str, int, int, str, str | None]:
        """What a record says of its own event: kind, start and end ordinals, precision, time."""
        return self._claims[seq]

    def _precision_rank(self, seq: int) -> tuple[int, int, str]:
        _, start, end, precision, _ = self._claims[seq]
        return (PRECISION_RANK.get(precision, 9), end - start, self.fragments[seq].order)

    def build(
        self,
        rows: Callable[[], Iterable[tuple[int, str, dict[str, Any], int | None]]],
        *,
        stages: dict[str, float] | None = None,
    ) -> None:
        """Project a whole journal into this empty projection. ``rows`` gives the
        fragments afresh each time it is called.

        With a matcher this is a full re-link in two passes: every mention is indexed
        and every candidate pair scored once, all of them clustered at once, and then
        the fragments are projected with their people decided. Resolution does not
        depend on arrival order, so this gives what applying the fragments one by one
        would (tests/test_linkage.py checks), in a fraction of the time. ``stages``, if
        given, receives the seconds each step took (for benchmarks and operators)."""
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            if stages is not None:
                stages[stage] = now - clock
            clock = now

        if self.candidates is None or self.last_seq:
            self.extend(rows())
            return
        cands = self.candidates
        matcher = cands.matcher
        order: dict[int, tuple[str, int]] = {}
        contexts: dict[int, MentionContext] = {}
        for seq, fid, doc, _ in rows():
            if doc.get("event") is None:
                continue
            contexts.update(mention_contexts(seq, doc))
            for i, m in enumerate(doc.get("people", ())):
                mk = mention_key(seq, i)
                cands.add(mk, m)
                order[mk] = (fid, i)
        members = [tuple(sorted(ms, key=order.__getitem__)) for ms in cands.members]
        lap("index")
        edges: list[Edge] = []
        lower, upper = matcher.lower_weight, matcher.upper_weight
        feats = cands.feats
        for v, f in enumerate(feats):
            for o in cands.neighbours(v):
                if o < v or (o == v and len(members[v]) < 2):
                    continue
                fo = feats[o]
                w, e = edge_between(matcher, f, fo, members[v], members[o])
                if e is not None:
                    edges.append(e)
                if w >= lower and (w < upper or f.too_little or fo.too_little):
                    self.review[(v, o)] = w
        for a, bs in self._joins.items():
            edges += [Edge(REVIEWER, 0.0, (a,), (b,)) for b in bs if a < b and b in order and a in order]
        apart = [(a, b) for a, bs in self._aparts.items() for b in bs if a in order and b in order]
        lap("score")
        offered: Review = []
        rep = cluster(
            list(order),
            {mk: feats[v] for mk, v in cands.of.items()},
            edges,
            apart,
            order,
            contexts=contexts,
            matcher=matcher,
            review=offered,
        )
        del edges, contexts
        self._offer(offered, rep)
        lap("cluster")
        forced: dict[int, int] = {}
        fresh: dict[int, int] = {}
        for mk in sorted(rep):  # person ids in order of first mention
            r = rep[mk]
            pid = fresh.get(r)
            if pid is None:
                pid = fresh[r] = self._next_person
                self._next_person += 1
            forced[mk] = pid
        del rep, fresh
        for seq, fid, doc, sup in rows():
            self.apply(seq, fid, doc, sup, forced=forced)
        self._settle_incidents()
        for review in [k for k, w in self.review.items() if w >= upper]:
            va, vb = review
            if all(forced[x] == forced[y] for x in members[va] for y in members[vb] if x != y):
                del self.review[review]
        lap("project")

    # ------------------------------------------------------------------ reading

    def details(self, seqs: Iterable[int]) -> dict[int, FragmentText]:
        """The words of the given fragments (id, reference, times, summary, date as written)."""
        if self._text is not None:
            return {s: self._text[s] for s in seqs}
        assert self._text_source is not None
        return self._text_source(seqs)

    def is_current(self, seq: int) -> bool:
        """Not superseded and not a retraction: the version a chronology shows."""
        meta = self.fragments.get(seq)
        return meta is not None and meta.superseded_by is None and not meta.retracted

    def person_values(self, pid: int, field: str, visible: Visible) -> list[tuple[Any, list[int]]]:
        """Values of a person's field that a visible fragment asserts, best supported first."""
        out = []
        for value, seqs in self.people[pid].field(field):
            vis = [s for s in seqs if visible(s)]
            if vis:
                out.append((value, vis))
        out.sort(key=lambda vs: (-len(vs[1]), vs[1][0]))
        return out

    @staticmethod
    def takes_part(pid: int, ev: EventNode, visible: Visible) -> bool:
        """``pid`` is in ``ev`` by a visible fragment's word, not only by a hidden one."""
        return any(q == pid and visible(s) for q, _, s in ev.people)

    def events_of(self, pid: int, visible: Visible) -> list[int]:
        """The events a person visibly takes part in: what counts, chronologies and
        networks all show, so that none of them betrays a hidden mention."""
        return [e for e in self.people[pid].events if self.takes_part(pid, self.events[e], visible)]

    def mention_people(self, seq: int) -> list[int]:
        """The person each mention of fragment ``seq`` resolved to, in mention order."""
        meta = self.fragments.get(seq)
        if meta is None or meta.event is None:
            return []
        return [q for q, _, s in self.events[meta.event].people if s == seq]

    def component(self, pid: int) -> tuple[set[int], set[int]]:
        """The people and fragments whose resolution can affect ``pid``'s: everything
        reachable through a fragment that mentions two of them or a join key two of them
        hold. Projecting only a subset of these fragments gives the same result as
        projecting that subset together with any fragments outside them (a reader's view
        relies on this). Returns (people, fragment seqs)."""
        people: set[int] = set()
        seqs: set[int] = set()
        todo = [pid]
        # the hot loop of a pattern scan and of every reader's view: mention_people and
        # _key_holders are written out here (measured: a third of a component's time)
        everyone, fragments, events = self.people, self.fragments, self.events
        key_index, key_extra = self._key_index, self._key_extra
        while todo:
            q = todo.pop()
            if q in people:
                continue
            person = everyone.get(q)
            if person is None:
                continue
            people.add(q)
            for s, _, _ in person.mentions:
                if s not in seqs:
                    seqs.add(s)
                    meta = fragments.get(s)
                    if meta is not None and meta.event is not None:
                        # everyone in its event: a record joined to it as one incident
                        # is part of the picture (a reader who cannot see it sees apart)
                        for x, _, _ in events[meta.event].people:
                            if x not in people:
                                todo.append(x)
            for k in person.keys:
                owner = key_index.get(k)
                if owner is not None and owner not in people:
                    todo.append(owner)
                for x in key_extra.get(k, ()):
                    if x not in people:
                        todo.append(x)
            if self.candidates is not None:
                for s, i, _ in person.mentions:
                    for other in self.near(mention_key(s, i)):
                        q2 = self._mention_pid.get(other)
                        if q2 is not None and q2 not in people:
                            todo.append(q2)
        return people, seqs

    def _key_holders(self, key: tuple[str, ...]) -> list[int]:
        """Every person who holds ``key``."""
        owner = self._key_index.get(key)
        extra = self._key_extra.get(key, [])
        return extra if owner is None else [owner, *extra]

    def person_visible(self, pid: int, visible: Visible) -> bool:
        person = self.people.get(pid)
        return person is not None and any(visible(s) for s, _, _ in person.mentions)

    def to_networkx(self, visible: Visible | None = None, people: Iterable[int] | None = None) -> nx.MultiDiGraph:
        """A networkx MultiDiGraph of the visible projection (or of the given people's part).

        Nodes are ``("person", id)``, ``("event", id)``, ``("fragment", seq)``,
        ``("agency", id)`` and ``("place", key)``; every node and edge has ``sources``, the
        sorted visible fragment seqs that support it. Built on demand: O(size of the part).
        """
        vis: Visible = visible or (lambda s: True)
        g = nx.MultiDiGraph()
        wanted = set(self.people) if people is None else set(people)
        event_ids: set[int] = set()
        for pid in sorted(wanted):
            if pid in self.people:
                event_ids.update(self.events_of(pid, vis))
        for eid in sorted(event_ids):
            ev = self.events[eid]
            srcs = sorted(s for s in ev.sources if vis(s))
            if not srcs:
                continue
            g.add_node(
                ("event", eid),
                kind=ev.kind,
                start=ev.start,
                end=ev.end,
                precision=ev.precision,
                sources=tuple(srcs),
            )
            for s in srcs:
                meta = self.fragments[s]
                g.add_node(
                    ("fragment", s),
                    agency=meta.agency,
                    statement=meta.statement,
                    sources=(s,),
                )
                g.add_edge(("fragment", s), ("event", eid), key="reports", sources=(s,))
                g.add_node(("agency", meta.agency), sources=())
                g.add_edge(("agency", meta.agency), ("fragment", s), key="shared", sources=(s,))
            roles: dict[tuple[int, str], list[int]] = {}
            for pid, role, s in ev.people:
                if vis(s):
                    roles.setdefault((pid, role), []).append(s)
            for (pid, role), ss in sorted(roles.items()):
                self._add_person(g, pid, vis)
                g.add_edge(("person", pid), ("event", eid), key=role, role=role, sources=tuple(sorted(ss)))
            for pkey, s in ev.place:
                if vis(s):
                    g.add_node(("place", pkey), sources=())
                    g.add_edge(("event", eid), ("place", pkey), key="at", sources=(s,))
        for pid in sorted(wanted):
            if pid in self.people and self.person_visible(pid, vis):
                self._add_person(g, pid, vis)
                for rkey in self.person_relationships.get(pid, ()):
                    ss = [s for s in self.relationships[rkey] if vis(s)]
                    if ss:
                        self._add_person(g, rkey[0], vis)
                        self._add_person(g, rkey[2], vis)
                        g.add_edge(
                            ("person", rkey[0]),
                            ("person", rkey[2]),
                            key=rkey[1],
                            kind=rkey[1],
                            sources=tuple(ss),
                        )
        for node in [n for n in g if n[0] == "person"]:
            for pkey, ss in self.person_values(node[1], "address", vis):
                g.add_node(("place", pkey), sources=())
                g.add_edge(node, ("place", pkey), key="lives_at", sources=tuple(sorted(ss)))
        texts = self.details([n[1] for n in g if n[0] == "fragment"])
        for node, data in g.nodes(data=True):
            if node[0] == "fragment":
                data["fid"] = texts[node[1]].fid
            elif node[0] == "place":  # a place is supported by what puts someone or something there
                data["sources"] = tuple(sorted({s for _, _, d in g.in_edges(node, data=True) for s in d["sources"]}))
            elif node[0] == "agency":  # an agency by the fragments it shared
                data["sources"] = tuple(sorted({s for _, _, d in g.out_edges(node, data=True) for s in d["sources"]}))
        return g

    def _add_person(self, g: nx.MultiDiGraph, pid: int, vis: Visible) -> None:
        node = ("person", pid)
        if node in g:
            return
        names = self.person_values(pid, "name", vis)
        dobs = self.person_values(pid, "dob", vis)
        g.add_node(
            node,
            name=names[0][0] if names else None,
            dob=dobs[0][0] if dobs else None,
            sources=tuple(sorted({s for s, _, _ in self.people[pid].mentions if vis(s)})),
        )
