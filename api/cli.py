"""The ``jigsaw`` command line: set up a store, import what agencies shared, find people
and read a child's merged chronology.

Every command works on one store (a single SQLite file). Choose it with ``--store`` or
the JIGSAW_STORE environment variable; the default is ./jigsaw-data/jigsaw.sqlite.
Messages never print personal data except the chronology and search results that were
asked for.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from graph import audit
from graph.access import Clearance, Role
from graph.chronology import ChronologyFilters, ChronologyLine, to_csv
from graph.embedded import EmbeddedStore
from graph.errors import JigsawError
from graph.store import Store
from graph.view import ReaderView
from ingest.glossary import (
    Glossary,
    GlossaryError,
    TermHit,
    lines_terms,
    load_glossary,
    plain_words,
    term_dict,
    terms_cell,
)
from ingest.linkage import Linker
from ingest.pipeline import ImportSummary, import_files
from ingest.schema import Concern, Significance, StatementKind, fragment_json_schema

DEFAULT_STORE = Path("jigsaw-data") / "jigsaw.sqlite"

app = typer.Typer(
    name="jigsaw",
    help=(
        "Jigsaw puts together the pieces of information that police, health, schools, "
        "social care, early help and housing share about a child, so a multi-agency "
        "meeting sees one chronology, with the source of every line."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _store_path(store: Path | None) -> Path:
    if store is not None:
        return store
    env = os.environ.get("JIGSAW_STORE")
    return Path(env) if env else DEFAULT_STORE


StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="The store file. Default: $JIGSAW_STORE or ./jigsaw-data/jigsaw.sqlite."),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(code)


ReaderOpt = Annotated[
    str | None,
    typer.Option(
        "--as",
        envvar="JIGSAW_READER",
        help="Who is reading: a reader id (see `jigsaw readers list`). Default: $JIGSAW_READER.",
    ),
]
PurposeOpt = Annotated[
    str,
    typer.Option(
        "--purpose",
        envvar="JIGSAW_PURPOSE",
        help="Why: safeguarding, meeting, analysis, audit or administration. Written to the audit.",
    ),
]


def _view(s: Store, reader: str | None, purpose: str) -> ReaderView:
    if not reader:
        raise _fail("say who is reading: --as READER (or set JIGSAW_READER); see `jigsaw readers list`", 2)
    try:
        return s.view(reader, purpose)
    except JigsawError as exc:
        raise _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message, 2) from None


def matcher() -> Linker:
    """Entity resolution with the model in JIGSAW_LINKAGE_MODEL, or the shipped one."""
    path = os.environ.get("JIGSAW_LINKAGE_MODEL")
    try:
        return Linker.from_file(Path(path) if path else None)
    except (OSError, ValueError) as exc:
        raise _fail(f"JIGSAW_LINKAGE_MODEL: {exc}") from None


def _open(store: Path | None) -> EmbeddedStore:
    try:
        return EmbeddedStore.open(_store_path(store), matcher=matcher())
    except JigsawError as exc:
        raise _fail(exc.message) from None


def _open_configured(store: Path | None) -> Store:
    """The store this deployment uses, as the API opens it (``api.app.open_store``):
    Neo4j when JIGSAW_BACKEND=neo4j (NEO4J_URI and friends), else the embedded file."""
    from api.app import open_store
    from api.settings import Settings

    try:
        settings = Settings()
        if settings.backend != "neo4j":
            return _open(store)
        if store is not None:
            raise _fail("--store names an embedded store file, but JIGSAW_BACKEND=neo4j: leave it out", 2)
        return open_store(settings)
    except ValueError as exc:
        raise _fail(f"settings: {exc}", 2) from None
    except JigsawError as exc:
        raise _fail(exc.message) from None


@app.command()
def init(store: StoreOpt = None) -> None:
    """Create an empty store (does nothing to one that already exists)."""
    path = _store_path(store)
    existed = path.exists()
    try:
        EmbeddedStore.open(path, create=True).close()
    except JigsawError as exc:
        raise _fail(exc.message) from None
    out.print(f"{'Store already exists' if existed else 'Created store'}: {path}")


GlossaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--glossary",
        envvar="JIGSAW_GLOSSARY",
        help="Your own terms (TOML), merged over the shipped glossary. Default: $JIGSAW_GLOSSARY.",
    ),
]


def _glossary(path: Path | None) -> Glossary:
    try:
        return load_glossary(path)
    except (GlossaryError, OSError) as exc:
        raise _fail(f"glossary: {exc}", 2) from None


def _count_lines(paths: list[Path]) -> int:
    total = 0
    for p in paths:
        with p.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):  # type: ignore[misc]
                total += chunk.count(b"\n")
    return total


def _print_summary(summary: ImportSummary, rejects: Path | None) -> None:
    t = Table(title="Import summary", show_header=False)
    t.add_row("Accepted (new fragments)", str(summary.accepted))
    t.add_row("Already held (same agency and reference, same content)", str(summary.duplicate))
    t.add_row("Rejected", str(summary.rejected))
    if summary.not_written:
        t.add_row("Not imported (strict: the file had errors)", str(summary.not_written))
    out.print(t)
    for e in summary.errors[:20]:
        err.print(f"  {e}")
    if len(summary.errors) > 20:
        err.print(f"  … and {len(summary.errors) - 20} more")
    if summary.rejected and rejects:
        err.print(f"Rejected rows and their errors are in {rejects}")
    if summary.warnings:
        # warnings, not rejections: terms others may read differently, facts that read as opinion
        err.print(f"[bold yellow]{len(summary.warnings)} thing(s) to check[/] (imported; tell the authors):")
        for w in summary.warnings[:20]:
            err.print(f"  {escape(str(w))}")
        if len(summary.warnings) > 20:
            err.print(f"  … and {len(summary.warnings) - 20} more")


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="JSON Lines (.jsonl) fragment files or CSV chronology exports.")],
    store: StoreOpt = None,
    strict: Annotated[bool, typer.Option(help="Import each file whole or not at all.")] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where to write rejected rows with their errors. Default: rejects.jsonl beside the store."),
    ] = None,
    lawful_basis: Annotated[
        str | None, typer.Option(help="For CSV exports without a 'lawful basis' column: the basis for every row.")
    ] = None,
    statement_kind: Annotated[
        str | None,
        typer.Option(help="For CSV exports without a 'statement kind' column: fact, opinion, hearsay or allegation."),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            help="Markings for rows that carry none: case_team, safeguarding_leads, originating_agency or "
            "named_agencies."
        ),
    ] = None,
    named_agency: Annotated[
        list[str] | None, typer.Option(help="With --audience named_agencies: an agency id (repeatable).")
    ] = None,
    hide_existence: Annotated[
        bool, typer.Option("--hide-existence", help="Others may not even know these records exist.")
    ] = False,
    do_not_tell_family: Annotated[
        bool, typer.Option("--do-not-tell-family", help="Handling: telling the family would increase risk.")
    ] = False,
    by: Annotated[str, typer.Option("--by", help="Who is importing (written to the audit).")] = "import",
    glossary: GlossaryOpt = None,
) -> None:
    """Import fragments from files. Good rows go in; bad rows are listed with the reason;
    terms that may be read differently and facts that read as opinion are listed to check.

    Importing the same file again changes nothing. A different record under a reference
    the agency already used is refused, not overwritten.
    """
    for f in files:
        if not f.exists():
            raise _fail(f"{f}: no such file")
    terms = _glossary(glossary)
    s = _open(store)
    rejects_path = rejects or _store_path(store).parent / "rejects.jsonl"
    defaults = {k: v for k, v in (("lawful basis", lawful_basis), ("statement kind", statement_kind)) if v}
    markings: dict[str, Any] | None = None
    if audience or named_agency or hide_existence or do_not_tell_family:
        markings = {"audience": audience or "case_team", "existence_visible": not hide_existence}
        if named_agency:
            markings["agencies"] = named_agency
        if do_not_tell_family:
            markings["handling"] = ["do_not_tell_family"]
    try:
        # counting lines reads every file once more: only worth it when a bar is shown
        total = _count_lines(files) if err.is_terminal else 0
        with Progress(
            TextColumn("Importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=total < 5_000,
            transient=True,
        ) as bar:
            task = bar.add_task("import", total=total)
            summary = import_files(
                s,
                files,
                strict=strict,
                rejects_path=rejects_path,
                progress=lambda n: bar.advance(task, n),
                csv_defaults=defaults,
                markings=markings,
                actor=by,
                glossary=terms,
            )
    except JigsawError as exc:
        raise _fail(exc.message) from None
    finally:
        s.close()
    _print_summary(summary, rejects_path)
    if summary.rejected:
        raise typer.Exit(1)


@app.command()
def people(
    query: Annotated[str, typer.Argument(help="A name (any of its words) or an identifier such as an NHS number.")],
    store: StoreOpt = None,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Find people by name or identifier, among those you may see."""
    s = _open(store)
    try:
        v = _view(s, reader, purpose)
        found = v.find_people(query)
        kind = "identifier" if sum(c.isdigit() for c in query) >= 6 else "name"
        s.audit_read(v, "read.search", {"query_kind": kind, "people": [p.person_id for p in found]})
    finally:
        s.close()
    if as_json:
        print(json.dumps([asdict(p) for p in found], indent=2))
        return
    if not found:
        out.print("Nobody found.")
        raise typer.Exit(1)
    t = Table("Person", "Names", "Date of birth", "Identifiers", "Events", "Agencies")
    for p in found:
        t.add_row(
            p.person_id,
            "; ".join(p.names or p.descriptions),
            "; ".join(_uk(d) for d in p.dobs),
            "; ".join(
                f"{i['scheme'].upper()} {i['value']}{'' if i['verified'] else ' (unverified)'}" for i in p.identifiers
            ),
            str(p.events),
            ", ".join(p.agencies),
        )
    out.print(t)


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _uk(iso: str) -> str:
    d = date.fromisoformat(iso)
    return d.strftime("%d/%m/%Y")


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _resolve_person(v: ReaderView, person: str) -> str:
    if person.startswith("P") and "-" in person:
        return person
    found = v.find_people(person)
    if len(found) == 1:
        return found[0].person_id
    if not found:
        raise _fail(f"nobody found for {person!r}; try `jigsaw people`")
    listing = ", ".join(f"{p.person_id} ({'; '.join(p.names)})" for p in found[:10])
    raise _fail(f"{len(found)} people match; give one id: {listing}", 2)


