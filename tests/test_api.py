"""The HTTP API end to end: the real app on 127.0.0.1 over the demo store, driven with
httpx as each demo reader. Authorisation across agencies in depth is in
test_api_access.py; fuzzing in test_api_fuzz.py; crashes and concurrency in their own files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.embedded import EmbeddedStore
from graph.store import fragment_id
from tests.api_server import Server, demo_server, free_port
from tests.conftest import fragment
from tests.test_access import GP_RECORD, MIA, NOAH

SW, DSL, PC, GP = "sw-northshire-118", "dsl-hollybank", "pc-northshire-2291", "gp-millbrook-lead"
ANALYST, HOUSING, ADMIN, DPO = "analyst-partnership", "officer-housing-7", "admin-partnership", "dpo-northshire"
CENTRE = "northshire-childrens-centre"  # the agency of tests.conftest.fragment()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("api")) as s:
        s.store.put_reader("test", reader_id="fsw-centre", agency=CENTRE, roles=["practitioner"])
        s.tokens["fsw-centre"] = s.store.issue_token("test", "fsw-centre")[1]
        yield s


def person(c: httpx.Client, name: str, dob: str) -> str:
    r = c.get("/people", params={"q": name})
    assert r.status_code == 200, r.text
    (found,) = [p for p in r.json()["items"] if dob in p["dobs"]]
    return str(found["person_id"])


def assert_problem(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """Every error has one shape: RFC 9457 problem details, naming the field."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"} and body["status"] == status
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


# ---------------------------------------------------------------------- the door


def test_health_and_readiness_need_no_token(srv: Server) -> None:
    with httpx.Client(base_url=srv.base) as c:
        assert c.get("/health").json() == {"status": "ok"}
        assert c.get("/ready").json() == {"status": "ready"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic c3c6cHc="},
        {"Authorization": "Bearer jgs_not-a-token-anyone-was-given"},
        {"Authorization": "Bearer a.b.c"},  # a JWT shape with OIDC not configured
    ],
)
def test_no_valid_token_is_401_with_a_challenge(srv: Server, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=srv.base, headers={**headers, "X-Jigsaw-Purpose": "safeguarding"}) as c:
        r = c.get("/people", params={"q": "Walsh"})
    assert_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_or_deactivated_reader_stops_at_once(srv: Server) -> None:
    srv.store.put_reader("test", reader_id="temp-1", agency="northshire-csws", roles=["social_worker"])
    tid, token = srv.store.issue_token("test", "temp-1")
    with httpx.Client(
        base_url=srv.base, headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}
    ) as c:
        assert c.get("/people", params={"q": "Walsh"}).status_code == 200
        srv.store.revoke_token("test", tid)
        assert_problem(c.get("/people", params={"q": "Walsh"}), 401)
    _, token = srv.store.issue_token("test", "temp-1")
    with httpx.Client(
        base_url=srv.base, headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"}
    ) as c:
        srv.store.set_reader_active("test", "temp-1", False)
        assert_problem(c.get("/people", params={"q": "Walsh"}), 401)


def test_a_purpose_must_be_declared_and_fit_the_route(srv: Server) -> None:
    with srv.client(SW, purpose=None) as c:
        assert_problem(c.get("/people", params={"q": "Walsh"}), 422, "X-Jigsaw-Purpose")
        assert c.get("/people", params={"q": "Walsh", "purpose": "meeting"}).status_code == 200
        assert_problem(c.get("/people", params={"q": "Walsh", "purpose": "nosy"}), 422, "purpose")
    with srv.client(SW, purpose="administration") as c:
        assert_problem(c.get("/people", params={"q": "Walsh"}), 403, "X-Jigsaw-Purpose")
    with srv.client(SW, purpose="audit") as c:
        assert_problem(c.get("/audit/verify"), 403)  # a social worker is not the DPO


@pytest.mark.parametrize(
    ("reader", "purpose", "route", "status"),
    [
        (ANALYST, "safeguarding", "POST /fragments", 403),  # analysts read, they do not add records
        (DPO, "safeguarding", "POST /fragments", 403),
        (ADMIN, "safeguarding", "POST /fragments", 403),
        ("fsw-centre", "analysis", "POST /fragments", 403),  # writing is case work
        (SW, "administration", "GET /readers", 403),
        (DPO, "administration", "GET /readers", 403),
        (ADMIN, "administration", "GET /readers", 200),
        (ADMIN, "audit", "GET /audit/verify", 403),
        (DPO, "audit", "GET /audit/verify", 200),
        (ADMIN, "safeguarding", "GET /share-requests", 403),
        (HOUSING, "safeguarding", "GET /share-requests", 200),
    ],
)
def test_each_role_reaches_only_its_routes(srv: Server, reader: str, purpose: str, route: str, status: int) -> None:
    method, path = route.split(" ")
    with srv.client(reader, purpose) as c:
        r = c.post(path, json=fragment(record_ref="ROLE-1")) if method == "POST" else c.get(path)
    assert r.status_code == status, r.text


