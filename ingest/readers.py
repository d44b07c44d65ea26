"""Readers for the files agencies send: JSON Lines fragments and CSV chronology exports.

A reader turns a file into ``Row``s: the line it came from and either the raw fragment
(a dict in the input format of ``ingest.schema.Fragment``) or the errors that stopped it
being read. Readers never validate the fragment itself; the pipeline does that, the
same way for every format.

The CSV chronology format is the shape multi-agency chronologies are kept in (one row
an event: date, time, agency, author role, subjects, what happened, source of the
information, significance, action taken) plus the columns a fragment needs that such
exports often lack (agency type, statement kind, lawful basis, family told). See
docs/fragment-format.md for every column.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ingest.normalise import DateParseError, parse_day
from ingest.validate import FieldError

MAX_LINE_BYTES = 1_000_000


@dataclass
class Row:
    """One record read from a file: where it came from and what it holds."""

    source: str
    line: int
    raw: dict[str, Any] | None
    errors: list[FieldError] = field(default_factory=list)
    text: str | None = None  # the line as read, for the rejects file


def read_jsonl(path: str | Path) -> Iterator[Row]:
    """One fragment a line; blank lines are skipped."""
    p = Path(path)
    with p.open("rb") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if len(line) > MAX_LINE_BYTES:
                yield Row(str(p), n, None, [FieldError("(line)", f"longer than {MAX_LINE_BYTES} bytes")], text)
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Row(str(p), n, None, [FieldError("(line)", f"not valid JSON ({exc})")], text)
                continue
            yield Row(str(p), n, raw, [], text)


# ----------------------------------------------------------------------------- CSV

CSV_REQUIRED = ("date", "agency", "agency type", "author role", "subjects", "what happened", "significance")
CSV_OPTIONAL = (
    "time",
    "record ref",
    "author id",
    "source of information",
    "action taken",
    "event kind",
    "statement kind",
    "opinion of",
    "reported by",
    "concerns",
    "lawful basis",
    "family told",
    "reason family not told",
    "recorded",
    "local authority",
)
# Where a fragment field's error shows in the CSV, name the column the author filled in.
_FIELD_TO_COLUMN = {
    "event.when": "date",
    "event.kind": "event kind",
    "event.summary": "what happened",
    "event.narrative": "what happened",
    "event.action_taken": "action taken",
    "event.source_of_information": "source of information",
    "agency.type": "agency type",
    "agency.name": "agency",
    "agency.id": "agency",
    "author.role": "author role",
    "statement.kind": "statement kind",
    "statement.whose": "opinion of",
    "statement.reported_by": "reported by",
    "significance": "significance",
    "sharing.lawful_basis": "lawful basis",
    "sharing.family_told": "family told",
    "sharing.family_not_told_reason": "reason family not told",
    "recorded_at": "recorded",
    "shared_at": "recorded",
}
_SUBJECT = re.compile(r"^\s*(?P<name>[^()]+?)\s*(?:\((?P<inner>[^()]*)\))?\s*$")
_DAY = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$|^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def csv_column_for(field_path: str) -> str:
    """The CSV column an error in ``field_path`` belongs to (people[...] -> subjects)."""
    if field_path.startswith("people") or field_path.startswith("relationships"):
        return "subjects"
    if field_path.startswith("concerns"):
        return "concerns"
    for prefix, col in _FIELD_TO_COLUMN.items():
        if field_path == prefix or field_path.startswith(prefix + "."):
            return col
    return field_path


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:64] or "agency"


def _iso_day(text: str) -> str:
    """A DD/MM/YYYY or YYYY-MM-DD day as ISO text; anything else as written, so the
    fragment's own validation reports it against the right field."""
    try:
        return parse_day(text).isoformat()
    except DateParseError:
        return text


def _parse_subjects(cell: str) -> tuple[list[dict[str, Any]], list[FieldError]]:
    people: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    parts = [p for p in cell.split(";") if p.strip()]
    if not parts:
        errors.append(FieldError("subjects", "names nobody: give at least one 'Name (role, DD/MM/YYYY)'"))
    for i, part in enumerate(parts):
        m = _SUBJECT.match(part)
        if not m:
            errors.append(FieldError("subjects", f"entry {i + 1} is not 'Name (role, DD/MM/YYYY)'"))
            continue
        person: dict[str, Any] = {"ref": f"s{i + 1}", "name": m.group("name").strip()}
        role = "child" if i == 0 else "other"
        for bit in (b.strip() for b in (m.group("inner") or "").split(",")):
            if not bit:
                continue
            if _DAY.match(bit):
                person["dob"] = _iso_day(bit)
            elif bit.lower().startswith("dob "):
                person["dob"] = _iso_day(bit[4:].strip())
            else:
                role = bit.lower().replace(" ", "_")
        person["role"] = _ROLE_WORDS.get(role, role)
        people.append(person)
    return people, errors