def chronology_audit(person_id: str, lines: list[ChronologyLine]) -> dict[str, object]:
    """What a chronology read puts in the audit: the person and fragment ids shown."""
    return {
        "people": [person_id],
        "fragments": sorted({src.fragment_id for ln in lines for src in ln.sources}),
        "held_back": sum(1 for ln in lines if ln.held_back),
    }


def print_terms(hits: list[TermHit]) -> None:
    """The agency terms a chronology uses, in plain words (escaped: never markup)."""
    if not hits:
        return
    t = Table(title="Terms used", show_lines=False, expand=True)
    t.add_column("Term")
    t.add_column("Meaning")
    for h in hits:
        mark = {"ambiguous": " (check which)", "unknown": " (not in the glossary)"}.get(h.kind, "")
        t.add_row(escape(h.term + mark), escape(plain_words(h)))
    out.print(t)


def print_chronology(lines: list[ChronologyLine], title: str) -> None:
    """A chronology as a terminal table. Cell text is escaped: a record is never markup."""
    t = Table(title=escape(title), show_lines=True, expand=True)
    for col in ("When", "What happened", "Who", "Agency (author)", "Statement", "Significance", "Concerns", "Sources"):
        t.add_column(col)
    for ln in lines:
        who = "\n".join(f"{p.name} ({', '.join(r.replace('_', ' ') for r in p.roles)})" for p in ln.people)
        agencies = "\n".join(f"{s.agency_name} ({s.author_role})" for s in ln.sources)
        marks = [m for m, on in (("corroborated", ln.corroborated), ("corrected", ln.corrected)) if on]
        marks += sorted({h.replace("_", " ").upper() for s in ln.sources for h in s.handling})
        kind = ", ".join(ln.statements) + "".join(f"\n({m})" for m in marks)
        srcs = "\n".join(s.fragment_id for s in ln.sources)
        if ln.held_back:
            agencies, kind, srcs = ", ".join(ln.agencies), "held back", ln.held_back
        cells = (
            ln.when,
            ln.summary,
            who,
            agencies,
            kind,
            ln.significance,
            ", ".join(ln.concerns).replace("_", " "),
            srcs,
        )
        t.add_row(*(escape(c) for c in cells))
    out.print(t)


@app.command()
def chronology(
    person: Annotated[str, typer.Argument(help="A person id (e.g. P3) or a name that finds exactly one person.")],
    store: StoreOpt = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="Only events on or after this date (YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Only events on or before this date (YYYY-MM-DD).")
    ] = None,
    agency: Annotated[list[str] | None, typer.Option(help="Only this agency's records (repeat for several).")] = None,
    concern: Annotated[list[Concern] | None, typer.Option(help="Only records with this concern (repeatable).")] = None,
    significance: Annotated[
        list[Significance] | None, typer.Option(help="Only this significance (repeatable).")
    ] = None,
    statement: Annotated[
        list[StatementKind] | None, typer.Option(help="Only fact, opinion, hearsay or allegation (repeatable).")
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of the screen.")
    ] = None,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    glossary: GlossaryOpt = None,
) -> None:
    """Show one person's merged chronology as you may see it: every event in date order,
    with its sources, and records held back shown as whom to ask; the agency terms it
    uses follow, in plain words."""
    g = _glossary(glossary)
    try:
        filters = ChronologyFilters(
            date_from=date.fromisoformat(date_from) if date_from else None,
            date_to=date.fromisoformat(date_to) if date_to else None,
            agencies=frozenset(agency or ()),
            concerns=frozenset(c.value for c in concern or ()),
            significance=frozenset(x.value for x in significance or ()),
            statements=frozenset(x.value for x in statement or ()),
        )
    except ValueError:
        raise _fail("--from and --to take dates written YYYY-MM-DD", 2) from None
    s = _open(store)
    try:
        v = _view(s, reader, purpose)
        pid = _resolve_person(v, person)
        summary = v.person(pid)
        if summary is None:
            raise _fail(f"no person {pid} that you may see")
        lines = v.chronology(pid, filters)
        action = "disclosure.export" if output is not None or fmt == OutputFormat.csv else "read.chronology"
        s.audit_read(v, action, chronology_audit(pid, lines))
    finally:
        s.close()
    if fmt == OutputFormat.table and output is None:
        name = "; ".join(summary.names[:2] or summary.descriptions[:1])
        print_chronology(lines, f"Chronology of {name} ({pid}): {_events(len(lines))}")
        print_terms(lines_terms(lines, g))
        return
    doc = {
        "person": asdict(summary),
        "lines": [ln.as_dict() for ln in lines],
        "terms": [term_dict(h) for h in lines_terms(lines, g)],
    }
    text = (
        json.dumps(doc, indent=2, ensure_ascii=False)
        if fmt != OutputFormat.csv
        else to_csv(lines, lambda ln: terms_cell(ln, g))
    )
    if output:
        output.write_text(text, encoding="utf-8", newline="")
        out.print(f"Wrote {len(lines)} lines to {output}")
    else:
        sys.stdout.write(text)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a fragment (what an agency sends)."""
    print(json.dumps(fragment_json_schema(), indent=2))


def demo_files() -> list[Path]:
    """The demo data shipped with Jigsaw, in import order."""
    folder = resources.files("ingest") / "demo_data"
    return sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith((".jsonl", ".csv")))


DEMO_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


DEMO_STORE = Path("jigsaw-demo") / "demo.sqlite"
DEMO_SOCIAL_WORKER = "sw-northshire-118"
DEMO_SCHOOL_DSL = "dsl-hollybank"
# (reader id, agency, roles, clearances, on the Walsh children's cases, who they are)
_DEMO_ACCESS: list[tuple[str, str, list[str], list[str], bool, str]] = [
    (
        DEMO_SOCIAL_WORKER,
        "northshire-csws",
        ["social_worker"],
        ["special_category", "criminal_offence", "protected_identities"],
        True,
        "allocated social worker",
    ),
    (DEMO_SCHOOL_DSL, "hollybank-primary-school", ["designated_safeguarding_lead"], [], True, "school DSL"),
    ("pc-northshire-2291", "northshire-police", ["police_officer"], ["criminal_offence"], True, "police officer"),
    (
        "gp-millbrook-lead",
        "millbrook-surgery",
        ["health_professional", "designated_safeguarding_lead"],
        ["special_category"],
        True,
        "GP safeguarding lead",
    ),
    ("analyst-partnership", "northshire-safeguarding-partnership", ["analyst"], [], False, "analyst, no case"),
    ("officer-housing-7", "northshire-housing", ["practitioner"], [], False, "housing, not involved"),
]
DEMO_READERS = [(rid, what) for rid, _, _, _, _, what in _DEMO_ACCESS]
# staff who see no case content: for the HTTP API's administration and audit routes
_DEMO_STAFF: list[tuple[str, str, list[str], str]] = [
    ("admin-partnership", "northshire-safeguarding-partnership", ["administrator"], "administrator"),
    ("dpo-northshire", "northshire-csws", ["data_protection_officer"], "data protection officer"),
]


def setup_demo_access(s: Store) -> None:
    """Readers and cases for the demo: the Walsh children's cases and six readers."""
    system = s.system_view()  # the administrator finding the children to open their cases
    children = []
    for name, dob in (("Mia Walsh", "2019-03-14"), ("Noah Walsh", "2021-07-02")):
        (child,) = [p for p in system.find_people(name) if dob in p.dobs]
        children.append(child.person_id)
    for i, pid in enumerate(children):
        s.open_case("demo", f"NCS-WALSH-{i + 1}", pid)
    for rid, agency, roles, clearances, member, what in _DEMO_ACCESS:
        s.put_reader("demo", reader_id=rid, agency=agency, roles=roles, clearances=clearances, display_name=what)
        if member:
            for i in range(len(children)):
                s.set_membership("demo", f"NCS-WALSH-{i + 1}", rid, True)
    for rid, agency, roles, what in _DEMO_STAFF:
        s.put_reader("demo", reader_id=rid, agency=agency, roles=roles, display_name=what)


