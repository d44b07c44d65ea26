"""The container deployment (docker-compose.yml, Dockerfile, .dockerignore, deploy/), checked
as far as it can be without a Docker daemon.

No image can be built or run where these tests run (no daemon, no registry), so the files
are read with real parsers (PyYAML, dockerfile-parse, python-dotenv) and held to the rules
the deployment promises: images pinned to exact releases, Neo4j healthy before the API
starts, its data on a volume, no password in any committed file, the API non-root with no
capabilities on a read-only filesystem and published on 127.0.0.1 only. Each rule is a
function returning the problems it finds, and each is shown to catch a broken variant, so
a check that passes cannot be one that never looks. When ``docker compose`` is installed,
Compose itself validates the file too (``docker compose config``); otherwise that test
skips and says so.
"""

from __future__ import annotations

import contextlib
import copy
import fnmatch
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from dotenv import dotenv_values

from api.settings import Settings
from graph.embedded import EmbeddedStore
from tests.api_server import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / "neo4j.env.example"

# An exact release: 5.26.12-community, 3.11.14-slim-bookworm, 0.1.0 (not 5, 5.26, latest).
EXACT_TAG = re.compile(r"^\d+\.\d+\.\d+(?:[-.][A-Za-z0-9.-]+)?$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH|KEY", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[?-][^}]*)?\}")
ROOT_USERS = {"", "root", "0"}


# ---------------------------------------------------------------------- reading the files


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def dockerfile(text: str | None = None) -> DockerfileParser:
    """The Dockerfile (or ``text``) parsed. Always from an in-memory copy: a parser given a
    path writes back to that file when its content is set."""
    content = DOCKERFILE.read_text() if text is None else text
    return DockerfileParser(fileobj=io.BytesIO(content.encode()))


