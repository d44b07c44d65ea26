"""The meeting view's pages, rendered on the server from a reader's view.

Each function takes what a ``ReaderView`` answered (a person summary, chronology lines, a
network graph, fragments as the reader may see them) and returns an HTML page. Nothing
here reads a store: a page can only show what the view gave it. Templates are Jinja2
with autoescaping on, in ``viz/templates``; the stylesheet, the print stylesheet and the
one script (network.js) are files in ``viz/static``, served by the app: the pages carry
no inline script or style, so they run under a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import networkx as nx
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from graph.access import PROTECTED_LABEL
from graph.chronology import ChronologyFilters, ChronologyLine
from graph.meaning import Acknowledgement, standing
from graph.patterns import Flag
from graph.store import PersonSummary
from ingest.glossary import (
    Glossary,
    TermHit,
    find_terms,
    fragment_texts,
    plain_words,
    terms_cell,
    terms_used,
)
from ingest.schema import Concern, Significance, StatementKind
from viz import labels, network, timeline
from viz.forms import filter_pairs, is_filtered, query_string


def static_dir() -> Path:
    """This package's static files (stylesheets, network.js, the icon)."""
    return Path(str(resources.files("viz") / "static"))


@dataclass(frozen=True)
class Viewer:
    """Who is looking and why: for the page header and the meeting pack's stamp."""

    reader_id: str
    name: str
    agency: str
    purpose: str


@dataclass(frozen=True)
class Stamp:
    """What a meeting pack is stamped with."""

    viewer: Viewer
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def words(self) -> str:
        return (
            f"Prepared for {self.viewer.name or self.viewer.reader_id} ({self.viewer.reader_id}, "
            f"{self.viewer.agency}) on {labels.uk_datetime(self.at.astimezone(UTC).isoformat())} "
            f"for the purpose: {self.viewer.purpose}"
        )


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("viz", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        uk_date=labels.uk_date,
        uk_datetime=labels.uk_datetime,
        words=labels.words,
        concern=labels.concern,
        statement=labels.statement,
        agency_from_id=labels.agency_from_id,
    )
    env.globals.update(labels=labels)
    return env


ENV = _env()


def _agency_names(lines: Iterable[ChronologyLine]) -> dict[str, str]:
    """Agency id -> its name, as the shown lines' sources give it."""
    out: dict[str, str] = {}
    for ln in lines:
        for s in ln.sources:
            out.setdefault(s.agency, s.agency_name)
    return out


def person_title(person: PersonSummary) -> str:
    """How a page names a person: their first visible name, else their description."""
    if person.names:
        return person.names[0]
    if person.descriptions:
        return person.descriptions[0]
    return "Unnamed person"


def _identifiers(person: PersonSummary) -> list[tuple[str, str]]:
    words = {"nhs": "NHS number", "upn": "Unique pupil number", "agency_person_id": "Agency's own id"}
    out = []
    for i in person.identifiers:
        scheme = str(i.get("scheme", ""))
        text = str(i.get("value", ""))
        if not i.get("verified", True):
            text += " (not verified: fails its check)"
        out.append((words.get(scheme, labels.words(scheme)), text))
    return out


def _legend() -> dict[str, Any]:
    """The timeline's legend: marks and words."""
    sig = [(labels.SIGNIFICANCE[s], timeline.legend_mark("fact", s)) for s in ("low", "medium", "high")]
    stm = [
        (labels.statement(k), timeline.legend_mark(k, "medium")) for k in ("fact", "opinion", "hearsay", "allegation")
    ]
    fam = [(label, colour) for _, label, colour, _ in labels.CONCERN_FAMILIES]
    return {
        "significance": [(w, Markup(m)) for w, m in sig],
        "statements": [(w, Markup(m)) for w, m in stm],
        "families": fam,
        "span": Markup(timeline.legend_span(False)),
        "approximate": Markup(timeline.legend_span(True)),
        "held": Markup(timeline.legend_held_back()),
        "corroborated": Markup(timeline.legend_corroborated()),
    }


