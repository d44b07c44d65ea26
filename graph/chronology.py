"""A person's merged multi-agency chronology, read from the projection.

One line per event the person took part in, in date order, each with its sources. The
lines are built through a predicate over fragment seqs (``visible``): only current,
visible fragments contribute, and the filters (agency, concern, significance, statement
kind) narrow that same predicate, so a filtered line shows only the sources that pass.
Approximate dates sort by the middle of their span and are shown as spans.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import IO, Any

from graph.projection import PRECISION_RANK, SIGNIFICANCE_RANK, FragmentText, Projection, Visible

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class ChronologyFilters:
    """Which lines to show. Empty sets mean "any"."""

    date_from: date | None = None
    date_to: date | None = None
    agencies: frozenset[str] = frozenset()
    concerns: frozenset[str] = frozenset()
    significance: frozenset[str] = frozenset()
    statements: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SourceRef:
    fragment_id: str
    agency: str
    agency_name: str
    author_role: str
    record_ref: str
    recorded_at: str
    shared_at: str
    statement: str
    significance: str
    summary: str | None
    when_text: str | None
    replaces: list[str] = field(default_factory=list)
    # handling instructions from the sender, e.g. do_not_tell_family
    handling: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PersonInLine:
    person_id: str
    name: str
    roles: list[str]


@dataclass(frozen=True)
class ChronologyLine:
    event_id: str
    start: str
    end: str
    at: str | None
    precision: str
    when: str
    kind: str
    summary: str
    people: list[PersonInLine]
    agencies: list[str]
    author_roles: list[str]
    statements: list[str]
    significance: str
    concerns: list[str]
    corroborated: bool
    corrected: bool
    sources: list[SourceRef]
    # A placeholder line: a record the reader may not see but may know exists. Says who
    # holds it and whom to ask; carries no content, no people and no exact date.
    held_back: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def person_ref(pid: int) -> str:
    return f"P{pid}"


def event_ref(eid: int) -> str:
    return f"E{eid}"


def format_when(start: date, end: date, precision: str, at: str | None, text: str | None) -> str:
    """A date as people in the room read it, with its precision visible.

    >>> format_when(date(2026, 5, 4), date(2026, 6, 3), "approximate", None, "six months previously")
    'about 4 May 2026 – 3 Jun 2026 (six months previously)'
    """

    def d(x: date) -> str:
        return f"{x.day} {_MONTHS[x.month - 1]} {x.year}"

    if precision == "exact":
        out = f"{d(start)} {at}" if at else d(start)
    elif precision == "day":
        out = d(start)
    elif precision == "month":
        out = f"{_MONTHS[start.month - 1]} {start.year}"
    elif precision == "year":
        out = str(start.year)
    elif precision == "range":
        out = f"{d(start)} – {d(end)}"
    else:
        out = f"about {d(start)} – {d(end)}" if start != end else f"about {d(start)}"
    if text and precision == "approximate" and not text[:1].isdigit():
        out += f" ({text})"
    return out


def _passes(p: Projection, seq: int, f: ChronologyFilters) -> bool:
    meta = p.fragments[seq]
    if f.agencies and meta.agency not in f.agencies:
        return False
    if f.statements and meta.statement not in f.statements:
        return False
    if f.significance and meta.significance not in f.significance:
        return False
    return not (f.concerns and not f.concerns.intersection(meta.concerns))


def agency_name(p: Projection, agency: str, shown: Sequence[int]) -> str:
    """The agency's name as the fragments being shown (``shown``, its sources on the
    lines) give it; the most used of those names. Looking only at what is shown keeps
    this cheap (an agency may hold a million fragments) and the same in every view.
    """
    names = p.agencies.get(agency, {}).get("name", {})
    if len(names) == 1:
        return next(iter(names))
    best = (0, agency)
    for name, seqs in names.items():  # each list is in seq order: look the shown seqs up
        n = 0
        for s in shown:
            i = bisect_left(seqs, s)
            n += i < len(seqs) and seqs[i] == s
        if n > best[0] or (n == best[0] and n and name < best[1]):
            best = (n, name)
    return best[1]


def person_name(p: Projection, pid: int, visible: Visible) -> str:
    """How a chronology names a person: their best-supported visible name or description."""
    names = p.person_values(pid, "name", visible)
    if names:
        return str(names[0][0])
    desc = p.person_values(pid, "description", visible)
    return str(desc[0][0]) if desc else "unnamed person"


def _history(p: Projection, seq: int, visible: Visible) -> list[int]:
    """Seqs of the earlier versions this one replaced, newest first, as far as visible."""
    out = []
    cur = p.fragments[seq].supersedes
    while cur is not None and cur in p.fragments:
        if visible(cur):
            out.append(cur)
        cur = p.fragments[cur].supersedes
    return out


def chronology(
    p: Projection,
    pid: int,
    visible: Visible,
    filters: ChronologyFilters | None = None,
    history_visible: Visible | None = None,
    *,
    replaced: Callable[[int], list[str]] | None = None,
    person_id: Callable[[int], str] = person_ref,
    event_id: Callable[[int], str] = event_ref,
) -> list[ChronologyLine]:
    """Every event ``pid`` took part in, in date order, through ``visible`` and ``filters``.

    ``visible(seq)`` decides which fragments may contribute (current versions a reader
    may see); ``history_visible`` which earlier versions may be listed as replaced, or
    ``replaced(seq)`` gives their fragment ids directly (a reader's view, whose
    projection holds current versions only). ``person_id`` and ``event_id`` name the
    projection's people and events as the reader knows them.
    """
    f = filters or ChronologyFilters()
    person = p.people.get(pid)
    if person is None:
        return []
    lo = f.date_from.toordinal() if f.date_from else None
    hi = f.date_to.toordinal() if f.date_to else None
    hist_vis = history_visible or visible
    keyed = []
    for eid in person.events:
        ev = p.events[eid]
        if (lo is not None and ev.end < lo) or (hi is not None and ev.start > hi):
            continue
        srcs = [s for s in ev.sources if visible(s) and _passes(p, s, f)]
        if not srcs:
            continue
        # the person must take part through a contributing source, not only a hidden one
        if not p.takes_part(pid, ev, srcs.__contains__):  # srcs is short: a list beats a set
            continue
        keyed.append(
            (
                (ev.start + ev.end) / 2,
                ev.start,
                PRECISION_RANK.get(ev.precision, 9),
                ev.at or "",
                eid,
                srcs,
            )
        )
    keyed.sort(key=lambda k: k[:5])
    if replaced is None:
        histories = {s: _history(p, s, hist_vis) for k in keyed for s in k[5]}
        texts = p.details({s for k in keyed for s in k[5]} | {h for hs in histories.values() for h in hs})
        earlier = {s: [texts[h].fid for h in hs] for s, hs in histories.items()}
    else:
        texts = p.details({s for k in keyed for s in k[5]})
        earlier = {s: replaced(s) for k in keyed for s in k[5]}
    # names are worked out once per person and agency, not once per line
    names: dict[int, str] = {}
    agencies: dict[str, str] = {}
    shown: dict[str, list[int]] = {}
    for k in keyed:
        for s in k[5]:
            shown.setdefault(p.fragments[s].agency, []).append(s)
    ids = _Ids(person_id, event_id)
    return [_line(p, p.events[k[4]], k[5], visible, texts, earlier, names, agencies, ids, shown) for k in keyed]


@dataclass(frozen=True, slots=True)
class _Ids:
    person: Callable[[int], str]
    event: Callable[[int], str]


def _line(
    p: Projection,
    ev: Any,
    srcs: list[int],
    visible: Visible,
    texts: dict[int, FragmentText],
    earlier: dict[int, list[str]],
    names: dict[int, str],
    agencies: dict[str, str],
    ids: _Ids,
    shown: dict[str, list[int]],
) -> ChronologyLine:
    metas = [p.fragments[s] for s in srcs]
    src_set = set(srcs)
    roles: dict[int, list[str]] = {}
    for q, role, s in ev.people:
        if s in src_set:
            r = roles.setdefault(q, [])
            if role not in r:
                r.append(role)
    people = []
    for q, rs in roles.items():
        if q not in names:
            names[q] = person_name(p, q, visible)
        people.append(PersonInLine(ids.person(q), names[q], rs))
    for m in metas:
        if m.agency not in agencies:
            agencies[m.agency] = agency_name(p, m.agency, shown.get(m.agency, ()))
    sources = [
        SourceRef(
            fragment_id=texts[m.seq].fid,
            agency=m.agency,
            agency_name=agencies[m.agency],
            author_role=m.author_role,
            record_ref=texts[m.seq].record_ref,
            recorded_at=texts[m.seq].recorded_at,
            shared_at=texts[m.seq].shared_at,
            statement=m.statement,
            significance=m.significance,
            summary=texts[m.seq].summary,
            when_text=texts[m.seq].when_text,
            replaces=earlier[m.seq],
            handling=list(m.access.handling),
        )
        for m in metas
    ]
    line_agencies = sorted({m.agency for m in metas})
    start, end = date.fromordinal(ev.start), date.fromordinal(ev.end)
    return ChronologyLine(
        event_id=ids.event(ev.id),
        start=start.isoformat(),
        end=end.isoformat(),
        at=ev.at,
        precision=ev.precision,
        when=format_when(start, end, ev.precision, ev.at, texts[metas[0].seq].when_text),
        kind=ev.kind,
        summary=texts[metas[0].seq].summary or "",
        people=people,
        agencies=line_agencies,
        author_roles=sorted({m.author_role for m in metas}),
        statements=sorted({m.statement for m in metas}),
        significance=max((m.significance for m in metas), key=SIGNIFICANCE_RANK.__getitem__),
        concerns=sorted({c for m in metas for c in m.concerns}),
        corroborated=len(line_agencies) > 1,
        corrected=any(m.supersedes is not None for m in metas),
        sources=sources,
    )


CSV_COLUMNS = (
    "date",
    "precision",
    "start",
    "end",
    "time",
    "what happened",
    "event kind",
    "people (role)",
    "agencies",
    "author roles",
    "statement kind",
    "significance",
    "concerns",
    "corroborated",
    "corrected",
    "handling",
    "source fragments",
    "terms used",
)


def _cell(value: str) -> str:
    # A cell starting with = + - @ is run as a formula by spreadsheets; quote it.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_rows(
    lines: Iterable[ChronologyLine], terms: Callable[[ChronologyLine], str] | None = None
) -> Iterable[list[str]]:
    """The CSV rows of a chronology. ``terms`` gives a line's "terms used" cell (each
    agency term in its words with its plain meaning; the glossary lives in ingest)."""
    yield list(CSV_COLUMNS)
    for ln in lines:
        yield [
            _cell(v)
            for v in (
                ln.when,
                ln.precision,
                ln.start,
                ln.end,
                ln.at or "",
                ln.summary,
                ln.kind,
                "; ".join(f"{pp.name} ({', '.join(pp.roles)})" for pp in ln.people),
                "; ".join(ln.agencies),
                "; ".join(ln.author_roles),
                "; ".join(ln.statements),
                ln.significance,
                "; ".join(ln.concerns),
                "yes" if ln.corroborated else "no",
                "yes" if ln.corrected else "no",
                "; ".join(sorted({h.replace("_", " ") for s in ln.sources for h in s.handling})),
                "; ".join(f"{s.agency}:{s.fragment_id}" for s in ln.sources),
                terms(ln) if terms is not None and not ln.held_back else "",
            )
        ]


def write_csv(
    lines: Sequence[ChronologyLine], out: IO[str], terms: Callable[[ChronologyLine], str] | None = None
) -> None:
    """CSV that opens cleanly in a spreadsheet: UTF-8 with BOM, CRLF, formulas defused."""
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    for row in csv_rows(lines, terms):
        w.writerow(row)


def to_csv(lines: Sequence[ChronologyLine], terms: Callable[[ChronologyLine], str] | None = None) -> str:
    buf = io.StringIO()
    write_csv(lines, buf, terms)
    return buf.getvalue()