# ---------------------------------------------------------------------- adding fragments


def test_submit_is_201_durable_and_a_resend_is_a_200_duplicate(srv: Server) -> None:
    doc = fragment(record_ref="API-ONE-1")
    with srv.client("fsw-centre") as c:
        r = c.post("/fragments", json=doc)
        assert r.status_code == 201, r.text
        fid = r.json()["id"]
        assert fid == fragment_id(CENTRE, "API-ONE-1") and r.headers["location"] == f"/fragments/{fid}"
        # durable: another connection to the file sees it the moment 201 is answered
        assert EmbeddedStore.open(srv.store.path).get_fragment(fid) is not None  # type: ignore[attr-defined]
        again = c.post("/fragments", json=doc)
        assert again.status_code == 200 and again.json() == {**r.json(), "status": "duplicate"}
        assert c.get(f"/fragments/{fid}").json()["fragment"]["record_ref"] == "API-ONE-1"


def test_a_reused_reference_with_different_content_is_409(srv: Server) -> None:
    with srv.client("fsw-centre") as c:
        assert c.post("/fragments", json=fragment(record_ref="API-409")).status_code == 201
        r = c.post("/fragments", json=fragment(record_ref="API-409", significance="low"))
    body = assert_problem(r, 409, "record_ref")
    assert "correction" in body["errors"][0]["reason"]


def test_an_invalid_fragment_names_every_field_and_stores_nothing(srv: Server) -> None:
    bad = fragment(record_ref="API-BAD-1")
    bad["people"][0]["dob"] = "2019-02-30"
    bad["people"][1]["nhs"] = "x"
    del bad["sharing"]
    bad["recorded_at"] = "2099-01-01T00:00:00Z"
    with srv.client("fsw-centre") as c:
        body = assert_problem(c.post("/fragments", json=bad), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"people[0].dob", "people[1].nhs", "sharing"} <= fields
    assert "2019-02-30" not in str(body)  # never quotes what was sent
    assert srv.store.get_fragment(fragment_id(CENTRE, "API-BAD-1")) is None
    future = fragment(record_ref="API-BAD-2", recorded_at="2099-01-01T00:00:00Z", shared_at="2099-01-01T00:00:00Z")
    with srv.client("fsw-centre") as c:
        assert_problem(c.post("/fragments", json=future), 422, "recorded_at")


def test_only_your_own_agencys_records(srv: Server) -> None:
    with srv.client(SW) as c:  # a social worker sending the children's centre's record
        assert_problem(c.post("/fragments", json=fragment(record_ref="API-AG-1")), 403, "agency.id")
    assert srv.store.get_fragment(fragment_id(CENTRE, "API-AG-1")) is None


def test_a_batch_goes_in_whole_or_not_at_all(srv: Server) -> None:
    good = [fragment(record_ref=f"API-B-{i}") for i in range(5)]
    bad = [*good[:2], fragment(record_ref="API-B-X", significance="enormous"), *good[2:]]
    with srv.client("fsw-centre") as c:
        body = assert_problem(c.post("/fragments/batch", json={"fragments": bad}), 422)
        assert [(e["index"], e["field"]) for e in body["errors"]] == [(2, "fragments[2].significance")]
        assert all(srv.store.get_fragment(fragment_id(CENTRE, f"API-B-{i}")) is None for i in range(5))
        r = c.post("/fragments/batch", json={"fragments": good})
        assert r.status_code == 201 and r.json()["accepted"] == 5
        assert [i["index"] for i in r.json()["items"]] == list(range(5))
        again = c.post("/fragments/batch", json={"fragments": good})
        assert again.status_code == 200 and again.json()["duplicate"] == 5
        # one reused reference among new ones: a conflict, and the new ones are not stored
        clash = [fragment(record_ref="API-B-NEW"), fragment(record_ref="API-B-0", significance="low")]
        body = assert_problem(c.post("/fragments/batch", json={"fragments": clash}), 409)
        assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "fragments[1].record_ref")]
        assert srv.store.get_fragment(fragment_id(CENTRE, "API-B-NEW")) is None
        assert_problem(c.post("/fragments/batch", json={"fragments": []}), 422, "fragments")


