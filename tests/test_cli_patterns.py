"""`jigsaw patterns list|run|scan`, run as a real process on the demo store."""

from __future__ import annotations

import json
from pathlib import Path

from api.cli import build_demo
from graph.embedded import EmbeddedStore
from tests.test_cli import jigsaw


def test_patterns_list_run_and_scan(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite"
    build_demo(store)
    s = EmbeddedStore.open(store)
    (mia,) = [p.person_id for p in s.view("sw-northshire-118", "safeguarding").find_people("Mia Walsh")]
    s.close()

    listed = jigsaw("patterns", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0
    assert "repeat_after_closure" in {p["name"] for p in json.loads(listed.stdout)}

    run = jigsaw(
        "patterns", "run", mia, "--store", str(store), "--as", "sw-northshire-118",
        "-p", "repeat_after_closure", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (flag,) = json.loads(run.stdout)
    assert flag["pattern"] == "repeat_after_closure" and flag["child"] == mia

    table = jigsaw("patterns", "run", mia, "--store", str(store), "--as", "sw-northshire-118", cwd=tmp_path)
    assert table.returncode == 0 and "Concern repeated after closure" in table.stdout

    scan = jigsaw(
        "patterns", "scan", "--store", str(store), "--as", "analyst-partnership",
        "--param", "multi_agency_concerns.window_days=60", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    items = json.loads(scan.stdout)["items"]
    assert items and all(f["pseudonymised"] for f in items)
    assert "Walsh" not in scan.stdout

    bad = jigsaw(
        "patterns", "scan", "--store", str(store), "--as", "analyst-partnership", "--param", "x=1", cwd=tmp_path
    )
    assert bad.returncode == 2 and "PATTERN.NAME=VALUE" in bad.stderr
    bad = jigsaw(
        "patterns", "scan", "--store", str(store), "--as", "analyst-partnership",
        "--param", "escalation.ratio=high", cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "ratio" in bad.stderr