def build_demo(path: Path) -> ImportSummary:
    """A fresh demo store at ``path``: the demo families imported, readers and cases set up."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    s = EmbeddedStore.open(path, create=True, matcher=matcher())
    try:
        summary = import_files(s, demo_files(), now=DEMO_NOW, rejects_path=path.parent / "demo-rejects.jsonl")
        if summary.rejected:
            for e in summary.errors:
                err.print(f"  {e}")
            raise _fail("the demo data did not import cleanly")
        setup_demo_access(s)
    finally:
        s.close()
    return summary


@app.command()
def demo(
    store: Annotated[
        Path | None,
        typer.Option(
            "--store", help="Where to build the demo store. Default: ./jigsaw-demo/demo.sqlite, rebuilt each time."
        ),
    ] = None,
) -> None:
    """Build a fresh store from the demo families and show the 7-year-old's chronology.

    The demo is the worked scenario in the guidance: a family support worker finds two
    children home alone; six months earlier an anonymous "home alone" call was closed as
    malicious. Each agency held one piece.
    """
    path = store or DEMO_STORE
    if path.exists() and store is not None:
        raise _fail(f"{path} already exists; the demo builds a fresh store, so pick a new path")
    summary = build_demo(path)
    out.print(
        f"Imported {summary.accepted} fragments from {len(summary.files)} files "
        f"({summary.rejected} rejected) into {path}"
    )
    s = EmbeddedStore.open(path, matcher=matcher())
    try:
        v = s.view(DEMO_SOCIAL_WORKER, "safeguarding")
        found = [p for p in v.find_people("Mia Walsh") if "2019-03-14" in p.dobs]
        if not found:
            raise _fail("the demo child was not found")
        pid = found[0].person_id
        lines = v.chronology(pid)
        s.audit_read(v, "read.chronology", chronology_audit(pid, lines))
        side = []
        for rid, what in DEMO_READERS:
            rv = s.view(rid, "safeguarding")
            seen = []
            for name, dob in (("Mia Walsh", "2019-03-14"), ("Noah Walsh", "2021-07-02")):
                mine = [p for p in rv.find_people(name) if dob in p.dobs]
                s.audit_read(rv, "read.search", {"query_kind": "name", "people": [p.person_id for p in mine]})
                their = rv.chronology(mine[0].person_id) if mine else []
                if mine:
                    s.audit_read(rv, "read.chronology", chronology_audit(mine[0].person_id, their))
                seen.append(their)
            side.append((rid, what, seen))
    finally:
        s.close()
    print_chronology(
        lines,
        f"Merged chronology of Mia Walsh, 7 ({pid}), as the allocated social worker sees it: "
        f"{_events(len(lines))} from {len(found[0].agencies)} agencies",
    )
    t = Table(title="The same children, as each reader may see them", expand=True)
    for col in ("Reader", "Who they are", "Mia: lines (held back)", "Noah: lines (held back)", "Protected people"):
        t.add_column(col)
    for rid, what, seen in side:
        counts = [f"{sum(1 for ln in c if not ln.held_back)} ({sum(1 for ln in c if ln.held_back)})" for c in seen]
        protected = sorted({pp.name for c in seen for ln in c for pp in ln.people if "identity protected" in pp.name})
        t.add_row(rid, what, *counts, escape("; ".join(protected) or ("named" if any(seen) else "-")))
    out.print(t)
    out.print(
        "Read it top to bottom: the earlier 'home alone' call, closed as malicious, stands next to today's finding.\n"
        f"Next: jigsaw people Walsh --as {DEMO_SOCIAL_WORKER} --store {path}\n"
        f"      jigsaw chronology {pid} --as {DEMO_SCHOOL_DSL} --store {path}\n"
        f"      jigsaw audit verify --store {path}"
    )


def demo_tokens(s: Store, hours: int = 12) -> list[tuple[str, str, str]]:
    """A fresh token for each demo reader and member of staff: (reader id, who they are, token)."""
    expires = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    rows = []
    for rid, what in [*DEMO_READERS, *((r, w) for r, _, _, w in _DEMO_STAFF)]:
        _, token = s.issue_token("demo", rid, expires)
        rows.append((rid, what, token))
    return rows


def _print_demo_tokens(rows: list[tuple[str, str, str]]) -> None:
    # plain lines, never wrapped or cut, so a token can be copied whole
    print("Demo tokens, one per reader (valid 12 hours; synthetic data only):")
    for rid, what, token in rows:
        print(f"  {rid:<21} {what:<25} {token}")


@app.command("demo-load")
def demo_load(
    store: StoreOpt = None,
    tokens_only: Annotated[
        bool,
        typer.Option("--tokens-only", help="Only issue fresh tokens for the demo readers (the demo is loaded)."),
    ] = False,
) -> None:
    """Load the demo families into the store the API uses (JIGSAW_BACKEND: embedded or neo4j) and print tokens.

    For a deployment started with `docker compose up`: `docker compose run --rm api jigsaw demo-load`.
    It fills an empty store only, so demo records can never mix with real ones.
    """
    from api.app import open_store
    from api.settings import Settings

    if store is not None:
        os.environ["JIGSAW_STORE"] = str(store)
    try:
        settings = Settings()
    except ValueError as exc:
        raise _fail(f"settings: {exc}") from None
    if settings.backend == "embedded" and not settings.store.exists():
        raise _fail(f"no Jigsaw store at {settings.store}; run `jigsaw init` first")
    try:
        s = open_store(settings)
    except JigsawError as exc:
        raise _fail(exc.message) from None
    try:
        if not tokens_only:
            held = s.fragment_count()
            if held:
                raise _fail(
                    f"the store already holds {held} fragments; demo-load fills an empty store only. "
                    "Fresh tokens for a demo loaded earlier: jigsaw demo-load --tokens-only",
                    2,
                )
            summary = import_files(s, demo_files(), now=DEMO_NOW)
            if summary.rejected:
                for e in summary.errors:
                    err.print(f"  {e}")
                raise _fail("the demo data did not import cleanly")
            setup_demo_access(s)
            err.print(f"Demo loaded: {summary.accepted} fragments from {len(summary.files)} files ({settings.backend})")
        rows = demo_tokens(s)
    except JigsawError as exc:
        raise _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message, 2) from None
    finally:
        s.close()
    _print_demo_tokens(rows)


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on. Default: $JIGSAW_HOST or 127.0.0.1 (this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port. Default: $JIGSAW_PORT or 8000.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes sharing the store.")] = 1,
    with_demo: Annotated[
        bool,
        typer.Option("--demo", help="Serve a fresh demo store (./jigsaw-demo/demo.sqlite) and print demo tokens."),
    ] = False,
) -> None:
    """Run the HTTP API (docs at /docs). Settings come from JIGSAW_* variables and .env."""
    import logging

    import uvicorn

    from api.settings import Settings

    if with_demo:
        path = store or DEMO_STORE
        summary = build_demo(path)
        err.print(f"Demo store: {summary.accepted} fragments from {len(summary.files)} files in {path}")
        os.environ["JIGSAW_STORE"] = str(path)
        os.environ["JIGSAW_BACKEND"] = "embedded"  # the demo store is a file, whatever the deployment's backend
    elif store is not None:
        os.environ["JIGSAW_STORE"] = str(store)
    if host is not None:
        os.environ["JIGSAW_HOST"] = host
    if port is not None:
        os.environ["JIGSAW_PORT"] = str(port)
    try:
        settings = Settings()
    except ValueError as exc:
        raise _fail(f"settings: {exc}") from None
    if settings.backend == "embedded" and not settings.store.exists():
        raise _fail(f"no Jigsaw store at {settings.store}; run `jigsaw init` (or `jigsaw serve --demo`)")
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"
    if with_demo:
        s = EmbeddedStore.open(settings.store, matcher=matcher())
        try:
            rows = demo_tokens(s)
        finally:
            s.close()
        _print_demo_tokens(rows)
    if settings.host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            f"[bold yellow]Listening on {settings.host}:[/] anyone who can reach this machine on port "
            f"{settings.port} can reach the API. Put it behind TLS (a reverse proxy) and a firewall; "
            "see docs/deploying.md."
        )
    out.print(
        f"Jigsaw API at {base}  —  try it in the browser: {base}/docs\n"
        f'  curl -H "Authorization: Bearer <token>" -H "X-Jigsaw-Purpose: safeguarding" "{base}/people?q=Walsh"'
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        access_log=False,  # uvicorn's access log writes query strings (names); ours writes route templates
        log_level="info",
    )


# ---------------------------------------------------------------------- administration

readers_app = typer.Typer(help="Readers: who may use Jigsaw, their agency, roles, clearances and cases.")
cases_app = typer.Typer(help="Children's cases and who works on them.")
tokens_app = typer.Typer(help="Access tokens for the HTTP API (only a hash is stored).")
audit_app = typer.Typer(help="The audit trail: verify it, checkpoint it, ask who saw what.")
app.add_typer(readers_app, name="readers")
app.add_typer(cases_app, name="cases")
app.add_typer(tokens_app, name="tokens")
app.add_typer(audit_app, name="audit")

ByOpt = Annotated[str, typer.Option("--by", help="Who is making the change (written to the audit).")]


def _admin(store: Path | None) -> EmbeddedStore:
    return _open(store)


def _store_call(s: Store, fn: Callable[[], Any]) -> Any:
    """Run one store operation, turning its errors into a message naming the field."""
    try:
        return fn()
    except JigsawError as exc:
        raise _fail(f"{exc.field}: {exc.message}" if exc.field else exc.message, 2) from None
    finally:
        s.close()


@readers_app.command("add")
def readers_add(
    reader_id: Annotated[str, typer.Argument(help="A short id for the reader, e.g. sw-northshire-118.")],
    agency: Annotated[str, typer.Option(help="The agency id they work for, as fragments name it.")],
    role: Annotated[list[Role], typer.Option(help="A role (repeat for several).")],
    clearance: Annotated[list[Clearance] | None, typer.Option(help="A clearance (repeatable).")] = None,
    name: Annotated[str, typer.Option(help="How to show them (a job title is enough).")] = "",
    inactive: Annotated[bool, typer.Option("--inactive", help="Add or set the reader as not active.")] = False,
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Add a reader, or change one (the change takes effect on their next request)."""
    s = _admin(store)
    r = _store_call(
        s,
        lambda: s.put_reader(
            by,
            reader_id=reader_id,
            agency=agency,
            roles=[x.value for x in role],
            clearances=[c.value for c in clearance or ()],
            display_name=name,
            active=not inactive,
        ),
    )
    out.print(f"Reader {r.id} ({r.agency}): {', '.join(sorted(r.roles))}; active: {'yes' if r.active else 'no'}")


