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

    nobody = jigsaw("people", "Mia", "--store", store, cwd=tmp_path)
    assert nobody.returncode == 2 and "--as READER" in nobody.stderr
    # the family support worker's own agency shared it: she sees it before any case is open
    fsw = ("--as", "fsw-brookside")
    add = jigsaw("readers", "add", "fsw-brookside", "--agency", "northshire-childrens-centre",
                 "--role", "practitioner", "--store", store, cwd=tmp_path)  # fmt: skip
    assert add.returncode == 0, add.stderr
    found = jigsaw("people", "Mia", "--store", store, "--json", *fsw, cwd=tmp_path)
    people = json.loads(found.stdout)
    assert [p["names"] for p in people] == [["Mia Walsh"]]
    pid = people[0]["person_id"]

    # a school DSL sees nothing until she is on Mia's case
    assert jigsaw("readers", "add", "dsl", "--agency", "hollybank-primary-school",
                  "--role", "designated_safeguarding_lead", "--store", store, cwd=tmp_path).returncode == 0  # fmt: skip
    assert jigsaw("people", "Mia", "--store", store, "--as", "dsl", cwd=tmp_path).returncode == 1
    assert jigsaw("cases", "open", "NCS-1", pid, "--store", store, cwd=tmp_path).returncode == 0
    assert jigsaw("cases", "add-member", "NCS-1", "dsl", "--store", store, cwd=tmp_path).returncode == 0
    table = jigsaw("chronology", "Mia Walsh", "--store", store, "--as", "dsl", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"Chronology of Mia Walsh \({pid}\): 1 event *\n", table.stdout)
    # the neighbour is identity protected: the school sees a pseudonym, not who she is
    assert "identity protected" in table.stdout

    verify = jigsaw("audit", "verify", "--store", store, cwd=tmp_path)
    assert verify.returncode == 0 and "intact" in verify.stdout
    who = jigsaw("audit", "who-saw", pid, "--store", store, cwd=tmp_path)
    assert "dsl" in who.stdout and "read.chronology" in who.stdout

    as_json = json.loads(jigsaw("chronology", pid, "--store", store, "--format", "json", *fsw, cwd=tmp_path).stdout)
    assert as_json["lines"][0]["when"] == "19 Nov 2026 09:30"

    out = tmp_path / "mia.csv"
    assert (
        jigsaw("chronology", pid, "--store", store, "--format", "csv", "-o", str(out), *fsw, cwd=tmp_path).returncode
        == 0
    )
    assert out.read_text(encoding="utf-8-sig").startswith("date,precision")

    bad = jigsaw("chronology", pid, "--store", store, "--from", "19/11/2026", *fsw, cwd=tmp_path)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr

    # the school asks the children's centre; the centre shares the record, with reasons
    ask = jigsaw("share", "request", "--as", "dsl", "--holder", "northshire-childrens-centre", "--person", pid,
                 "--need", "what the visit found", "--store", store, cwd=tmp_path)  # fmt: skip
    assert ask.returncode == 0, ask.stderr
    request_id = ask.stdout.split()[1]
    fid = as_json["lines"][0]["sources"][0]["fragment_id"]
    refused = jigsaw("share", "decide", request_id, "--as", "dsl", "--outcome", "share_in_full", "--necessity", "n",
                 "--proportionality", "p", "--lawful-basis", "public_task", "--fragment", fid,
                 "--store", store, cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 2 and "decided_by" in refused.stderr  # only the agency asked decides
    ok = jigsaw("share", "decide", request_id, "--as", "fsw-brookside", "--outcome", "share_in_full",
                "--necessity", "the school must know", "--proportionality", "this visit only",
                "--lawful-basis", "public_task", "--fragment", fid, "--store", store, cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    told = jigsaw("audit", "disclosures", "--store", store, cwd=tmp_path)
    assert "share.decision" in told.stdout and "hollybank" in told.stdout


def test_schema_prints_json_schema(tmp_path: Path) -> None:
    res = jigsaw("schema", cwd=tmp_path)
    schema = json.loads(res.stdout)
    assert schema["title"] == "Fragment" and "record_ref" in schema["required"]


def test_help_speaks_plainly(tmp_path: Path) -> None:
    res = jigsaw("--help", cwd=tmp_path)
    assert res.returncode == 0
    for command in ("init", "ingest", "people", "chronology", "schema", "demo", "readers", "cases", "tokens", "audit"):
        assert command in res.stdout
