"""Readers on real files: JSON Lines and CSV chronology exports, errors with file, line,
field and reason, rejects files, strict mode, and idempotent re-imports."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import orjson

from graph.embedded import EmbeddedStore
from ingest.pipeline import import_files
from ingest.readers import read_chronology_csv
from tests.conftest import NOW, fragment

HEADER = [
    "date",
    "time",
    "agency",
    "agency type",
    "author role",
    "record ref",
    "subjects",
    "what happened",
    "source of information",
    "significance",
    "action taken",
    "event kind",
    "statement kind",
    "concerns",
    "lawful basis",
    "family told",
    "reason family not told",
]


def write_jsonl(path: Path, docs: list[Any]) -> Path:
    with path.open("w") as fh:
        for d in docs:
            fh.write((d if isinstance(d, str) else json.dumps(d)) + "\n")
    return path


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


def csv_row(**changes: str) -> dict[str, str]:
    row = {
        "date": "12/05/2026",
        "time": "14:30",
        "agency": "Larchfield Primary School",
        "agency type": "school",
        "author role": "designated safeguarding lead",
        "record ref": "",
        "subjects": "Mia Walsh (child, 14/03/2019); Leanne Walsh (mother)",
        "what happened": "Mia arrived hungry, in the same clothes as yesterday. Breakfast given.",
        "source of information": "class teacher",
        "significance": "medium",
        "action taken": "Logged; DSL to monitor",
        "event kind": "school_concern",
        "statement kind": "fact",
        "concerns": "neglect",
        "lawful basis": "public_task",
        "family told": "yes",
        "reason family not told": "",
    }
    row.update(changes)
    return row


def test_jsonl_good_and_bad_lines(store: EmbeddedStore, tmp_path: Path) -> None:
    bad_type = fragment(record_ref="R2")
    bad_type["agency"]["type"] = "wizardry"
    path = write_jsonl(tmp_path / "in.jsonl", [fragment(record_ref="R1"), "{not json", bad_type, "", "[1]"])
    rejects = tmp_path / "rejects.jsonl"
    s = import_files(store, [path], rejects_path=rejects, now=NOW)
    assert (s.accepted, s.rejected) == (1, 3)
    where = {(e.line, e.field) for e in s.errors}
    assert where == {(2, "(line)"), (3, "agency.type"), (5, "(fragment)")}
    assert all(e.source == str(path) for e in s.errors)
    rej = [orjson.loads(x) for x in rejects.read_text().splitlines()]
    assert [r["line"] for r in rej] == [2, 3, 5]
    assert rej[1]["errors"][0]["field"] == "agency.type"
    assert store.fragment_count() == 1


def test_reimport_changes_nothing(store: EmbeddedStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [fragment(record_ref=f"R{i}") for i in range(5)])
    first = import_files(store, [path], now=NOW)
    second = import_files(store, [path], now=NOW)
    assert (first.accepted, second.accepted, second.duplicate) == (5, 0, 5)
    assert store.fragment_count() == 5


def test_reused_reference_with_new_body_is_an_error_not_an_overwrite(store: EmbeddedStore, tmp_path: Path) -> None:
    import_files(store, [write_jsonl(tmp_path / "a.jsonl", [fragment(record_ref="R1")])], now=NOW)
    changed = fragment(record_ref="R1", significance="low")
    s = import_files(store, [write_jsonl(tmp_path / "b.jsonl", [changed])], now=NOW)
    assert s.rejected == 1 and s.errors[0].field == "record_ref" and s.errors[0].line == 1


def test_strict_mode_imports_nothing_from_a_file_with_a_bad_row(store: EmbeddedStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [fragment(record_ref="R1"), "{oops", fragment(record_ref="R3")])
    s = import_files(store, [path], strict=True, now=NOW)
    assert (s.accepted, s.rejected, s.not_written) == (0, 1, 2)
    assert store.fragment_count() == 0
    ok = write_jsonl(tmp_path / "ok.jsonl", [fragment(record_ref="R1"), fragment(record_ref="R3")])
    assert import_files(store, [ok], strict=True, now=NOW).accepted == 2


def test_strict_mode_conflict_found_by_the_store_also_writes_nothing(store: EmbeddedStore, tmp_path: Path) -> None:
    import_files(store, [write_jsonl(tmp_path / "a.jsonl", [fragment(record_ref="R1")])], now=NOW)
    path = write_jsonl(tmp_path / "b.jsonl", [fragment(record_ref="R2"), fragment(record_ref="R1", significance="low")])
    s = import_files(store, [path], strict=True, now=NOW)
    assert (s.accepted, s.rejected, s.not_written) == (0, 1, 1)
    assert store.fragment_count() == 1


def test_csv_chronology_import(store: EmbeddedStore, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "school.csv",
        [csv_row(), csv_row(date="13/05/2026", **{"what happened": "Absent, no call from home."})],
    )
    s = import_files(store, [path], now=NOW)
    assert (s.accepted, s.rejected) == (2, 0), s.errors
    (mia,) = [p for p in store.system_view().find_people("Mia Walsh")]
    lines = store.system_view().chronology(mia.person_id)
    assert [ln.start for ln in lines] == ["2026-05-12", "2026-05-13"]
    assert lines[0].at == "14:30" and lines[0].summary.startswith("Mia arrived hungry")
    assert lines[0].agencies == ["larchfield-primary-school"]
    # re-importing an export without record refs finds the same fragments
    assert import_files(store, [path], now=NOW).duplicate == 2


def test_csv_errors_name_the_column_and_line(store: EmbeddedStore, tmp_path: Path) -> None:
    rows = [
        csv_row(),
        csv_row(date="31/02/2026"),
        csv_row(**{"agency type": "wizardry"}),
        csv_row(subjects=""),
        csv_row(**{"family told": "perhaps"}),
        csv_row(**{"family told": "no", "reason family not told": ""}),
        csv_row(**{"what happened": "multi\nline, with comma", "significance": "enormous"}),
    ]
    s = import_files(store, [write_csv(tmp_path / "c.csv", rows)], now=NOW)
    got = {(e.line, e.field) for e in s.errors}
    assert got == {
        (3, "date"),
        (4, "agency type"),
        (5, "subjects"),
        (6, "family told"),
        (7, "reason family not told"),
        (8, "significance"),  # the line where the multi-line row starts
    }
    assert s.accepted == 1


def test_csv_missing_and_unknown_columns(tmp_path: Path) -> None:
    hdr = [h for h in HEADER if h != "significance"] + ["favourite colour"]
    rows = list(read_chronology_csv(write_csv(tmp_path / "c.csv", [], header=hdr)))
    assert len(rows) == 1 and rows[0].raw is None
    assert [(e.field, e.reason) for e in rows[0].errors] == [("significance", "column missing from the header")]


def test_csv_defaults_fill_columns_the_export_lacks(store: EmbeddedStore, tmp_path: Path) -> None:
    hdr = [h for h in HEADER if h not in ("lawful basis", "statement kind")]
    row = {k: v for k, v in csv_row().items() if k in hdr}
    path = write_csv(tmp_path / "c.csv", [row], header=hdr)
    missing = import_files(store, [path], now=NOW)
    assert missing.rejected == 1 and {e.field for e in missing.errors} >= {"lawful basis", "statement kind"}
    filled = import_files(
        store, [path], now=NOW, csv_defaults={"lawful basis": "public_task", "statement kind": "fact"}
    )
    assert filled.accepted == 1