@readers_app.command("deactivate")
def readers_deactivate(reader_id: str, by: ByOpt = "administrator", store: StoreOpt = None) -> None:
    """Stop a reader seeing anything, from their next request."""
    s = _admin(store)
    _store_call(s, lambda: s.set_reader_active(by, reader_id, False))
    out.print(f"Reader {reader_id} can no longer see anything.")


@readers_app.command("list")
def readers_list(store: StoreOpt = None) -> None:
    """Every reader with their agency, roles, clearances and cases."""
    s = _admin(store)
    rs = _store_call(s, s.list_readers)
    t = Table("Reader", "Agency", "Roles", "Clearances", "Cases", "Active")
    for r in rs:
        t.add_row(
            r.id,
            r.agency,
            ", ".join(sorted(r.roles)),
            ", ".join(sorted(r.clearances)),
            ", ".join(sorted(r.cases)),
            "yes" if r.active else "no",
        )
    out.print(t)


@cases_app.command("open")
def cases_open(
    case_id: Annotated[str, typer.Argument(help="The case's id, e.g. the social care case number.")],
    person: Annotated[str, typer.Argument(help="The child's person id (from `jigsaw people`).")],
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Open a child's case: readers who are members see what is shared with the case team."""
    s = _admin(store)
    _store_call(s, lambda: s.open_case(by, case_id, person))
    out.print(f"Case {case_id} opened.")


@cases_app.command("add-member")
def cases_add_member(case_id: str, reader_id: str, by: ByOpt = "administrator", store: StoreOpt = None) -> None:
    """Put a reader on a child's case."""
    s = _admin(store)
    _store_call(s, lambda: s.set_membership(by, case_id, reader_id, True))
    out.print(f"{reader_id} now works on case {case_id}.")


@cases_app.command("remove-member")
def cases_remove_member(case_id: str, reader_id: str, by: ByOpt = "administrator", store: StoreOpt = None) -> None:
    """Take a reader off a child's case (effective on their next request)."""
    s = _admin(store)
    _store_call(s, lambda: s.set_membership(by, case_id, reader_id, False))
    out.print(f"{reader_id} no longer works on case {case_id}.")


@tokens_app.command("issue")
def tokens_issue(
    reader_id: str,
    expires: Annotated[str | None, typer.Option(help="Expiry, an ISO date-time with its zone.")] = None,
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Issue a bearer token for a reader. It is shown once; only its hash is kept."""
    s = _admin(store)
    tid, token = _store_call(s, lambda: s.issue_token(by, reader_id, expires))
    out.print(f"Token {tid} for {reader_id} (shown once, keep it safe):")
    print(token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str, by: ByOpt = "administrator", store: StoreOpt = None) -> None:
    """Revoke a token: it stops working on the next request."""
    s = _admin(store)
    _store_call(s, lambda: s.revoke_token(by, token_id))
    out.print(f"Token {token_id} revoked.")


def _public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise _fail("--public-key: not an Ed25519 public key", 2)
    return key


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        Path | None, typer.Option(help="The checkpoint signing key's public half (PEM) to check signatures.")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="Checkpoints exported earlier (JSON lines): proves nothing was cut since."),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Check the whole audit chain; report the first broken link."""
    s = _admin(store)
    try:
        key = _public_key(public_key) if public_key else None
        exported = [json.loads(x) for x in checkpoints.read_text().splitlines() if x.strip()] if checkpoints else []
        report = s.audit_verify(key, exported)
    finally:
        s.close()
    if report.ok:
        out.print(f"Audit trail intact: {report.checked} entries verified.")
        return
    raise _fail(f"audit trail broken at entry {report.first_broken}: {report.reason}")


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Path, typer.Option(help="Ed25519 private key (PEM); created with mode 0600 if missing.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the checkpoints here.")] = None,
    store: StoreOpt = None,
) -> None:
    """Sign the audit chain's head, so another system can later prove nothing was cut."""
    private = audit.load_private_key(key) if key.exists() else audit.generate_key(key)
    s = _admin(store)
    try:
        with s.transaction() as conn:
            cp = audit.checkpoint(conn, private, at=s.clock())
            exported = audit.export_checkpoints(conn)
    finally:
        s.close()
    out.print(f"Checkpoint at entry {cp.seq} signed by key {cp.key_id}.")
    if output:
        output.write_text("".join(json.dumps(c) + "\n" for c in exported), encoding="utf-8")
        out.print(f"Wrote {len(exported)} checkpoints to {output}")