def _options(person: PersonSummary, lines: Sequence[ChronologyLine], f: ChronologyFilters) -> dict[str, Any]:
    """The filter form's choices and what is ticked."""
    names = _agency_names(lines)
    agencies = sorted(set(person.agencies) | set(f.agencies) | {a for ln in lines for a in ln.agencies})
    return {
        "agencies": [(a, names.get(a) or labels.agency_from_id(a), a in f.agencies) for a in agencies],
        "concerns": [(c.value, labels.concern(c.value), c.value in f.concerns) for c in Concern],
        "significance": [(s.value, labels.SIGNIFICANCE[s.value], s.value in f.significance) for s in Significance],
        "statements": [(s.value, labels.statement(s.value), s.value in f.statements) for s in StatementKind],
        "from": f.date_from.isoformat() if f.date_from else "",
        "to": f.date_to.isoformat() if f.date_to else "",
    }


def _filter_words(f: ChronologyFilters, names: Mapping[str, str]) -> list[str]:
    out = []
    if f.date_from:
        out.append(f"from {labels.uk_date(f.date_from)}")
    if f.date_to:
        out.append(f"to {labels.uk_date(f.date_to)}")
    if f.agencies:
        out.append("recorded by " + ", ".join(sorted(names.get(a) or labels.agency_from_id(a) for a in f.agencies)))
    if f.concerns:
        out.append("concerns: " + ", ".join(sorted(labels.concern(c) for c in f.concerns)))
    if f.significance:
        out.append("significance: " + ", ".join(labels.SIGNIFICANCE.get(s, s) for s in sorted(f.significance)))
    if f.statements:
        out.append("statement: " + ", ".join(labels.STATEMENT_SHORT.get(s, s) for s in sorted(f.statements)))
    return out


class Links:
    """The pages' addresses under one root (``/pages`` unless the app is mounted lower)."""

    def __init__(self, root: str) -> None:
        self.root = root

    @property
    def assets(self) -> str:
        return f"{self.root}/assets"

    def home(self) -> str:
        return f"{self.root}/"

    def chronology(self, pid: str, f: ChronologyFilters | None = None) -> str:
        return f"{self.root}/people/{quote(pid)}/chronology" + (query_string(f) if f else "")

    def network(self, pid: str, radius: int = 1) -> str:
        return f"{self.root}/people/{quote(pid)}/network" + (f"?radius={radius}" if radius != 1 else "")

    def pack(self, pid: str, f: ChronologyFilters | None = None, *, csv: bool = False) -> str:
        return f"{self.root}/people/{quote(pid)}/pack{'.csv' if csv else ''}" + (query_string(f) if f else "")

    def event(self, eid: str, pid: str | None = None) -> str:
        return f"{self.root}/events/{quote(eid)}" + (f"?{urlencode({'person': pid})}" if pid else "")


def _base(links: Links, viewer: Viewer | None, title: str) -> dict[str, Any]:
    return {"links": links, "assets": links.assets, "who": viewer, "title": title}


@dataclass(frozen=True)
class TermShown:
    term: str
    kind: str
    words: str


def _marked(text: str, hits: Sequence[TermHit]) -> Markup:
    """``text`` escaped, with each agency term found in it (``hits``, in order) in an
    ``<abbr>`` whose title is its plain meaning (so a screen reader and a hover both give
    it)."""
    out: list[str] = []
    at = 0
    for h in hits:
        out.append(str(escape(text[at : h.start])))
        kind = f" term-{h.kind}" if h.kind != "known" else ""
        out.append(f'<abbr class="term{kind}" title="{escape(plain_words(h))}">{escape(h.written)}</abbr>')
        at = h.start + len(h.written)
    out.append(str(escape(text[at:])))
    return Markup("".join(out))


def _terms(lines: Sequence[ChronologyLine], g: Glossary | None) -> dict[str, Any]:
    """The lines' summaries with their terms marked, and the "terms used" list (each
    summary is searched once)."""
    marked: dict[str, Markup] = {}
    used: dict[str, TermHit] = {}
    for ln in lines:
        if ln.held_back:
            continue
        hits = find_terms(ln.summary, g)
        if hits:
            marked[ln.event_id] = _marked(ln.summary, hits)
        for src in ln.sources:
            if src.summary and src.summary != ln.summary:
                hits = [*hits, *find_terms(src.summary, g)]
        for h in hits:
            used.setdefault(h.term, h)
    terms = sorted(used.values(), key=lambda h: (h.term.lower(), h.term))
    return {"marked": marked, "terms": [TermShown(h.term, h.kind, plain_words(h)) for h in terms]}