def dockerignore_patterns(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out of the build context.

    Docker's rules, simplified: patterns are matched against the path and each of its
    parent folders (excluding a folder excludes what is in it), ``!`` re-includes, the
    last matching pattern wins. fnmatch's ``*`` also matches ``/``, so this errs towards
    "ignored": a COPY source it calls included really is.
    """
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/").removeprefix("./")
        if any(fnmatch.fnmatchcase(c, pat) or fnmatch.fnmatchcase(c, pat.replace("**/", "")) for c in candidates):
            result = not negate
    return result


# ---------------------------------------------------------------------- the rules


def image_problems(image: str) -> list[str]:
    """An image reference must name an exact release (a digest on top is welcome)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"{image}: no tag (that is 'latest')"]
    tag = last.rsplit(":", 1)[1]
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return [f"{image}: malformed digest"]
    if tag == "latest" or not EXACT_TAG.match(tag):
        return [f"{image}: tag {tag!r} is not an exact release (major.minor.patch)"]
    return []


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, description) of every published port."""
    found = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            found.append((str(p.get("host_ip", "")), json.dumps(p)))
            continue
        spec = str(p).split("/")[0]
        if spec.startswith("["):  # [::1]:8000:8000
            host = spec[1 : spec.index("]")]
        else:
            fields = spec.split(":")
            host = fields[0] if len(fields) == 3 else ""
        found.append((host, str(p)))
    return found


def _healthcheck_on(check: dict[str, Any] | None) -> bool:
    if not check or check.get("disable"):
        return False
    test = check.get("test")
    if isinstance(test, str):
        return bool(test.strip()) and test.strip().upper() != "NONE"
    return bool(test) and test[0] != "NONE" and len(test) > 1


def compose_problems(doc: dict[str, Any]) -> list[str]:
    """Everything that breaks the deployment's promises in a compose document."""
    problems: list[str] = []
    services: dict[str, Any] = doc.get("services") or {}
    named_volumes = set((doc.get("volumes") or {}).keys())
    for name in ("neo4j", "api"):
        if name not in services:
            problems.append(f"no {name} service")
    for name, svc in services.items():
        if "image" in svc:
            problems += [f"{name}: {p}" for p in image_problems(str(svc["image"]))]
        elif "build" not in svc:
            problems.append(f"{name}: neither image nor build")
        for host, desc in _ports(svc):
            if host not in ("127.0.0.1", "::1"):
                problems.append(f"{name}: port {desc} is published beyond this host (bind it to 127.0.0.1)")
        for key, value in _env(svc).items():
            if SECRET_NAME.search(key) and value and not INTERPOLATION.search(value):
                problems.append(f"{name}: {key} is written in the compose file (take it from .env)")
        if svc.get("privileged"):
            problems.append(f"{name}: privileged")

    neo = services.get("neo4j") or {}
    if neo:
        if not _healthcheck_on(neo.get("healthcheck")):
            problems.append("neo4j: no healthcheck")
        mounts = {}
        for v in neo.get("volumes") or []:
            source, target = (
                (v.get("source", ""), v.get("target", "")) if isinstance(v, dict) else str(v).split(":")[:2]
            )
            mounts[target] = source
        for target in ("/data", "/logs"):
            source = mounts.get(target)
            if not source:
                problems.append(f"neo4j: nothing mounted on {target} (it would be lost with the container)")
            elif not source.startswith((".", "/")) and source not in named_volumes:
                problems.append(f"neo4j: volume {source} is not declared")
        env = _env(neo)
        auth = env.get("NEO4J_AUTH", "")
        if not re.fullmatch(r"neo4j/\$\{NEO4J_PASSWORD:\?[^}]+\}", auth):
            problems.append("neo4j: NEO4J_AUTH must be neo4j/${NEO4J_PASSWORD:?...} (required, from .env)")
        # the image turns NEO4J_* variables into neo4j.conf settings; Neo4j refuses unknown ones
        for key in env:
            if key != "NEO4J_AUTH" and not re.match(r"^NEO4J_[a-z]", key):
                problems.append(f"neo4j: {key} would become an unknown Neo4j setting")
        if neo.get("env_file"):
            problems.append("neo4j: env_file would hand NEO4J_PASSWORD to Neo4j as a setting")

    api = services.get("api") or {}
    if api:
        dep = (api.get("depends_on") or {}) if isinstance(api.get("depends_on"), dict) else {}
        if (dep.get("neo4j") or {}).get("condition") != "service_healthy":
            problems.append("api: does not wait for neo4j to be healthy (depends_on condition: service_healthy)")
        user = str(api.get("user", ""))
        if user.split(":")[0] in ROOT_USERS:
            problems.append(f"api: runs as root (user: {user!r})")
        if "ALL" not in (api.get("cap_drop") or []):
            problems.append("api: does not drop all capabilities")
        if api.get("cap_add"):
            problems.append("api: adds capabilities")
        if "no-new-privileges:true" not in (api.get("security_opt") or []):
            problems.append("api: no-new-privileges is not set")
        if api.get("read_only") is not True:
            problems.append("api: root filesystem is writable")
        if not _ports(api):
            problems.append("api: no port published")
        env = _env(api)
        if env.get("JIGSAW_BACKEND") != "neo4j":
            problems.append("api: JIGSAW_BACKEND is not neo4j")
        if not re.match(r"^(neo4j|bolt)(\+s|\+ssc)?://neo4j:7687$", env.get("NEO4J_URI", "")):
            problems.append("api: NEO4J_URI does not point at the neo4j service")
        env_files = api.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        paths = [f.get("path") if isinstance(f, dict) else f for f in env_files]
        if ".env" not in paths and "NEO4J_PASSWORD" not in env:
            problems.append("api: gets no NEO4J_PASSWORD (env_file: .env)")
        if api.get("healthcheck", {}).get("disable"):
            problems.append("api: healthcheck disabled")
    return problems


def _stages(df: DockerfileParser) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for ins in df.structure:
        if ins["instruction"] == "FROM":
            stages.append([])
        if stages and ins["instruction"] != "COMMENT":
            stages[-1].append(ins)
    return stages


def _copy_sources(value: str) -> list[str] | None:
    """The sources of a COPY/ADD from the build context; None for COPY --from."""
    words = value.split()
    if any(w.startswith("--from") for w in words):
        return None
    words = [w for w in words if not w.startswith("--")]
    if words and words[0].startswith("["):
        words = json.loads(" ".join(words))
    return words[:-1]


