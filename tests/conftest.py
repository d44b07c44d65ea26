"""Shared fixtures: a real store on a real SQLite file, and a factory of valid fragments."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from graph.embedded import EmbeddedStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = json.loads((ROOT / "docs" / "examples" / "fragment.json").read_text())
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def fragment(**changes: Any) -> dict[str, Any]:
    """A valid raw fragment (the documented example) with top-level keys replaced."""
    doc = copy.deepcopy(EXAMPLE)
    doc.update(copy.deepcopy(changes))
    return doc


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path / "store.sqlite", create=True)
    yield s
    s.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly, at the end of every run, whether the live Neo4j tests ran."""
    from tests.test_backends import LIVE_REASON, live_available

    if live_available():
        terminalreporter.write_line("Neo4j backend: the contract suite ran against the live Neo4j at NEO4J_URI.")
    else:
        terminalreporter.write_line(
            f"Neo4j backend: live tests SKIPPED ({LIVE_REASON}). Checked instead: every Cypher statement with "
            "Neo4j's parser (tests/test_cypher.py) and the backend's code on the statement emulator "
            "(tests/test_backends.py).",
            yellow=True,
        )
