"""The jigsaw command line, run as a real process on real files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, fragment


def jigsaw(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


def test_init_ingest_people_chronology(tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    missing = jigsaw("people", "Walsh", "--store", store, cwd=tmp_path)
    assert missing.returncode == 1 and "jigsaw init" in missing.stderr

    assert jigsaw("init", "--store", store, cwd=tmp_path).returncode == 0
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(fragment()) + "\n" + "{broken\n")
    res = jigsaw("ingest", str(src), "--store", store, cwd=tmp_path)
    assert res.returncode == 1  # one row was rejected
    assert "in.jsonl:2" in res.stderr and "not valid JSON" in res.stderr
    assert (tmp_path / "rejects.jsonl").exists()

    again = jigsaw("ingest", str(src), "--store", store, cwd=tmp_path)
    assert "Already held" in again.stdout

    found = jigsaw("people", "Mia", "--store", store, "--json", cwd=tmp_path)
    people = json.loads(found.stdout)
    assert [p["names"] for p in people] == [["Mia Walsh"]]
    pid = people[0]["person_id"]

    table = jigsaw("chronology", "Mia Walsh", "--store", store, cwd=tmp_path)
    assert table.returncode == 0 and re.search(r"Chronology of Mia Walsh \(P1\): 1 event *\n", table.stdout)

    as_json = json.loads(jigsaw("chronology", pid, "--store", store, "--format", "json", cwd=tmp_path).stdout)
    assert as_json["lines"][0]["when"] == "19 Nov 2026 09:30"

    out = tmp_path / "mia.csv"
    assert jigsaw("chronology", pid, "--store", store, "--format", "csv", "-o", str(out), cwd=tmp_path).returncode == 0
    assert out.read_text(encoding="utf-8-sig").startswith("date,precision")

    bad = jigsaw("chronology", pid, "--store", store, "--from", "19/11/2026", cwd=tmp_path)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


def test_schema_prints_json_schema(tmp_path: Path) -> None:
    res = jigsaw("schema", cwd=tmp_path)
    schema = json.loads(res.stdout)
    assert schema["title"] == "Fragment" and "record_ref" in schema["required"]


def test_help_speaks_plainly(tmp_path: Path) -> None:
    res = jigsaw("--help", cwd=tmp_path)
    assert res.returncode == 0
    for command in ("init", "ingest", "people", "chronology", "schema", "demo"):
        assert command in res.stdout
