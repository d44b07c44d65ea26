"""The repository's shape: four real packages, one-way imports, README and CI in step."""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graph", "ingest", "api", "viz")
# what each package may import from this project
ALLOWED = {"graph": set(), "ingest": {"graph"}, "api": {"graph", "ingest", "viz"}, "viz": {"graph", "ingest"}}


@pytest.mark.parametrize("name", PACKAGES)
def test_package_resolves_to_this_repository(name: str) -> None:
    mod = importlib.import_module(name)
    assert mod.__file__ is not None
    assert Path(mod.__file__).resolve().parent == ROOT / name


@pytest.mark.parametrize("name", PACKAGES)
def test_imports_go_one_way(name: str) -> None:
    bad = []
    for path in (ROOT / name).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            for m in mods:
                top = m.split(".")[0]
                if top in PACKAGES and top != name and top not in ALLOWED[name]:
                    bad.append(f"{path.relative_to(ROOT)} imports {m}")
    assert bad == []


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = [line for line in ci if line.startswith("python3 -m venv")]
    assert len(command) == 1
    readme = (ROOT / "README.md").read_text()
    assert f"    {command[0]}\n" in readme


def test_console_script_and_package_discovery() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["jigsaw"] == "api.cli:main"
    include = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    assert sorted(include) == sorted([p for name in PACKAGES for p in (name, f"{name}.*")])


def test_example_fragment_is_linked_and_valid() -> None:
    from ingest.validate import check_fragment
    from tests.conftest import EXAMPLE, NOW

    assert "docs/examples/fragment.json" in (ROOT / "README.md").read_text()
    assert check_fragment(EXAMPLE, now=NOW)[1] == []