def dockerfile_problems(df: DockerfileParser, ignore: list[str]) -> list[str]:
    problems: list[str] = []
    for image in df.parent_images:
        problems += image_problems(image)
    if not df.baseimage.startswith("python:3.11.") or not df.baseimage.split("@")[0].endswith("-slim-bookworm"):
        problems.append(f"final base {df.baseimage} is not python:3.11.x-slim-bookworm")
    stages = _stages(df)
    if not stages:
        return [*problems, "no FROM"]
    final = stages[-1]
    user: str | None = None
    for ins in final:
        if ins["instruction"] == "USER":
            user = ins["value"].strip()
        if ins["instruction"] in ("CMD", "ENTRYPOINT") and (user is None or user.split(":")[0] in ROOT_USERS):
            problems.append(f"{ins['instruction']} runs as root (no non-root USER before it)")
    if user is None or user.split(":")[0] in ROOT_USERS:
        problems.append("the image's last USER is root")
    checks = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    if not checks or checks[-1].strip().upper() == "NONE" or "/health" not in checks[-1]:
        problems.append("no HEALTHCHECK on /health")
    for ins in final:
        if ins["instruction"] == "RUN" and re.search(r"\b(gcc|g\+\+|clang|build-essential|make)\b", ins["value"]):
            problems.append(f"a compiler in the final image: RUN {ins['value'][:60]}")
    for stage in stages:
        for ins in stage:
            if ins["instruction"] not in ("COPY", "ADD"):
                continue
            for src in _copy_sources(ins["value"]) or []:
                if not (ROOT / src).exists():
                    problems.append(f"COPY {src}: not in the repository")
                elif ignored(src, ignore):
                    problems.append(f"COPY {src}: left out of the build context by .dockerignore")
    return problems


# ---------------------------------------------------------------------- compose


def test_compose_file_keeps_every_promise() -> None:
    assert compose_problems(compose()) == []


def _broken(change: str) -> dict[str, Any]:
    doc = copy.deepcopy(compose())
    neo, api = doc["services"]["neo4j"], doc["services"]["api"]
    if change == "latest":
        neo["image"] = "neo4j:latest"
    elif change == "bare-major":
        neo["image"] = "neo4j:5"
    elif change == "minor-only":
        neo["image"] = "neo4j:5.26-community"
    elif change == "no-tag":
        neo["image"] = "neo4j"
    elif change == "password-literal":
        neo["environment"]["NEO4J_AUTH"] = "neo4j/hunter22secret"
    elif change == "password-optional":
        neo["environment"]["NEO4J_AUTH"] = "neo4j/${NEO4J_PASSWORD:-changeme1}"
    elif change == "password-to-neo4j":
        neo["env_file"] = [".env"]
    elif change == "unknown-setting":
        neo["environment"]["NEO4J_URI"] = "bolt://x"
    elif change == "no-healthcheck":
        del neo["healthcheck"]
    elif change == "healthcheck-disabled":
        neo["healthcheck"] = {"disable": True}
    elif change == "no-data-volume":
        neo["volumes"] = ["neo4j-logs:/logs"]
    elif change == "undeclared-volume":
        neo["volumes"] = ["elsewhere:/data", "neo4j-logs:/logs"]
    elif change == "started-not-healthy":
        api["depends_on"] = {"neo4j": {"condition": "service_started"}}
    elif change == "depends-list":
        api["depends_on"] = ["neo4j"]
    elif change == "root":
        api["user"] = "0:0"
    elif change == "no-user":
        del api["user"]
    elif change == "caps-kept":
        del api["cap_drop"]
    elif change == "cap-added":
        api["cap_add"] = ["NET_ADMIN"]
    elif change == "new-privileges":
        api["security_opt"] = []
    elif change == "writable":
        api["read_only"] = False
    elif change == "published-everywhere":
        api["ports"] = ["8000:8000"]
    elif change == "published-on-all-addresses":
        api["ports"] = ["0.0.0.0:8000:8000"]
    elif change == "long-syntax-everywhere":
        api["ports"] = [{"target": 8000, "published": 8000}]
    elif change == "neo4j-published":
        neo["ports"] = ["7687:7687"]
    elif change == "embedded":
        api["environment"]["JIGSAW_BACKEND"] = "embedded"
    elif change == "no-password-for-api":
        del api["env_file"]
    elif change == "secret-in-api":
        api["environment"]["JIGSAW_SECRET_KEY"] = "abc123"
    else:
        raise AssertionError(change)
    return doc


