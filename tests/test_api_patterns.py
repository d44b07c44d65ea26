"""Patterns over HTTP: the library, one person's flags, the ranked scan, errors, audit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_server import Server, demo_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("api-patterns")) as s:
        yield s


def mia(srv: Server, reader: str = "sw-northshire-118") -> str:
    with srv.client(reader) as c:
        found = c.get("/people", params={"q": "Mia Walsh"}).json()["items"]
    return next(p["person_id"] for p in found if "2019-03-14" in p["dobs"])


def test_the_library_lists_each_pattern_with_its_parameters(srv: Server) -> None:
    with srv.client("analyst-partnership", "analysis") as c:
        r = c.get("/patterns")
    assert r.status_code == 200
    body = {p["name"]: p for p in r.json()}
    assert "repeat_after_closure" in body and len(body) == 9
    params = {x["name"]: x for x in body["multi_agency_concerns"]["parameters"]}
    assert params["window_days"]["default"] == 90 and params["window_days"]["description"]


def test_a_case_member_gets_flags_for_the_child(srv: Server) -> None:
    pid = mia(srv)
    with srv.client("sw-northshire-118") as c:
        r = c.post(f"/patterns/people/{pid}", json={"patterns": ["repeat_after_closure", "multi_agency_concerns"]})
    assert r.status_code == 200, r.text
    flags = r.json()["flags"]
    assert {f["pattern"] for f in flags} == {"repeat_after_closure", "multi_agency_concerns"}
    assert all(f["child"] == pid and not f["pseudonymised"] for f in flags)
    assert any(e["fragment_id"] for f in flags for e in f["evidence"])


def test_an_analyst_scan_is_ranked_pseudonymised_and_paged(srv: Server) -> None:
    with srv.client("analyst-partnership", "analysis") as c:
        r = c.post("/patterns/scan", params={"limit": 2}, json={})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) == 2 and page["next"]
        r2 = c.post(page["next"], json={})
        assert r2.status_code == 200
        allr = c.post("/patterns/scan", params={"limit": 500}, json={}).json()["items"]
    assert [f["child"] for f in allr[:2]] == [f["child"] for f in page["items"]]
    assert allr[2:4] == r2.json()["items"]
    ranks = [{"high": 3, "medium": 2, "low": 1}[f["severity"]] for f in allr]
    assert ranks == sorted(ranks, reverse=True)
    text = r.text + r2.text
    assert "Walsh" not in text and "Mia" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    for f in allr:
        assert f["pseudonymised"] and f["child"].startswith("C-")
        assert all(e["summary"] is None for e in f["evidence"])


def test_bad_parameters_are_problems_naming_the_field(srv: Server) -> None:
    pid = mia(srv)
    with srv.client("sw-northshire-118") as c:
        r = c.post(f"/patterns/people/{pid}", json={"patterns": ["nope"]})
        assert r.status_code == 422
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "patterns"
        r = c.post(f"/patterns/people/{pid}", json={"params": {"escalation": {"ratio": "x"}}})
        assert r.status_code == 422 and "ratio" in r.json()["detail"]
        assert r.json()["errors"][0]["field"] == "params"
        r = c.post(f"/patterns/people/{pid}", json={"surprise": 1})
        assert r.status_code == 422


def test_a_person_the_caller_cannot_see_is_not_found(srv: Server) -> None:
    pid = mia(srv)
    with srv.client("officer-housing-7") as c:
        r = c.post(f"/patterns/people/{pid}", json={})
    assert r.status_code == 404


def test_runs_need_a_content_purpose_and_are_audited(srv: Server, tmp_path: Path) -> None:
    with srv.client("admin-partnership", "administration") as c:
        assert c.post("/patterns/scan", json={}).status_code == 403
    before = len(srv.store.audit_entries(actor="analyst-partnership", limit=1000))
    with srv.client("analyst-partnership", "analysis") as c:
        c.post("/patterns/scan", json={"patterns": ["escalation"], "params": {"escalation": {"ratio": 1.5}}})
    entries = srv.store.audit_entries(actor="analyst-partnership", limit=1000)
    assert len(entries) == before + 1
    assert entries[-1].action == "read.patterns_scan"
    assert entries[-1].detail["params"] == {"escalation": {"ratio": 1.5}}


# ------------------------------------------------------------------ on Neo4j (issue 8)


def test_the_pattern_routes_answer_alike_on_the_neo4j_backend(tmp_path: Path) -> None:
    """The same demo on the embedded store and on the Neo4j backend (statement emulator),
    with one pseudonym key: each route, and the chronology page's flags, answer alike."""
    from api.cli import _DEMO_ACCESS
    from tests.api_server import serve
    from tests.test_backends import _demo, _open

    ref = _demo(_open("embedded", tmp_path))
    neo = _demo(_open("neo4j-emulated", tmp_path))
    neo.set_pseudonym_key("admin", ref.pseudonym_key)  # type: ignore[attr-defined]
    answers: list[dict[str, object]] = []
    try:
        for s in (ref, neo):
            tokens = {rid: s.issue_token("test", rid)[1] for rid, *_ in _DEMO_ACCESS}
            got: dict[str, object] = {}
            with serve(s) as base:
                srv = Server(base, s, tokens)
                pid = mia(srv)
                with srv.client("sw-northshire-118") as c:
                    r = c.post(f"/patterns/people/{pid}", json={"params": {"long_silence": {"as_of": "2026-11-23"}}})
                    assert r.status_code == 200, r.text
                    got["run"] = r.json()
                    page = c.get(f"/pages/people/{pid}/chronology", headers={"X-Jigsaw-Purpose": "meeting"})
                    assert page.status_code == 200, page.text[:300]
                    got["page"] = re.findall(r'<li class="pattern-flag severity-(\w+)"', page.text)
                with srv.client("analyst-partnership", "analysis") as c:
                    r = c.post("/patterns/scan", params={"limit": 500}, json={})
                    assert r.status_code == 200, r.text
                    got["scan"] = r.json()["items"]
                    got["bad"] = c.post("/patterns/scan", json={"patterns": ["nope"]}).json()
            answers.append(got)
    finally:
        ref.close()
        neo.close()
    assert answers[0] == answers[1]
    assert answers[0]["page"] and answers[0]["scan"]
    assert "repeat_after_closure" in {f["pattern"] for f in answers[0]["run"]["flags"]}  # type: ignore[index]