@audit_app.command("who-saw")
def audit_who_saw(
    person: Annotated[str, typer.Argument(help="A person id: whose record was read, disclosed or exported.")],
    store: StoreOpt = None,
) -> None:
    """Who saw this person's record, when and why (for a subject access request)."""
    s = _admin(store)
    try:
        found = s.who_saw(person)
    except JigsawError as exc:
        raise _fail(exc.message) from None
    finally:
        s.close()
    t = Table("When", "Who", "What", "Purpose", "Fragments")
    for e in found:
        t.add_row(e.at, e.actor, e.action, e.purpose or "", str(len(e.detail.get("fragments", []))))
    out.print(t)


@audit_app.command("disclosures")
def audit_disclosures(
    person: Annotated[str | None, typer.Argument(help="Only what concerned this person id.")] = None,
    store: StoreOpt = None,
) -> None:
    """What was disclosed to whom: exports and share decisions, with who and why."""
    s = _admin(store)
    try:
        found = s.disclosures(person)
    except JigsawError as exc:
        raise _fail(exc.message) from None
    finally:
        s.close()
    t = Table("When", "Who", "What", "Purpose", "To agency", "Outcome", "Fragments")
    for e in found:
        d = e.detail
        t.add_row(
            e.at,
            e.actor,
            e.action,
            e.purpose or "",
            str(d.get("to_agency", "")),
            str(d.get("outcome", "")),
            str(len(d.get("fragments", []))),
        )
    out.print(t)


share_app = typer.Typer(help="Requests for information and decisions to share or not (golden rule 7).")
retention_app = typer.Typer(help="Retention reviews and erasure.")
app.add_typer(share_app, name="share")
app.add_typer(retention_app, name="retention")