@dataclass(frozen=True)
class Unacknowledged:
    """A significant item in a meeting pack, and the agencies at the meeting that have not
    said they read and understood it (with any open queries: who asked, in their words)."""

    when: str
    summary: str
    from_agency: str
    waiting: list[str]
    queries: list[tuple[str, str]]


def unacknowledged(
    lines: Sequence[ChronologyLine],
    acks: Iterable[Acknowledgement],
    *,
    at_meeting: Iterable[str],
    names: Mapping[str, str],
) -> list[Unacknowledged]:
    """Significant (high) items from the lines, each with the agencies ``at_meeting``
    other than its author that have not acknowledged it as understood."""
    stand = standing(acks)
    meeting = sorted(set(at_meeting))
    out = []
    for ln in lines:
        if ln.held_back:
            continue
        for src in ln.sources:
            if src.significance != "high":
                continue
            waiting, queries = [], []
            for agency in meeting:
                if agency == src.agency:
                    continue
                last = stand.get((src.fragment_id, agency))
                name = names.get(agency) or labels.agency_from_id(agency)
                if last is None or last.kind != "understood":
                    waiting.append(name)
                if last is not None and last.kind == "query":
                    queries.append((name, last.text))
            if waiting:
                out.append(Unacknowledged(ln.when, ln.summary, src.agency_name, waiting, queries))
    return out


def _chronology_parts(
    links: Links,
    person: PersonSummary,
    lines: Sequence[ChronologyLine],
    names: dict[str, str],
    glossary: Glossary | None = None,
) -> dict[str, Any]:
    """What the chronology page and the meeting pack both show: the person, the timeline
    with its legend, the lines (shown and held back) and the terms they use."""
    svg = timeline.timeline_svg(
        lines,
        event_href=lambda eid: links.event(eid, person.person_id),
        agency_names=names,
        title=f"Timeline of {person_title(person)}: one lane per agency",
    )
    return {
        "person": person,
        "name": person_title(person),
        "identifiers": _identifiers(person),
        "lines": lines,
        "shown": [ln for ln in lines if not ln.held_back],
        "held": [ln for ln in lines if ln.held_back],
        "agency_names": names,
        "svg": Markup(svg),
        "legend": _legend(),
        **_terms(lines, glossary),
    }


def chronology_page(
    links: Links,
    viewer: Viewer,
    person: PersonSummary,
    lines: Sequence[ChronologyLine],
    filters: ChronologyFilters,
    flags: Sequence[Flag] = (),
    *,
    glossary: Glossary | None = None,
) -> str:
    """The chronology page: the patterns flagged, filters, the timeline with its legend,
    and the table, with the terms it uses. Each flag's evidence links to its line in the
    table when the line is shown (a filter may hide it), or says who holds it."""
    names = _agency_names(lines)
    anchors = {s.fragment_id: ln.event_id for ln in lines if not ln.held_back for s in ln.sources}
    return ENV.get_template("chronology.html").render(
        flags=flags,
        anchors=anchors,
        **_base(links, viewer, f"Chronology of {person_title(person)}"),
        **_chronology_parts(links, person, lines, names, glossary),
        options=_options(person, lines, filters),
        filtered=is_filtered(filters),
        filter_words=_filter_words(filters, names),
        filters=filters,
        pid=person.person_id,
    )


def network_page(
    links: Links,
    viewer: Viewer,
    person: PersonSummary,
    g: nx.MultiDiGraph,
    *,
    radius: int,
    held: Sequence[ChronologyLine],
    names: Mapping[str, str],
    agency_names: Mapping[str, str],
) -> str:
    """The network page: the vis-network picture (data in a JSON block, drawn by
    network.js), its legend, and the same nodes and links as a table."""
    pid = person.person_id

    def person_name(ident: str, d: dict[str, Any]) -> str:
        return names.get(ident) or (str(d["name"]) if d.get("name") else "Unnamed person")

    pic = network.picture(g, pid, person_name=person_name, agency_names=dict(agency_names), held=held)
    return ENV.get_template("network.html").render(
        **_base(links, viewer, f"Network of {person_title(person)}"),
        person=person,
        name=person_title(person),
        pic=pic,
        radius=radius,
        pid=pid,
        max_drawn=network.MAX_DRAWN,
    )