BROKEN = {
    "latest": "not an exact release",
    "bare-major": "not an exact release",
    "minor-only": "not an exact release",
    "no-tag": "no tag",
    "password-literal": "NEO4J_AUTH is written in the compose file",
    "password-optional": "NEO4J_AUTH must be neo4j/${NEO4J_PASSWORD:?",
    "password-to-neo4j": "env_file would hand NEO4J_PASSWORD",
    "unknown-setting": "NEO4J_URI would become an unknown Neo4j setting",
    "no-healthcheck": "neo4j: no healthcheck",
    "healthcheck-disabled": "neo4j: no healthcheck",
    "no-data-volume": "nothing mounted on /data",
    "undeclared-volume": "volume elsewhere is not declared",
    "started-not-healthy": "does not wait for neo4j to be healthy",
    "depends-list": "does not wait for neo4j to be healthy",
    "root": "runs as root",
    "no-user": "runs as root",
    "caps-kept": "does not drop all capabilities",
    "cap-added": "adds capabilities",
    "new-privileges": "no-new-privileges is not set",
    "writable": "root filesystem is writable",
    "published-everywhere": "published beyond this host",
    "published-on-all-addresses": "published beyond this host",
    "long-syntax-everywhere": "published beyond this host",
    "neo4j-published": "neo4j: port 7687:7687 is published beyond this host",
    "embedded": "JIGSAW_BACKEND is not neo4j",
    "no-password-for-api": "gets no NEO4J_PASSWORD",
    "secret-in-api": "JIGSAW_SECRET_KEY is written in the compose file",
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_each_compose_rule_catches_its_breach(change: str) -> None:
    problems = compose_problems(_broken(change))
    assert any(BROKEN[change] in p for p in problems), problems


def test_images_pinned_exactly() -> None:
    assert image_problems("neo4j:5.26.12-community") == []
    assert image_problems("python:3.11.14-slim-bookworm@sha256:" + "a" * 64) == []
    assert image_problems("registry.example:5000/jigsaw-api:0.1.0") == []
    for bad in ("neo4j:5-community", "python:3.11-slim-bookworm", "registry.example:5000/jigsaw-api", "x:latest"):
        assert image_problems(bad), bad


def test_every_compose_image_is_a_real_pin() -> None:
    images = {n: s["image"] for n, s in compose()["services"].items() if "image" in s}
    assert images["neo4j"].startswith("neo4j:5.26.") and images["neo4j"].endswith("-community")


# ---------------------------------------------------------------------- the password's file


def test_env_example_defines_an_empty_password() -> None:
    values = dotenv_values(ENV_EXAMPLE)
    # an empty value: compose's ${NEO4J_PASSWORD:?...} refuses to start until one is set
    assert "NEO4J_PASSWORD" in values and not values["NEO4J_PASSWORD"]
    # nothing else in it looks like a secret with a value
    assert [k for k, v in values.items() if SECRET_NAME.search(k) and v] == []


def test_env_file_stays_out_of_git_and_the_image() -> None:
    gitignore = dockerignore_patterns((ROOT / ".gitignore").read_text())
    assert ignored(".env", gitignore)
    assert ignored(".env", dockerignore_patterns(DOCKERIGNORE.read_text()))


# ---------------------------------------------------------------------- .dockerignore


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".git/HEAD",
        ".venv/bin/python",
        "node_modules/axe-core/axe.min.js",
        "bench/out/pages.json",
        "jigsaw-data/jigsaw.sqlite",
        "jigsaw-demo/demo.sqlite",
        "somewhere/store.sqlite",
        "store.sqlite-wal",
        "api/__pycache__/app.cpython-311.pyc",
        "tests/artefacts/shot.png",
        ".pytest_cache/v/cache",
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert ignored(path, dockerignore_patterns(DOCKERIGNORE.read_text()))


def test_dockerignore_keeps_the_packages_in() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE.read_text())
    for path in ("pyproject.toml", "README.md", "graph/store.py", "ingest/demo_data", "viz/templates", "api/cli.py"):
        assert not ignored(path, patterns), path


def test_ignore_matching_itself() -> None:
    assert ignored("a/b/c.sqlite", ["*.sqlite"])
    assert ignored("bench/out/x", ["bench/out"])
    assert not ignored("bench/bench_api.py", ["bench/out"])
    assert not ignored("keep.env", ["*.env", "!keep.env"])


# ---------------------------------------------------------------------- Dockerfile


def test_dockerfile_keeps_every_promise() -> None:
    df = dockerfile()
    assert dockerfile_problems(df, dockerignore_patterns(DOCKERIGNORE.read_text())) == []


def test_dockerfile_installs_the_neo4j_extra_that_pyproject_declares() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert [d.replace(" ", "") for d in extras["neo4j"]] == ["neo4j>=5.20,<7"]
    runs = [i["value"] for i in _stages(dockerfile())[0] if i["instruction"] == "RUN"]
    assert any('".[neo4j]"' in r for r in runs), runs