def test_correct_and_withdraw_your_own_record(srv: Server) -> None:
    with srv.client("fsw-centre") as c:
        first = c.post("/fragments", json=fragment(record_ref="API-C-1", significance="low")).json()["id"]
        r = c.post(
            f"/fragments/{first}/supersede",
            json={"reason": "significance was wrong", "fragment": fragment(record_ref="API-C-2")},
        )
        assert r.status_code == 201, r.text
        second = r.json()["id"]
        doc = c.get(f"/fragments/{second}").json()["fragment"]
        assert doc["supersedes"] == {"record_ref": "API-C-1", "reason": "significance was wrong", "retract": False}
        # the first version can only be corrected once; correct the latest
        again = c.post(
            f"/fragments/{first}/supersede", json={"reason": "again", "fragment": fragment(record_ref="API-C-3")}
        )
        assert_problem(again, 422, "supersedes.record_ref")
        r = c.post(
            f"/fragments/{second}/retract",
            json={
                "record_ref": "API-C-4",
                "reason": "entered on the wrong family",
                "author": {"role": "fsw", "id": "1"},
            },
        )
        assert r.status_code == 201, r.text
    with srv.client(SW) as c:
        mia = person(c, *MIA)
        refs = {s["record_ref"] for ln in c.get(f"/people/{mia}/chronology").json()["items"] for s in ln["sources"]}
    assert not refs & {"API-C-1", "API-C-2", "API-C-4"}


def test_another_agencys_record_answers_like_no_record(srv: Server) -> None:
    with srv.client(SW) as c:
        mia = person(c, *MIA)
        police = next(
            s["fragment_id"]
            for ln in c.get(f"/people/{mia}/chronology").json()["items"]
            for s in ln["sources"]
            if s["agency"] == "northshire-police"
        )
    body = {"reason": "mine now", "fragment": fragment(record_ref="API-STEAL")}
    retract = {"record_ref": "API-STEAL-R", "reason": "x", "author": {"role": "fsw", "id": "1"}}
    with srv.client("fsw-centre") as c:
        for action, payload in (("supersede", body), ("retract", retract)):
            theirs = c.post(
                f"/fragments/{police}/supersede" if action == "supersede" else f"/fragments/{police}/retract",
                json=payload,
            )
            nobody = c.post(f"/fragments/F{'0' * 24}/{action}", json=payload)
            assert theirs.status_code == nobody.status_code == 404
            assert theirs.json() == nobody.json()


# ---------------------------------------------------------------------- reading


def test_chronology_filters_pages_and_csv(srv: Server) -> None:
    with srv.client(SW) as c:
        mia = person(c, *MIA)
        full = c.get(f"/people/{mia}/chronology", params={"limit": 500}).json()
        total = full["total"]
        assert total == len(full["items"]) >= 10 and full["next"] is None
        assert full["person"]["person_id"] == mia
        pages, url = [], f"/people/{mia}/chronology?limit=4"
        while url:
            r = c.get(url).json()
            pages += r["items"]
            url = r["next"]
        assert pages == full["items"]
        police = c.get(f"/people/{mia}/chronology", params={"agency": "northshire-police", "limit": 500}).json()
        assert 0 < police["total"] < total
        assert all("northshire-police" in ln["agencies"] for ln in police["items"])
        late = c.get(f"/people/{mia}/chronology", params={"from": "2026-11-01"}).json()["items"]
        assert late and all(ln["end"] >= "2026-11-01" for ln in late)
        opinion = c.get(f"/people/{mia}/chronology", params={"statement": "opinion"}).json()["items"]
        assert all("opinion" in ln["statements"] for ln in opinion)
        assert_problem(
            c.get(f"/people/{mia}/chronology", params={"from": "2026-12-01", "to": "2026-01-01"}), 422, "from"
        )
        assert_problem(c.get(f"/people/{mia}/chronology", params={"concern": "boredom"}), 422, "concern[0]")
        csv = c.get(f"/people/{mia}/chronology", params={"format": "csv", "limit": 500})
        assert csv.headers["content-type"].startswith("text/csv")
        assert len(csv.text.strip().splitlines()) == total + 1
        event = full["items"][0]["event_id"]
        one = c.get(f"/events/{event}").json()
        assert one == full["items"][0]