def event_page(
    links: Links,
    viewer: Viewer,
    line: ChronologyLine,
    sources: Sequence[Mapping[str, Any]],
    history: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    person_id: str | None,
    glossary: Glossary | None = None,
) -> str:
    """Provenance of one chronology line: every source as the reader may see it, with
    lawful basis, grading, who may read it, the versions it replaced, and the agency
    terms their words use."""
    texts = [t for doc in sources for _, t in fragment_texts(doc)]
    terms = [TermShown(h.term, h.kind, plain_words(h)) for h in terms_used(texts, glossary)]
    return ENV.get_template("event.html").render(
        **_base(links, viewer, f"Provenance: {labels.words(line.kind)}, {line.when}"),
        line=line,
        terms=terms,
        sources=[_source_view(doc) for doc in sources],
        history={k: [_source_view(d) for d in v] for k, v in history.items()},
        pid=person_id,
    )


def _mention_name(doc: Mapping[str, Any], ref: str | None) -> str:
    if not ref:
        return ""
    for m in doc.get("people", ()):
        if m.get("ref") == ref:
            name = m.get("name")
            if isinstance(name, dict):
                full = name.get("full") or " ".join(str(name[k]) for k in ("given", "family") if name.get(k))
                if full:
                    return str(full)
            if isinstance(name, str) and name:
                return name
            return str(m.get("description") or labels.words(str(m.get("role", "someone"))))
    return ""


def _mention_words(m: Mapping[str, Any]) -> str:
    """One person as a record mentions them (already redacted by the view if protected)."""
    name = _mention_name({"people": [m]}, str(m.get("ref", "")))
    desc = m.get("description")
    text = f"{name} ({labels.words(str(m.get('role', 'person'))).lower()})"
    if desc and desc != name:
        text += f", described as: {desc}"
    if m.get("dob"):
        text += f", born {labels.uk_date(str(m['dob']))}"
    if m.get("identity_protected") and PROTECTED_LABEL not in text:
        text += "; identity protected: you are cleared to see it"
    return text