# Words people write in a chronology's subjects column, mapped to the schema's roles.
_ROLE_WORDS = {
    "mother": "parent",
    "father": "parent",
    "mum": "parent",
    "dad": "parent",
    "stepfather": "step_parent",
    "stepmother": "step_parent",
    "brother": "sibling",
    "sister": "sibling",
    "boyfriend": "partner",
    "girlfriend": "partner",
    "grandmother": "relative",
    "grandfather": "relative",
    "aunt": "relative",
    "uncle": "relative",
}


def _yes_no(value: str) -> bool | None:
    v = value.strip().lower()
    if v in ("yes", "y", "true", "1"):
        return True
    if v in ("no", "n", "false", "0"):
        return False
    return None


def csv_row_to_fragment(
    row: dict[str, str], defaults: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Map one chronology CSV row to a raw fragment; errors name the CSV column."""
    d = defaults or {}

    def get(col: str) -> str:
        return (row.get(col) or d.get(col) or "").strip()

    errors: list[FieldError] = []
    date_cell, time_cell = get("date"), get("time")
    when = date_cell
    if _DAY.match(date_cell):
        try:
            when = parse_day(date_cell).isoformat()
        except DateParseError as exc:
            errors.append(FieldError("date", str(exc)))
    elif not date_cell:
        errors.append(FieldError("date", "required and empty"))
    if time_cell and not _TIME.match(time_cell):
        errors.append(FieldError("time", "write the time as HH:MM"))
    elif time_cell and when:
        when = f"{when}T{time_cell}"
    recorded = get("recorded")
    if recorded and _DAY.match(recorded):
        recorded = _iso_day(recorded)
    if not recorded and not errors:
        if "T" in when:
            recorded = when
        elif _DAY.match(when):
            recorded = f"{when}T23:59:00"
        else:
            errors.append(FieldError("recorded", "the date is not a single day, so say when the record was made"))
    people, perr = _parse_subjects(get("subjects"))
    errors.extend(perr)
    what = get("what happened")
    summary = what.split(". ")[0][:200] if what else ""
    family_told = _yes_no(get("family told")) if get("family told") else None
    if get("family told") and family_told is None:
        errors.append(FieldError("family told", "write yes or no"))
    statement: dict[str, Any] = {"kind": get("statement kind")}
    if get("opinion of"):
        statement["whose"] = get("opinion of")
    if get("reported by"):
        statement["reported_by"] = get("reported by")
    sharing: dict[str, Any] = {"lawful_basis": get("lawful basis"), "family_told": family_told}
    if get("reason family not told"):
        sharing["family_not_told_reason"] = get("reason family not told")
    agency = get("agency")
    frag: dict[str, Any] = {
        "agency": {"id": slug(agency), "name": agency, "type": get("agency type")},
        "author": {"role": get("author role"), "id": get("author id") or "not given"},
        "recorded_at": recorded,
        "shared_at": recorded,
        "event": {
            "kind": get("event kind") or "other",
            "when": when,
            "summary": summary,
            "narrative": what,
        },
        "people": people,
        "statement": statement,
        "concerns": [c.strip().lower().replace(" ", "_") for c in get("concerns").split(";") if c.strip()],
        "significance": get("significance").lower(),
        "sharing": sharing,
    }
    if get("local authority"):
        frag["agency"]["local_authority"] = get("local authority")
    if get("source of information"):
        frag["event"]["source_of_information"] = get("source of information")
    if get("action taken"):
        frag["event"]["action_taken"] = get("action taken")
    ref = get("record ref")
    if not ref:
        # No reference in the export: derive one from the row, so re-importing the same
        # file finds the same fragments instead of doubling them.
        basis = "\x1f".join(f"{k}={row.get(k, '')}" for k in sorted(row) if k)
        ref = "csv-" + hashlib.blake2b(basis.encode(), digest_size=10).hexdigest()
    frag["record_ref"] = ref
    return frag, errors


def read_chronology_csv(path: str | Path, defaults: dict[str, str] | None = None) -> Iterator[Row]:
    """Rows of a chronology CSV export as raw fragments. ``defaults`` fill empty columns."""
    p = Path(path)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in CSV_REQUIRED if c not in header]
        if missing:
            yield Row(str(p), 1, None, [FieldError(c, "column missing from the header") for c in missing])
            return
        unknown = [h for h in header if h and h not in CSV_REQUIRED and h not in CSV_OPTIONAL]
        if unknown:
            yield Row(str(p), 1, None, [FieldError(h, "not a column this reader knows") for h in unknown])
            return
        line = reader.line_num
        for rec in reader:
            start = line + 1
            line = reader.line_num
            if None in rec:
                yield Row(str(p), start, None, [FieldError("(row)", "has more cells than the header")])
                continue
            raw, errors = csv_row_to_fragment(rec, defaults)
            yield Row(str(p), start, raw if not errors else None, errors, ",".join(rec.values()))


def read_file(path: str | Path, defaults: dict[str, str] | None = None) -> Iterator[Row]:
    """Pick the reader by extension: .jsonl/.ndjson or .csv."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return read_jsonl(p)
    if suffix == ".csv":
        return read_chronology_csv(p, defaults)
    raise ValueError(f"{p.name}: unknown file type {suffix!r}; expected .jsonl or .csv")