@share_app.command("request")
def share_request(
    holder: Annotated[str, typer.Option(help="The agency asked (its id).")],
    person: Annotated[str, typer.Option(help="The child's person id, as you know them.")],
    need: Annotated[str, typer.Option(help="What you need to know, and why, in words.")],
    urgency: Annotated[str, typer.Option(help="immediate, within_24_hours or routine.")] = "routine",
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Ask another agency for information they hold about a child."""
    if not reader:
        raise _fail("say who is asking: --as READER", 2)
    s = _open(store)
    req = _store_call(
        s,
        lambda: s.request_share(
            reader, holder_agency=holder, person_id=person, purpose=purpose, need=need, urgency=urgency
        ),
    )
    out.print(f"Request {req.id} sent to {holder} ({urgency}).")


@share_app.command("decide")
def share_decide(
    request_id: str,
    outcome: Annotated[str, typer.Option(help="share_in_full, share_in_part or do_not_share.")],
    necessity: Annotated[str, typer.Option(help="Why sharing is (or is not) necessary.")],
    proportionality: Annotated[str, typer.Option(help="Why what is released is (or is not) proportionate.")],
    lawful_basis: Annotated[str, typer.Option(help="The lawful basis, e.g. public_task.")],
    fragment: Annotated[list[str] | None, typer.Option(help="A fragment id released (repeatable).")] = None,
    special_condition: Annotated[str | None, typer.Option(help="The special-category condition, if any.")] = None,
    family_told: Annotated[bool, typer.Option("--family-told/--family-not-told")] = True,
    why_not_told: Annotated[str | None, typer.Option(help="Why the family was not told.")] = None,
    expires: Annotated[str | None, typer.Option(help="When access ends (ISO date-time, UTC).")] = None,
    reconsiders: Annotated[str | None, typer.Option(help="The earlier decision this one replaces.")] = None,
    reader: ReaderOpt = None,
    store: StoreOpt = None,
) -> None:
    """Decide on a request: share in full, in part, or not, with reasons."""
    if not reader:
        raise _fail("say who is deciding: --as READER", 2)
    s = _open(store)
    dec = _store_call(
        s,
        lambda: s.decide_share(
            reader,
            request_id,
            outcome=outcome,
            necessity=necessity,
            proportionality=proportionality,
            lawful_basis=lawful_basis,
            released=fragment or (),
            special_condition=special_condition,
            family_told=family_told,
            family_not_told_reason=why_not_told,
            expires_at=expires,
            reconsiders=reconsiders,
        ),
    )
    out.print(f"Decision {dec.id}: {dec.outcome.replace('_', ' ')}; {len(dec.released)} fragments released.")


@share_app.command("list")
def share_list(request_id: Annotated[str | None, typer.Argument()] = None, store: StoreOpt = None) -> None:
    """Decisions with their reasons (all, or one request's)."""
    s = _open(store)
    found = _store_call(s, lambda: s.share_records(request_id))
    t = Table("Decision", "Request", "When", "By", "Outcome", "Released", "Family told", "Reconsiders")
    for d in found:
        t.add_row(
            d.id,
            d.request_id,
            d.at,
            d.decided_by,
            d.outcome,
            str(len(d.released)),
            "yes" if d.family_told else "no",
            d.reconsiders or "",
        )
    out.print(t)


@retention_app.command("due")
def retention_due(
    on: Annotated[str, typer.Option(help="List what is due for review on this day (YYYY-MM-DD).")],
    store: StoreOpt = None,
) -> None:
    """Records due for a retention review."""
    s = _open_configured(store)
    rows = _store_call(s, lambda: s.retention_due(on))
    t = Table("Fragment", "Agency", "Class", "Review on")
    for r in rows:
        t.add_row(*r)
    out.print(t)


@app.command()
def erase(
    fragment_id: str,
    authority: Annotated[str, typer.Option(help="retention_review, court_order or data_subject_request.")],
    reason: Annotated[str, typer.Option(help="A short line: the decision or order.")],
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Erase a record's content (every version); a tombstone and an audit entry remain."""
    s = _open_configured(store)
    erased = _store_call(s, lambda: s.erase(fragment_id, authority=authority, reason=reason, by=by))
    out.print(f"Erased {len(erased)} version(s); the audit records it.")


def main() -> None:
    app()


resolve_app = typer.Typer(help="Entity resolution: the review queue, decisions and their undoing, the model.")
app.add_typer(resolve_app, name="resolve")


def _mention_line(m: dict[str, Any]) -> dict[str, str]:
    name = m.get("name") or {}
    ids = ", ".join(
        f"{i['scheme']} {i['value']}{'' if i.get('verified') else ' (unverified)'}" for i in m.get("identifiers", ())
    )
    addr = "; ".join(" ".join(x for x in (a.get("text"), a.get("postcode")) if x) for a in m.get("addresses", ()))
    return {
        "name": name.get("full") or " ".join(x for x in (name.get("given"), name.get("family")) if x) or "",
        "description": m.get("description") or "",
        "role": m.get("role", ""),
        "date of birth": m.get("dob") or "",
        "sex": m.get("sex") or "",
        "identifiers": ids,
        "address": addr,
    }


@resolve_app.command("queue")
def resolve_queue(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many pairs to show.")] = 20,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Pairs the model could not decide on, best first, with the evidence side by side
    (only pairs of records the reviewer may see)."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        items = _store_call(s, lambda: s.review_queue(v, limit))
        if not items:
            out.print("The review queue is empty.")
            return
        for n, it in enumerate(items, 1):
            t = Table(title=f"{n}. match probability {it.evidence.probability:.3f} (weight {it.evidence.weight:+.1f})")
            t.add_column("")
            t.add_column(f"{it.a.mention_id}\n{it.a.agency} {it.a.record_ref}")
            t.add_column(f"{it.b.mention_id}\n{it.b.agency} {it.b.record_ref}")
            a, b = _mention_line(it.a.mention), _mention_line(it.b.mention)
            for k in a:
                if a[k] or b[k]:
                    t.add_row(k, escape(a[k]), escape(b[k]))
            t.add_row(
                "evidence",
                escape(", ".join(f"{f.comparison} {f.level} {f.weight:+.1f}" for f in it.evidence.fields)),
                "",
            )
            for words in it.evidence.context:
                t.add_row("context", escape(words), "")
            out.print(t)
        out.print(
            "Decide with `jigsaw resolve decide join|apart A B --reason ...`; undo with `jigsaw resolve undo ID`."
        )
    finally:
        s.close()


class DecisionKind(StrEnum):
    one_person = "join"
    not_one_person = "apart"


@resolve_app.command("decide")
def resolve_decide(
    kind: DecisionKind,
    a: Annotated[str, typer.Argument(help="One mention, P<fragment>-<n> as the queue shows it.")],
    b: Annotated[str, typer.Argument(help="The other mention.")],
    reason: Annotated[str, typer.Option(help="Why: recorded with the decision.")],
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Record that two mentions are one person (join) or are not (apart: also splits an
    automatic join). The people, chronologies and networks follow at once."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        d = _store_call(s, lambda: s.decide(v, kind.value, a, b, reason))
        out.print(
            f"Decision {d.id}: {a} and {b} {'are one person' if kind is DecisionKind.one_person else 'are kept apart'}."
        )
    finally:
        s.close()


@resolve_app.command("undo")
def resolve_undo(
    decision_id: int,
    reason: Annotated[str, typer.Option(help="Why the decision is withdrawn.")],
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Withdraw a decision: the picture returns to what it was without it."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        d = _store_call(s, lambda: s.undo_decision(v, decision_id, reason))
        out.print(f"Decision {decision_id} undone (record {d.id}).")
    finally:
        s.close()


@resolve_app.command("decisions")
def resolve_decisions(reader: ReaderOpt = None, purpose: PurposeOpt = "safeguarding", store: StoreOpt = None) -> None:
    """Every decision about records the reviewer may see, with who made it, when and why."""
    s = _open_configured(store)
    try:
        ds = s.resolution_decisions(_view(s, reader, purpose))
        t = Table("id", "kind", "a", "b", "by", "at", "reason", "undoes")
        for d in ds:
            t.add_row(
                str(d.id),
                d.kind,
                f"{d.a[0]}#{d.a[1]}",
                f"{d.b[0]}#{d.b[1]}",
                escape(d.decided_by),
                d.decided_at,
                escape(d.reason),
                str(d.undoes or ""),
            )
        out.print(t)
    finally:
        s.close()


incidents_app = typer.Typer(help="The same incident told twice: the review queue, decisions and their undoing.")
app.add_typer(incidents_app, name="incidents")


@incidents_app.command("queue")
def incidents_queue(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many pairs to show.")] = 20,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Pairs of two agencies' records that may be one incident, side by side (only
    pairs of records the reviewer may read both of)."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)

        def read() -> list[Any]:
            items = s.incident_queue(v, limit)
            shown = sorted({x.fragment_id for it in items for x in (it.a, it.b)})
            s.audit_read(v, "read.incident_review", {"fragments": shown})
            return items

        items = _store_call(s, read)
        if not items:
            out.print("The incident review queue is empty.")
            return
        for n, it in enumerate(items, 1):
            t = Table(title=f"{n}. same incident? {escape(it.reason)}")
            t.add_column("")
            t.add_column(it.a.fragment_id)
            t.add_column(it.b.fragment_id)
            for label, x, y in (
                ("agency", it.a.agency, it.b.agency),
                ("kind", it.a.kind, it.b.kind),
                (
                    "when",
                    f"{it.a.start}..{it.a.end} ({it.a.precision})",
                    f"{it.b.start}..{it.b.end} ({it.b.precision})",
                ),
                ("as written", it.a.when_text or "", it.b.when_text or ""),
                ("summary", it.a.summary or "", it.b.summary or ""),
            ):
                t.add_row(label, escape(x), escape(y))
            out.print(t)
        out.print(
            "Decide with `jigsaw incidents decide join|apart A B --reason ...`; undo with `jigsaw incidents undo ID`."
        )
    finally:
        s.close()


@incidents_app.command("decide")
def incidents_decide(
    kind: DecisionKind,
    a: Annotated[str, typer.Argument(help="One record, its fragment id as the queue shows it.")],
    b: Annotated[str, typer.Argument(help="The other record.")],
    reason: Annotated[str, typer.Option(help="Why: recorded with the decision.")],
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Record that two records tell one incident (join) or two (apart). Chronologies and
    patterns follow at once."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        d = _store_call(s, lambda: s.decide_incident(v, kind.value, a, b, reason))
        out.print(f"Decision {d.id}: {a} and {b} {'are one incident' if kind.value == 'join' else 'are kept apart'}.")
    finally:
        s.close()


@incidents_app.command("undo")
def incidents_undo(
    decision_id: int,
    reason: Annotated[str, typer.Option(help="Why the decision is withdrawn.")],
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    store: StoreOpt = None,
) -> None:
    """Withdraw an incident decision: the events return to what they were without it."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        d = _store_call(s, lambda: s.undo_incident_decision(v, decision_id, reason))
        out.print(f"Decision {decision_id} undone (record {d.id}).")
    finally:
        s.close()


@incidents_app.command("decisions")
def incidents_decisions(reader: ReaderOpt = None, purpose: PurposeOpt = "safeguarding", store: StoreOpt = None) -> None:
    """Every incident decision about records the reviewer may read: who, when, why."""
    s = _open_configured(store)
    try:
        ds = _store_call(s, lambda: s.incident_decisions(_view(s, reader, purpose)))
        t = Table("id", "kind", "a", "b", "by", "at", "reason", "undoes")
        for d in ds:
            t.add_row(
                str(d.id), d.kind, d.a, d.b, escape(d.decided_by), d.decided_at, escape(d.reason), str(d.undoes or "")
            )
        out.print(t)
    finally:
        s.close()


@resolve_app.command("explain")
def resolve_explain(
    a: str, b: str, reader: ReaderOpt = None, purpose: PurposeOpt = "safeguarding", store: StoreOpt = None
) -> None:
    """The model's field-by-field evidence for two mentions the reviewer may see."""
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        ev = _store_call(s, lambda: s.explain_pair(v, a, b))
        out.print(f"match probability {ev.probability:.4f}, weight {ev.weight:+.2f} (model {ev.model})")
        for f in ev.fields:
            out.print(f"  {f.comparison:<18} {f.level:<14} {f.weight:+.2f}")
        for words in ev.context:
            out.print(f"  {escape(words)}")
    finally:
        s.close()


@resolve_app.command("relink")
def resolve_relink(store: StoreOpt = None) -> None:
    """Re-link the whole store from its journal with the current model (after retraining)."""
    import time

    s = _open_configured(store)
    try:
        t0 = time.perf_counter()
        s.relink()
        out.print(f"Re-linked {s.fragment_count()} fragments in {time.perf_counter() - t0:.1f} s.")
    finally:
        s.close()


@resolve_app.command("train")
def resolve_train(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the model settings (JSON).")],
    version: Annotated[str, typer.Option(help="The new model's version (recorded with its decisions).")],
    store: StoreOpt = None,
) -> None:
    """Learn the model's weights by expectation-maximisation on the store's own mentions."""
    from ingest.linkage.model import settings_json
    from ingest.linkage.train import train

    s = _open_configured(store)
    try:
        feats = s.mention_features()
        try:
            settings = train(feats, version=version)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        out_path.write_text(settings_json(settings))
        out.print(f"Trained on {len(feats)} mentions; wrote {out_path}. Use it with JIGSAW_LINKAGE_MODEL={out_path}.")
    finally:
        s.close()


backend_app = typer.Typer(help="Move a store between the embedded backend and Neo4j, and check the move.")
app.add_typer(backend_app, name="backend")


def _neo4j() -> Store:
    """The Neo4j store named by NEO4J_URI / NEO4J_USER / NEO4J_PASSWORD / NEO4J_DATABASE."""
    from api.app import open_store
    from api.settings import Settings

    try:
        settings = Settings(backend="neo4j")
        return open_store(settings)
    except (ValueError, JigsawError) as exc:
        raise _fail(f"Neo4j: {exc}") from None


def _moved(report: Any) -> None:
    meant = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in report.shared_meaning.items())
    out.print(
        f"Moved {report.audit_entries:,} audit entries, {report.fragments:,} fragments, {report.readers} readers, "
        f"{report.cases} cases, {report.share_decisions} share decisions, {report.resolution_decisions} resolution "
        f"decisions, {report.tokens} tokens and shared meaning ({meant})."
    )


def _check(a: Store, b: Store) -> None:
    from graph.transfer import differences, person_ids, record_differences

    found = differences(a, b)
    if found:
        for line in found:
            err.print(f"  {line}")
        raise _fail("the two stores do not give the same chronologies")
    records = record_differences(a, b)
    if records:
        for line in records:
            err.print(f"  {line}")
        raise _fail("the audit, tokens or shared meaning did not move intact")
    out.print(f"Checked: all {len(person_ids(a)):,} people have the same chronology in both stores.")
    out.print(
        "Checked: both audits verify, the destination's begins with every source entry unchanged and continues "
        "from its head; tokens and shared meaning are the same."
    )


@backend_app.command("export")
def backend_export(
    to: Annotated[str, typer.Option("--to", help="Where to: neo4j (NEO4J_URI and friends).")] = "neo4j",
    skip_fragments: Annotated[
        bool, typer.Option(help="The fragments are there already (loaded from export-csv by neo4j-admin).")
    ] = False,
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Copy this embedded store into an empty Neo4j database, then check every person's chronology."""
    from graph.transfer import MoveError, copy_store

    if to != "neo4j":
        raise _fail("--to: only neo4j")
    src = _open(store)
    dst = _neo4j()
    try:
        _moved(copy_store(src, dst, by=by, fragments=not skip_fragments))
        _check(src, dst)
    except MoveError as exc:
        raise _fail(str(exc)) from None
    finally:
        dst.close()
        src.close()


@backend_app.command("export-csv")
def backend_export_csv(
    folder: Annotated[Path, typer.Argument(help="Folder for the CSV files neo4j-admin imports.")],
    store: StoreOpt = None,
) -> None:
    """Write the journal as CSV files for `neo4j-admin database import full` (large stores)."""
    from graph.transfer import write_admin_csv

    src = _open(store)
    try:
        files = write_admin_csv(src, folder)
    finally:
        src.close()
    names = ", ".join(f.name for f in files)
    out.print(f"Wrote {names} to {folder}. Next: docs/scaling.md, 'Moving between backends'.")


@backend_app.command("import")
def backend_import(
    from_: Annotated[str, typer.Option("--from", help="Where from: neo4j (NEO4J_URI and friends).")] = "neo4j",
    by: ByOpt = "administrator",
    store: StoreOpt = None,
) -> None:
    """Copy a Neo4j database into a new, empty embedded store, then check every person's chronology."""
    from graph.transfer import MoveError, copy_store

    if from_ != "neo4j":
        raise _fail("--from: only neo4j")
    path = _store_path(store)
    if path.exists():
        raise _fail(f"{path} exists: import into a new store")
    src = _neo4j()
    dst = EmbeddedStore.open(path, create=True, matcher=matcher())
    try:
        _moved(copy_store(src, dst, by=by))
        _check(src, dst)
    except MoveError as exc:
        raise _fail(str(exc)) from None
    finally:
        dst.close()
        src.close()


@backend_app.command("derive")
def backend_derive(
    everything: Annotated[
        bool, typer.Option("--all", help="Rewrite the whole derived graph (after a new linkage model, or in doubt).")
    ] = False,
) -> None:
    """Write Neo4j's derived graph (people, events, places for analysts' Cypher) up to the
    journal. The API does this by itself every JIGSAW_DERIVED_INTERVAL seconds."""
    s = _neo4j()
    try:
        behind = s.derived_behind()
        if everything and hasattr(s, "rewrite_derived"):
            s.rewrite_derived()
        else:
            while s.write_derived(10_000):
                pass
        left = s.derived_behind()
    except JigsawError as exc:
        raise _fail(exc.message) from None
    finally:
        s.close()
    out.print(f"Derived graph written: {behind:,} fragment(s) were behind the journal, {left:,} now.")


# ---------------------------------------------------------------------- shared meaning

glossary_app = typer.Typer(help="The glossary of agency terms: check a deployment's file, look terms up in text.")
notices_app = typer.Typer(help="Correction notices: each reader's feed, and delivering them to agencies' webhooks.")
webhooks_app = typer.Typer(help="Where agencies' own systems receive correction notices (signed webhooks).")
app.add_typer(glossary_app, name="glossary")
app.add_typer(notices_app, name="notices")
app.add_typer(webhooks_app, name="webhooks")


@glossary_app.command("check")
def glossary_check(file: Annotated[Path, typer.Argument(help="A deployment's glossary file (TOML).")]) -> None:
    """Check a glossary file and say how it changes the shipped glossary."""
    from ingest.glossary import shipped_glossary

    g = _glossary(file)
    base = shipped_glossary()
    mine = [t for t in g.terms.values() if base.get(t.term) != t]
    added = sum(1 for t in mine if t.term not in base)
    out.print(f"{file}: fine. {added} term(s) added, {len(mine) - added} replaced; {len(g)} terms in all.")


@glossary_app.command("terms")
def glossary_terms(
    text: Annotated[str, typer.Argument(help="Words to look terms up in, e.g. a narrative.")],
    glossary: GlossaryOpt = None,
) -> None:
    """The agency terms in a piece of text, with their meanings; ambiguous and unknown ones marked."""
    from ingest.glossary import find_terms

    print_terms(sorted({h.term: h for h in find_terms(text, _glossary(glossary))}.values(), key=lambda h: h.start))


@notices_app.command("list")
def notices_list(
    store: StoreOpt = None,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    unread: Annotated[bool, typer.Option(help="Only notices not yet marked read.")] = False,
) -> None:
    """Your notices: records you saw that have since been corrected or withdrawn."""
    s = _open(store)
    try:
        found = s.notices(_view(s, reader, purpose), unread_only=unread)
    finally:
        s.close()
    t = Table(title="Notices", expand=True)
    for col in ("When", "Notice", "Record", "New version"):
        t.add_column(col)
    for n in found:
        t.add_row(escape(n.at), escape(n.message), n.fragment_id or "", n.correction_id or "")
    out.print(t)


@notices_app.command("deliver")
def notices_deliver(store: StoreOpt = None) -> None:
    """Send every webhook delivery that is due (failures back off and are retried next run)."""
    from api.webhooks import deliver_due

    s = _open(store)
    try:
        done = deliver_due(s)
    finally:
        s.close()
    ok = sum(1 for a in done if a.ok)
    out.print(f"{len(done)} due: {ok} delivered, {len(done) - ok} failed (retried later; dead after 8 attempts).")
    for a in done:
        if not a.ok:
            err.print(f"  {a.delivery_id} to {a.agency}: HTTP {a.status or 'no answer'}, now {a.state}")


@notices_app.command("outbox")
def notices_outbox(store: StoreOpt = None, agency: Annotated[str | None, typer.Option()] = None) -> None:
    """The webhook outbox: each delivery's state, attempts and last error."""
    s = _open(store)
    try:
        rows = s.webhook_outbox(agency)
    finally:
        s.close()
    t = Table(title="Webhook outbox", expand=True)
    for col in ("Delivery", "Agency", "State", "Attempts", "Next attempt", "Last error"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["id"], r["agency"], r["state"], str(r["attempts"]), r["next_at"], escape(r["last_error"] or ""))
    out.print(t)


@webhooks_app.command("set")
def webhooks_set(
    agency: Annotated[str, typer.Argument(help="The agency id whose systems receive the notices.")],
    url: Annotated[str, typer.Argument(help="Where to POST them (https in production).")],
    by: ByOpt,
    store: StoreOpt = None,
    secret: Annotated[
        str | None, typer.Option(envvar="JIGSAW_WEBHOOK_SECRET", help="The signing secret; default: a new one.")
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop deliveries to this agency.")] = False,
) -> None:
    """Register or change an agency's webhook. A new secret is printed once: give it to
    the agency, who check every delivery's signature with it (docs/shared-meaning.md)."""
    from api.webhooks import new_secret

    made = secret or new_secret()
    s = _admin(store)
    _store_call(s, lambda: s.put_webhook(by, agency=agency, url=url, secret=made, active=not off))
    out.print(f"Webhook for {agency}: {url} ({'off' if off else 'on'})")
    if secret is None:
        print(f"Signing secret (shown once): {made}")


@webhooks_app.command("list")
def webhooks_list(store: StoreOpt = None) -> None:
    """Registered webhooks (never their secrets)."""
    s = _open(store)
    try:
        hooks = s.webhooks()
    finally:
        s.close()
    for h in hooks:
        out.print(f"{h.agency}: {h.url} ({'on' if h.active else 'off'}, changed {h.updated_at})")


# ---------------------------------------------------------------------- patterns

patterns_app = typer.Typer(help="Patterns for analysts: the shapes no single agency could see (docs/patterns.md).")
app.add_typer(patterns_app, name="patterns")

PatternOpt = Annotated[
    list[str] | None,
    typer.Option("--pattern", "-p", help="A pattern to run (repeat for several); all when left out."),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        help="PATTERN.NAME=VALUE, e.g. multi_agency_concerns.window_days=60 (repeat for several).",
    ),
]


def _selection(patterns: list[str] | None, params: list[str] | None) -> Any:
    from graph.patterns import selection_of

    given: dict[str, dict[str, Any]] = {}
    for item in params or ():
        key, eq, raw = item.partition("=")
        name, dot, field = key.partition(".")
        if not eq or not dot or not field:
            raise _fail(f"--param {item!r}: write PATTERN.NAME=VALUE", 2)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        given.setdefault(name, {})[field] = value
    chosen = list(patterns or ())
    if chosen:
        chosen += [n for n in given if n not in chosen]
    try:
        return selection_of(chosen or None, given)
    except ValueError as exc:
        raise _fail(str(exc), 2) from None


def _print_flags(flags: list[Any], title: str) -> None:
    if not flags:
        out.print("No pattern fired.")
        return
    t = Table(title=escape(title), show_lines=True, expand=True)
    for col in ("Severity", "Pattern", "Child", "Why", "Evidence"):
        t.add_column(col)
    for f in flags:
        ev = "\n".join(
            f"{e.when} {e.agency}: " + (f"{e.fragment_id} ({e.kind})" if e.fragment_id else "held back, ask their DSL")
            for e in f.evidence
        )
        t.add_row(*(escape(c) for c in (f.severity.upper(), f.title, f.child, f.explanation, ev)))
    out.print(t)


@patterns_app.command("list")
def patterns_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The pattern library: what each pattern looks for, and its parameters."""
    from graph.patterns import PATTERNS

    rows: list[dict[str, Any]] = [
        {
            "name": p.name,
            "title": p.title,
            "severity": p.severity,
            "description": p.description,
            "parameters": p.parameters(),
        }
        for p in PATTERNS.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("Pattern", "Severity", "What it looks for", "Parameters (default)", show_lines=True, expand=True)
    for r in rows:
        params = "\n".join(f"{x['name']} ({x['default']!r}): {x['description']}" for x in r["parameters"])
        t.add_row(escape(r["name"]), r["severity"], escape(r["description"]), escape(params))
    out.print(t)


@patterns_app.command("run")
def patterns_run(
    person: Annotated[str, typer.Argument(help="A person id or a name that finds exactly one person.")],
    store: StoreOpt = None,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "safeguarding",
    pattern: PatternOpt = None,
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run patterns for one child: the flags on their chronology, as you may see them."""
    selection = _selection(pattern, param)
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        pid = _resolve_person(v, person)
        flags = s.patterns().run_for(s, v, pid, selection)
    finally:
        s.close()
    if flags is None:
        raise _fail(f"no such person for you: {person}")
    if as_json:
        print(json.dumps([asdict(f) for f in flags], indent=2))
        return
    _print_flags(flags, f"Patterns for {pid}")


@patterns_app.command("scan")
def patterns_scan(
    store: StoreOpt = None,
    reader: ReaderOpt = None,
    purpose: PurposeOpt = "analysis",
    pattern: PatternOpt = None,
    param: ParamOpt = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many flags.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run patterns across the store: a list ranked by severity, then recency, as you may see it."""
    selection = _selection(pattern, param)
    s = _open_configured(store)
    try:
        v = _view(s, reader, purpose)
        flags, more = s.patterns().scan_for(s, v, selection, offset=offset, limit=limit)
    finally:
        s.close()
    if as_json:
        print(json.dumps({"items": [asdict(f) for f in flags], "more": more}, indent=2))
        return
    _print_flags(flags, "Patterns across the store" + (f" (more after {offset + len(flags)})" if more else ""))


if __name__ == "__main__":
    main()