def test_image_user_is_the_compose_user() -> None:
    final = _stages(dockerfile())[-1]
    (user,) = [i["value"].strip() for i in final if i["instruction"] == "USER"]
    assert compose()["services"]["api"]["user"] == user


GOOD = DOCKERFILE.read_text()


DOCKERFILE_BREACHES = {
    # name: (text replaced, replacement, the problem expected)
    "build-base-minor-only": ("python:3.11.14-slim-bookworm AS build", "python:3.11-slim-bookworm AS build", "exact"),
    "final-base-latest": ("FROM python:3.11.14-slim-bookworm\n", "FROM python:latest\n", "exact"),
    "final-base-other-python": ("FROM python:3.11.14-slim-bookworm\n", "FROM python:3.12.12-slim-bookworm\n", "final"),
    "no-user": ("USER 10001:10001\n", "", "runs as root"),
    "root-user": ("USER 10001:10001\n", "USER root\n", "runs as root"),
    "user-after-cmd": ("USER 10001:10001\n", "", "CMD runs as root"),
    "no-healthcheck": ("HEALTHCHECK --interval", "LABEL x=1\n# --interval", "/health"),
    "healthcheck-none": ("HEALTHCHECK --interval", "HEALTHCHECK NONE\n# --interval", "/health"),
    "copy-missing": ("COPY viz ./viz", "COPY vizz ./viz", "COPY vizz: not in the repository"),
    "copy-ignored": ("COPY viz ./viz", "COPY .gitignore ./", "left out of the build context"),
    "compiler": ("EXPOSE 8000\n", "EXPOSE 8000\nRUN apt-get install -y gcc\n", "a compiler in the final image"),
}


@pytest.mark.parametrize("name", sorted(DOCKERFILE_BREACHES))
def test_each_dockerfile_rule_catches_its_breach(name: str) -> None:
    old, new, expect = DOCKERFILE_BREACHES[name]
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    if name == "user-after-cmd":
        text += "USER 10001:10001\n"
    problems = dockerfile_problems(dockerfile(text), dockerignore_patterns(DOCKERIGNORE.read_text()))
    assert any(expect in p for p in problems), problems


# ---------------------------------------------------------------------- settings the API reads


def test_neo4j_settings_come_from_unprefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIGSAW_BACKEND", "neo4j")
    monkeypatch.setenv("NEO4J_URI", "neo4j://neo4j:7687")
    monkeypatch.setenv("NEO4J_USER", "jigsaw-api")
    monkeypatch.setenv("NEO4J_PASSWORD", "correct-horse-battery")
    monkeypatch.setenv("NEO4J_DATABASE", "northshire")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.backend, s.neo4j_uri, s.neo4j_user, s.neo4j_database) == (
        "neo4j",
        "neo4j://neo4j:7687",
        "jigsaw-api",
        "northshire",
    )
    assert s.neo4j_password is not None and s.neo4j_password.get_secret_value() == "correct-horse-battery"
    assert "correct-horse-battery" not in repr(s) and "correct-horse-battery" not in str(s)


def test_neo4j_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NEO4J_URI", "NEO4J_USER", "NEO4J_USERNAME", "NEO4J_PASSWORD", "NEO4J_DATABASE", "JIGSAW_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.backend, s.neo4j_uri, s.neo4j_user, s.neo4j_password, s.neo4j_database) == (
        "embedded",
        None,
        "neo4j",
        None,
        "neo4j",
    )
    monkeypatch.setenv("NEO4J_USERNAME", "from-neo4j-tools")
    assert Settings(_env_file=None).neo4j_user == "from-neo4j-tools"  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"NEO4J_URI": "neo4j://neo4j:7687"}, "NEO4J_PASSWORD"),
        ({"NEO4J_PASSWORD": "correct-horse-battery"}, "NEO4J_URI"),
        ({"NEO4J_URI": "http://neo4j:7474", "NEO4J_PASSWORD": "correct-horse-battery"}, "NEO4J_URI"),
    ],
)
def test_neo4j_backend_refuses_an_incomplete_connection_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str
) -> None:
    for name in ("NEO4J_URI", "NEO4J_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JIGSAW_BACKEND", "neo4j")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValueError) as caught:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert field in str(caught.value)
    assert "correct-horse-battery" not in str(caught.value)


# ---------------------------------------------------------------------- Compose itself


