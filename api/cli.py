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
from dataclasses import asdict
from datetime import UTC, date, datetime
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from graph.chronology import ChronologyFilters, ChronologyLine, to_csv
from graph.embedded import EmbeddedStore
from graph.errors import JigsawError
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


def _open(store: Path | None) -> EmbeddedStore:
    try:
        return EmbeddedStore.open(_store_path(store))
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
) -> None:
    """Import fragments from files. Good rows go in; bad rows are listed with the reason.

    Importing the same file again changes nothing. A different record under a reference
    the agency already used is refused, not overwritten.
    """
    for f in files:
        if not f.exists():
            raise _fail(f"{f}: no such file")
    s = _open(store)
    rejects_path = rejects or _store_path(store).parent / "rejects.jsonl"
    defaults = {k: v for k, v in (("lawful basis", lawful_basis), ("statement kind", statement_kind)) if v}
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Find people by name or identifier."""
    s = _open(store)
    try:
        found = s.find_people(query)
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


def _resolve_person(s: EmbeddedStore, person: str) -> str:
    if person.startswith("P") and person[1:].isdigit():
        return person
    found = s.find_people(person)
    if len(found) == 1:
        return found[0].person_id
    if not found:
        raise _fail(f"nobody found for {person!r}; try `jigsaw people`")
    listing = ", ".join(f"{p.person_id} ({'; '.join(p.names)})" for p in found[:10])
    raise _fail(f"{len(found)} people match; give one id: {listing}", 2)


def print_chronology(lines: list[ChronologyLine], title: str) -> None:
    """A chronology as a terminal table. Cell text is escaped: a record is never markup."""
    t = Table(title=escape(title), show_lines=True, expand=True)
    for col in ("When", "What happened", "Who", "Agency (author)", "Statement", "Significance", "Concerns", "Sources"):
        t.add_column(col)
    for ln in lines:
        who = "\n".join(f"{p.name} ({', '.join(r.replace('_', ' ') for r in p.roles)})" for p in ln.people)
        agencies = "\n".join(f"{s.agency_name} ({s.author_role})" for s in ln.sources)
        marks = [m for m, on in (("corroborated", ln.corroborated), ("corrected", ln.corrected)) if on]
        kind = ", ".join(ln.statements) + "".join(f"\n({m})" for m in marks)
        srcs = "\n".join(s.fragment_id for s in ln.sources)
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
) -> None:
    """Show one person's merged chronology: every event in date order, with its sources."""
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
        pid = _resolve_person(s, person)
        summary = s.person(pid)
        if summary is None:
            raise _fail(f"no person {pid} in this store")
        lines = s.chronology(pid, filters)
    finally:
        s.close()
    if fmt == OutputFormat.table and output is None:
        name = "; ".join(summary.names[:2] or summary.descriptions[:1])
        print_chronology(lines, f"Chronology of {name} ({pid}): {_events(len(lines))}")
        return
    text = (
        json.dumps({"person": asdict(summary), "lines": [ln.as_dict() for ln in lines]}, indent=2, ensure_ascii=False)
        if fmt != OutputFormat.csv
        else to_csv(lines)
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
    if path.exists():
        if store is not None:
            raise _fail(f"{path} already exists; the demo builds a fresh store, so pick a new path")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    s = EmbeddedStore.open(path, create=True)
    try:
        summary = import_files(s, demo_files(), now=DEMO_NOW, rejects_path=path.parent / "demo-rejects.jsonl")
        out.print(
            f"Imported {summary.accepted} fragments from {len(summary.files)} files "
            f"({summary.rejected} rejected) into {path}"
        )
        if summary.rejected:
            for e in summary.errors:
                err.print(f"  {e}")
            raise _fail("the demo data did not import cleanly")
        found = [p for p in s.find_people("Mia Walsh") if "2019-03-14" in p.dobs]
        if not found:
            raise _fail("the demo child was not found")
        pid = found[0].person_id
        lines = s.chronology(pid)
    finally:
        s.close()
    print_chronology(
        lines,
        f"Merged chronology of Mia Walsh, 7 ({pid}): {_events(len(lines))} from {len(found[0].agencies)} agencies",
    )
    out.print(
        "Read it top to bottom: the earlier 'home alone' call, closed as malicious, stands next to today's finding.\n"
        f"Next: jigsaw people Walsh --store {path}\n"
        f"      jigsaw chronology {pid} --store {path} --format csv -o mia.csv"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