def _source_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One fragment as the provenance page shows it, codes in words."""
    agency = doc.get("agency", {}) if isinstance(doc.get("agency"), dict) else {}
    event = doc.get("event") or {}
    when = event.get("when") or {}
    statement = doc.get("statement") or {}
    sharing = doc.get("sharing") or {}
    markings = doc.get("markings") or {}
    grading = doc.get("grading") or None
    consent = sharing.get("consent") or {}
    kind = str(statement.get("kind", ""))
    stmt = labels.statement(kind)
    if kind == "opinion" and statement.get("whose"):
        stmt += f" — whose: {statement['whose']}"
    if kind in ("hearsay", "allegation") and statement.get("reported_by"):
        stmt += f" — reported by: {_mention_name(doc, statement.get('reported_by'))}"
    supersedes = doc.get("supersedes") or {}
    return {
        "id": doc.get("id", ""),
        "agency": agency.get("name") or labels.agency_from_id(str(agency.get("id", ""))),
        "agency_id": agency.get("id", ""),
        "record_ref": doc.get("record_ref", ""),
        "author_role": (doc.get("author") or {}).get("role", ""),
        "recorded_at": labels.uk_datetime(doc.get("recorded_at")),
        "shared_at": labels.uk_datetime(doc.get("shared_at")),
        "kind": labels.words(str(event.get("kind", ""))) if event else "",
        "when": when.get("text", "") if isinstance(when, dict) else "",
        "summary": event.get("summary", ""),
        "narrative": event.get("narrative", ""),
        "action_taken": event.get("action_taken", ""),
        "statement_kind": kind,
        "statement": stmt,
        "grading": None
        if not grading
        else [
            ("Source", labels.lookup(labels.GRADING_SOURCE, str(grading.get("source", "")))),
            ("Information", labels.lookup(labels.GRADING_INFORMATION, str(grading.get("information", "")))),
            ("Handling", labels.lookup(labels.GRADING_HANDLING, str(grading.get("handling", "")))),
        ],
        "lawful_basis": labels.lookup(labels.LAWFUL_BASIS, sharing.get("lawful_basis")),
        "consent": consent,
        "special": [labels.lookup(labels.SPECIAL_CATEGORY, c) for c in sharing.get("special_category") or ()],
        "condition": labels.lookup(labels.SPECIAL_CONDITION, sharing.get("special_category_condition")),
        "family_told": sharing.get("family_told"),
        "family_not_told_reason": sharing.get("family_not_told_reason", ""),
        "audience": labels.lookup(labels.AUDIENCE, markings.get("audience")),
        "named_agencies": [labels.agency_from_id(a) for a in markings.get("agencies") or ()],
        "handling": [labels.lookup(labels.HANDLING, h) for h in markings.get("handling") or ()],
        "concerns": [labels.concern(c) for c in doc.get("concerns") or ()],
        "significance": labels.SIGNIFICANCE.get(str(doc.get("significance", "")), ""),
        "people": [_mention_words(m) for m in doc.get("people") or () if isinstance(m, dict)],
        "supersedes_ref": supersedes.get("record_ref", ""),
        "supersedes_reason": supersedes.get("reason", ""),
        "retract": bool(doc.get("retract")),
        "held_back": bool(doc.get("held_back")),
        "ask": doc.get("ask", ""),
    }


def pack_page(
    links: Links,
    stamp: Stamp,
    person: PersonSummary,
    lines: Sequence[ChronologyLine],
    filters: ChronologyFilters,
    people: Sequence[tuple[str, str]],
    *,
    glossary: Glossary | None = None,
    waiting: Sequence[Unacknowledged] = (),
) -> str:
    """The meeting pack: exactly the reader's chronology page (same filters) and the people
    around the child, then the significant items not yet acknowledged by the agencies at
    the meeting and the terms used, on paper, every page stamped with who, when and why."""
    names = _agency_names(lines)
    return ENV.get_template("pack.html").render(
        **_base(links, stamp.viewer, f"Meeting pack: {person_title(person)}"),
        **_chronology_parts(links, person, lines, names, glossary),
        unacknowledged=waiting,
        stamp=stamp,
        filter_words=_filter_words(filters, names),
        people=people,
        pid=person.person_id,
    )


def pack_csv(
    stamp: Stamp,
    person: PersonSummary,
    lines: Sequence[ChronologyLine],
    filters: ChronologyFilters,
    *,
    glossary: Glossary | None = None,
) -> str:
    """The meeting pack as CSV: the stamp in the first rows, then the chronology as the API's
    CSV has it (UTF-8 with BOM, CRLF, formulas defused)."""
    import csv
    import io

    from graph.chronology import csv_rows

    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    names = _agency_names(lines)
    w.writerow(["Jigsaw meeting pack", person_title(person), person.person_id])
    w.writerow(["Prepared for", f"{stamp.viewer.name} ({stamp.viewer.reader_id}, {stamp.viewer.agency})"])
    w.writerow(
        ["At", stamp.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), labels.uk_datetime(stamp.at.isoformat())]
    )
    w.writerow(["Purpose", stamp.viewer.purpose])
    w.writerow(["Filters", "; ".join(_filter_words(filters, names)) or "none"])
    w.writerow(["Filter query", "&".join(f"{k}={v}" for k, v in filter_pairs(filters))])
    w.writerow([])
    for row in csv_rows(lines, lambda ln: terms_cell(ln, glossary)):
        w.writerow(row)
    return buf.getvalue()


def home_page(links: Links, viewer: Viewer, query: str, found: Sequence[PersonSummary] | None) -> str:
    return ENV.get_template("home.html").render(
        **_base(links, viewer, "Find a child"), query=query, found=found, person_title=person_title
    )


def sign_in_page(links: Links, *, message: str = "", next_url: str = "", purpose: str = "meeting") -> str:
    return ENV.get_template("sign_in.html").render(
        **_base(links, None, "Sign in"), message=message, next_url=next_url, purpose=purpose
    )


def error_page(links: Links, viewer: Viewer | None, status: int, title: str, detail: str, field: str | None) -> str:
    return ENV.get_template("error.html").render(
        **_base(links, viewer, title), status=status, heading=title, detail=detail, field=field
    )