def _compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) or a standalone Compose v2, if either runs here."""
    for cmd in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.search(r"v?2\.\d+", out.stdout):
            return cmd
    return None


def test_compose_validates_the_file(tmp_path: Path) -> None:
    cmd = _compose_command()
    if cmd is None:
        pytest.skip(
            "Compose v2 is not installed here (no `docker compose` plugin, no docker-compose v2), so "
            "docker-compose.yml was checked by this file's own rules but not by `docker compose config`"
        )
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if k != "NEO4J_PASSWORD"}
    # without a password Compose refuses, pointing at the example file
    refused = subprocess.run([*cmd, "config", "-q"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    (tmp_path / ".env").write_text("NEO4J_PASSWORD=correct-horse-battery\n")
    done = subprocess.run([*cmd, "config", "-q"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------- the one-shot demo load

# `docker compose run --rm api jigsaw demo-load` fills the store the API serves (Neo4j there;
# the embedded store here, the only one these tests can reach) and prints the tokens.


def _jigsaw(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from api.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "COLUMNS": "200", "PATH": "/usr/bin:/bin", **env},
        timeout=300,
    )


def _tokens(stdout: str) -> dict[str, str]:
    return {ln.split()[0]: ln.split()[-1] for ln in stdout.splitlines() if ln.startswith("  ") and "jgs_" in ln}


@contextlib.contextmanager
def _server(cwd: Path, *args: str, **env: str) -> Iterator[tuple[str, str]]:
    """A `jigsaw serve` process: its address, and what it printed before it was up."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--port", str(port), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **env},
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Application startup complete" in line:
                break
        else:
            raise AssertionError("".join(seen))
        yield f"http://127.0.0.1:{port}", "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _finds_mia(base: str, token: str) -> bool:
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}
    ) as c:
        r = c.get("/people", params={"q": "Mia Walsh"})
        assert r.status_code == 200, r.text
        return any("2019-03-14" in p["dobs"] for p in r.json()["items"])


def test_demo_load_fills_an_empty_store_once_and_its_tokens_work(tmp_path: Path) -> None:
    store = tmp_path / "region.sqlite"
    env = {"JIGSAW_STORE": str(store)}
    missing = _jigsaw("demo-load", cwd=tmp_path, **env)
    assert missing.returncode == 1 and "jigsaw init" in missing.stderr
    assert _jigsaw("init", cwd=tmp_path, **env).returncode == 0
    loaded = _jigsaw("demo-load", cwd=tmp_path, **env)
    assert loaded.returncode == 0, loaded.stderr
    tokens = _tokens(loaded.stdout)
    assert {"sw-northshire-118", "dsl-hollybank", "admin-partnership", "dpo-northshire"} <= set(tokens)
    with EmbeddedStore.open(store) as s:
        held = s.fragment_count()
    assert held > 0

    # a second load is refused and adds nothing; fresh tokens are a separate, explicit step
    again = _jigsaw("demo-load", cwd=tmp_path, **env)
    assert again.returncode == 2 and f"already holds {held} fragments" in again.stderr
    assert _tokens(again.stdout) == {}
    fresh = _tokens(_jigsaw("demo-load", "--tokens-only", cwd=tmp_path, **env).stdout)
    with EmbeddedStore.open(store) as s:
        assert s.fragment_count() == held

    # the API started on that store (as the compose file starts it: plain `serve`) takes both
    with _server(tmp_path, **env) as (base, _):
        assert _finds_mia(base, tokens["sw-northshire-118"])
        assert _finds_mia(base, fresh["sw-northshire-118"])
        assert not _finds_mia(base, tokens["officer-housing-7"])  # housing is on no case


def test_serve_demo_stays_on_its_demo_file_whatever_the_backend(tmp_path: Path) -> None:
    """`jigsaw serve --demo` on a host configured for Neo4j still serves its own demo file
    (without a Neo4j connection configured, a Neo4j backend could not even start)."""
    proc_env = {"JIGSAW_BACKEND": "neo4j", "NEO4J_URI": "", "NEO4J_PASSWORD": ""}
    port_args = ("--demo", "--store", str(tmp_path / "demo.sqlite"))
    refused = _jigsaw("serve", "--port", "1", cwd=tmp_path, **proc_env)
    assert refused.returncode == 1 and "NEO4J_URI" in refused.stderr  # the plain server needs Neo4j
    with _server(tmp_path, *port_args, **proc_env) as (base, printed):
        assert _finds_mia(base, _tokens(printed)["sw-northshire-118"])