def test_network_names_people_by_their_ids(srv: Server) -> None:
    with srv.client(SW) as c:
        mia = person(c, *MIA)
        g = c.get(f"/people/{mia}/network").json()
    kinds = {n["kind"] for n in g["nodes"]}
    assert {"person", "event", "fragment", "agency"} <= kinds
    assert f"person:{mia}" in {n["id"] for n in g["nodes"]}
    ids = {n["id"] for n in g["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])


def test_search_pages_and_an_unknown_person_is_404(srv: Server) -> None:
    with srv.client(SW) as c:
        everyone = c.get("/people", params={"q": "Walsh", "limit": 500}).json()["items"]
        first = c.get("/people", params={"q": "Walsh", "limit": 2}).json()
        assert first["items"] == everyone[:2] and first["next"]
        second = c.get(first["next"]).json()
        assert second["items"] == everyone[2:4]
        assert_problem(c.get("/people/P0000000000000000-0"), 404, "person_id")
        assert_problem(c.get("/people/not-an-id"), 422, "person_id")
    with srv.client(HOUSING) as c:  # not involved: finds nobody
        assert c.get("/people", params={"q": "Walsh"}).json()["items"] == []


# ---------------------------------------------------------------------- sharing


def test_a_request_a_decision_and_the_release(srv: Server) -> None:
    gp_fid = fragment_id(*GP_RECORD)
    with srv.client(DSL) as dsl:
        noah = person(dsl, *NOAH)
        before = dsl.get(f"/fragments/{gp_fid}").json()
        assert before["held_back"] is True and before["fragment"] is None
        r = dsl.post(
            "/share-requests",
            json={
                "holder_agency": "millbrook-surgery",
                "person_id": noah,
                "purpose": "safeguarding",
                "need": "Missed appointments: we need to know whether health has concerns for the plan.",
                "urgency": "within_24_hours",
            },
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        # the requester cannot decide their own request
        assert_problem(dsl.post(f"/share-requests/{rid}/decisions", json=_decision([gp_fid])), 403)
    with srv.client(HOUSING) as other:  # not a party: as if there were no such request
        theirs, nobody = other.get(f"/share-requests/{rid}"), other.get("/share-requests/R000000000000")
        assert theirs.status_code == nobody.status_code == 404 and theirs.json() == nobody.json()
        assert rid not in str(other.get("/share-requests").json())
    with srv.client(GP) as gp:
        assert rid in [x["id"] for x in gp.get("/share-requests").json()["items"]]
        # releasing another agency's record answers as for no record
        assert_problem(gp.post(f"/share-requests/{rid}/decisions", json=_decision([f"F{'0' * 24}"])), 404, "released")
        r = gp.post(f"/share-requests/{rid}/decisions", json=_decision([gp_fid]))
        assert r.status_code == 201, r.text
        assert r.json()["released"] == [gp_fid]
    with srv.client(DSL) as dsl:
        detail = dsl.get(f"/share-requests/{rid}").json()
        assert [d["outcome"] for d in detail["decisions"]] == ["share_in_full"]
        after = dsl.get(f"/fragments/{gp_fid}").json()
        assert after["held_back"] is False and after["fragment"]["record_ref"] == GP_RECORD[1]
    with srv.client(DSL, "meeting") as dsl:  # released for safeguarding, not for a meeting
        assert dsl.get(f"/fragments/{gp_fid}").json()["held_back"] is True


def _decision(released: list[str]) -> dict[str, Any]:
    return {
        "outcome": "share_in_full",
        "necessity": "The school needs it to keep the child safe at school.",
        "proportionality": "One record, to the DSL only.",
        "lawful_basis": "public_task",
        "released": released,
        "family_told": False,
        "family_not_told_reason": "Telling the family could put the child at risk.",
    }


# ---------------------------------------------------------------------- administration and audit


def test_an_administrator_manages_readers_tokens_and_cases(srv: Server) -> None:
    with srv.client(ADMIN, "administration") as a:
        r = a.put(
            "/readers/hv-north-3", json={"agency": "northshire-health-visiting", "roles": ["health_professional"]}
        )
        assert r.status_code == 200 and r.json()["active"] is True
        assert_problem(a.put("/readers/hv-north-4", json={"agency": "x", "roles": ["wizard"]}), 422, "roles[0]")
        issued = a.post("/readers/hv-north-3/tokens", json={}).json()
        listed = a.get("/readers/hv-north-3/tokens").json()["items"]
        assert [t["id"] for t in listed] == [issued["token_id"]] and "token" not in listed[0]
        with httpx.Client(
            base_url=srv.base,
            headers={"Authorization": f"Bearer {issued['token']}", "X-Jigsaw-Purpose": "safeguarding"},
        ) as hv:
            assert hv.get("/people", params={"q": "Walsh"}).json()["items"] == []  # on no case yet
            a.put("/cases/NCS-WALSH-1/members/hv-north-3")
            assert hv.get("/people", params={"q": "Mia Walsh"}).json()["items"]
            assert a.delete(f"/tokens/{issued['token_id']}").status_code == 204
            assert_problem(hv.get("/people", params={"q": "Walsh"}), 401)
        assert_problem(a.delete("/tokens/T000000000000"), 404)
        assert_problem(a.get("/readers/nobody-here"), 404)


def test_the_data_protection_officer_sees_who_saw_what_and_why(srv: Server) -> None:
    with srv.client(SW, "meeting") as c:
        mia = person(c, *MIA)
        c.get(f"/people/{mia}/chronology")
        c.get(f"/people/{mia}/chronology", params={"format": "csv"})
    with srv.client(DPO, "audit") as d:
        assert d.get("/audit/verify").json()["ok"] is True
        saw = d.get(f"/audit/who-saw/{mia}", params={"limit": 500}).json()["items"]
        mine = [(e["actor"], e["action"], e["purpose"]) for e in saw]
        assert (SW, "read.chronology", "meeting") in mine and (SW, "disclosure.export", "meeting") in mine
        disclosed = d.get("/audit/disclosures", params={"person_id": mia}).json()["items"]
        assert any(e["action"] == "disclosure.export" and e["actor"] == SW for e in disclosed)
        page = d.get("/audit/entries", params={"limit": 5, "actor": SW}).json()
        assert len(page["items"]) == 5 and page["next"]
        after = d.get(page["next"]).json()["items"]
        assert after[0]["seq"] > page["items"][-1]["seq"]
        assert_problem(d.get("/audit/entries", params={"since": "last tuesday"}), 422, "since")
        # the DPO's own queries are in the audit too
        own = d.get("/audit/entries", params={"actor": DPO, "limit": 500}).json()["items"]
        assert {e["action"] for e in own} == {"audit.query"}


# ---------------------------------------------------------------------- limits and the docs


def test_body_size_and_depth_limits_and_bad_json(srv: Server) -> None:
    with srv.client("fsw-centre") as c:
        big = c.post("/fragments", content=b" " * (9 * 1024 * 1024), headers={"content-type": "application/json"})
        assert_problem(big, 413)
        deep = c.post("/fragments", content=b"[" * 40 + b"]" * 40, headers={"content-type": "application/json"})
        assert_problem(deep, 422, "(body)")
        very_deep = c.post(
            "/fragments", content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"}
        )
        assert_problem(very_deep, 422, "(body)")
        assert_problem(c.post("/fragments", content=b"{not json", headers={"content-type": "application/json"}), 422)


def test_unknown_routes_and_methods_are_problems_too(srv: Server) -> None:
    with srv.client(SW) as c:
        assert_problem(c.get("/nothing-here"), 404)
        assert_problem(c.delete("/people"), 405)


def test_the_docs_page_works_offline(srv: Server) -> None:
    with httpx.Client(base_url=srv.base) as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "//cdn" not in page.text and "https://" not in page.text.replace("https://fastapi", "")
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
            assert f"/docs-assets/{asset}" in page.text
            assert c.get(f"/docs-assets/{asset}").status_code == 200
        schema = c.get("/openapi.json").json()
        assert {"/fragments", "/fragments/batch", "/people/{person_id}/chronology", "/share-requests"} <= set(
            schema["paths"]
        )
        assert "content-security-policy" in page.headers


def test_jigsaw_serve_demo_prints_tokens_and_where_to_go(tmp_path: Path) -> None:
    """The README's main command: the server starts with the demo and says where to go."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from api.cli import main; main()", "serve", "--demo", "--port", str(port),
         "--store", str(tmp_path / "demo.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "COLUMNS": "200"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if "Application startup complete" in line:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/docs" in text
        token = next(ln.split()[-1] for ln in lines if ln.strip().startswith(SW))
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}", "X-Jigsaw-Purpose": "safeguarding"},
        ) as c:
            assert person(c, *MIA).startswith("P")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
