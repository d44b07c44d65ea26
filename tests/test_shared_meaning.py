"""Shared meaning (issue 9), as a case file would tell it.

A children's centre family support worker records a home visit in the words people use
("CP", "s47", "HV", a new acronym nobody defined, "mum said", "appears to"). The record
goes in; the author is told what may be read differently. The social worker and the
school's DSL read it; the social worker acknowledges it as understood, the DSL asks what
an acronym means; the centre sees what is outstanding. The centre corrects the record:
exactly those who read it are told, in the app and by a signed webhook to their agency's
own system, and no notice shows more than its reader may see now.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.cli import matcher
from api.webhooks import deliver_due, verify
from ingest.generate import generate
from ingest.glossary import GlossaryError, find_terms, load_glossary, shipped_glossary, terms_used
from ingest.meaning import warnings_for
from ingest.pipeline import import_docs
from ingest.statements import opinion_markers, slow_markers
from tests.api_server import Server, demo_server, served
from tests.conftest import fragment
from tests.test_backends import BACKENDS, _demo, _open

SW, DSL, PC, GP = "sw-northshire-118", "dsl-hollybank", "pc-northshire-2291", "gp-millbrook-lead"
ADMIN = "admin-partnership"
CENTRE, FSW = "northshire-childrens-centre", "fsw-centre"

NARRATIVE = (
    "Planned HV with the family support worker. CP plan discussed: mum said the s47 enquiry was "
    "closed NFA last month. Noah appears to be underweight; GP to be told. Referred to the "
    "local QRTZ panel. WALSH household known to the PCSO. DO NOT TELL FAMILY about the MARAC."
)


# ---------------------------------------------------------------------- the glossary


def test_the_shipped_glossary_is_large_and_every_term_has_a_meaning_and_agencies() -> None:
    g = shipped_glossary()
    assert len(g) >= 80
    for needed in ("NFA", "s17", "s47", "CIN", "CP", "CLA", "LAC", "CSE", "CCE", "DA", "DV", "MARAC", "MASH"):
        assert needed in g, needed
    for needed in ("EHA", "DSL", "LADO", "HV", "ED", "A&E", "PNC"):
        assert needed in g, needed
    cp = g.get("CP")
    assert cp is not None and cp.ambiguous and "cerebral palsy" in cp.alternatives[0].meaning.lower()


def test_terms_in_a_realistic_narrative_ambiguous_and_unknown_flagged() -> None:
    hits = find_terms(NARRATIVE, ignore=["Noah Walsh", "Leanne Walsh"])
    by = {h.term: h for h in hits}
    assert by["CP"].kind == "ambiguous" and by["HV"].kind == "ambiguous"
    assert by["s47"].kind == "known" and by["NFA"].kind == "known" and by["MARAC"].kind == "known"
    assert by["GP"].meaning and by["PCSO"].meaning
    assert by["QRTZ"].kind == "unknown" and by["QRTZ"].meaning is None
    # a surname in capitals, and words in capitals for emphasis, are not jargon
    assert "WALSH" not in by and "TELL" not in by and "FAMILY" not in by
    # in the order written
    assert [h.start for h in hits] == sorted(h.start for h in hits)


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Section 47 enquiry opened", ["s47"]),
        ("S47 strategy discussion", ["s47"]),
        ("s.47 and s17 both considered", ["s47", "s17"]),
        ("seen in A&E overnight", ["A&E"]),
        ("the cp notes were lost", []),  # "cp" in small letters is not "CP"
        ("CPP agreed at the ICPC", ["CPP", "ICPC"]),  # not "CP" inside "CPP"
        ("ACEs screening done", ["ACEs"]),
    ],
)
def test_matching_rules(text: str, terms: list[str]) -> None:
    assert [h.term for h in find_terms(text)] == terms


def test_a_deployment_extends_and_overrides_the_glossary(tmp_path: Path) -> None:
    extra = tmp_path / "local.toml"
    extra.write_text(
        '[[term]]\nterm = "QRTZ"\nmeaning = "Quarterly risk triage zone panel (Northshire)"\n'
        'agencies = ["social_care"]\n'
        '[[term]]\nterm = "NFA"\nmeaning = "No further action (Northshire usage)"\nagencies = ["police"]\n'
    )
    g = load_glossary(extra)
    by = {h.term: h for h in find_terms(NARRATIVE, g)}
    assert by["QRTZ"].kind == "known" and "Quarterly" in (by["QRTZ"].meaning or "")
    assert by["NFA"].meaning == "No further action (Northshire usage)"
    assert len(g) == len(shipped_glossary()) + 1


@pytest.mark.parametrize(
    ("body", "term", "field"),
    [
        ('[[term]]\nterm = "ZZ"\nmeaning = "x"\nagencies = ["police"]\n', "ZZ", "meaning"),
        ('[[term]]\nterm = "ZZ"\nmeaning = "Zed zed"\nagencies = ["the moon"]\n', "ZZ", "agencies.0"),
        ('[[term]]\nterm = "ZZ"\nmeaning = "Zed zed"\nagencies = ["police"]\ncolour = "red"\n', "ZZ", "colour"),
        ('[[term]]\nmeaning = "Zed zed"\nagencies = ["police"]\n', "#1", "term"),
        ('[[term]]\nterm = "ZZ"\nmeaning = "Zed zed"\nagencies = ["police"]\nforms = ["Z.Z."]\n', "ZZ", "forms"),
    ],
)
def test_a_bad_glossary_file_names_the_term_and_the_field(tmp_path: Path, body: str, term: str, field: str) -> None:
    bad = tmp_path / f"bad-{abs(hash(body))}.toml"
    bad.write_text(body)
    with pytest.raises(GlossaryError) as e:
        load_glossary(bad)
    assert e.value.term == term and e.value.field == field and str(bad.name) in str(e.value)


def test_terms_used_lists_each_term_once_with_its_meaning() -> None:
    used = terms_used(["CP plan agreed", "CP and CIN", "QRTZ"])
    assert [u.term for u in used] == ["CIN", "CP", "QRTZ"]


# ---------------------------------------------------------------------- fact or opinion


def test_opinion_and_hearsay_in_a_fact_are_flagged_and_not_in_an_opinion() -> None:
    found = opinion_markers(NARRATIVE, "fact")
    assert ("hearsay", "mum said") in [(m.reads_as, m.words) for m in found]
    assert ("opinion", "appears to") in [(m.reads_as, m.words) for m in found]
    assert opinion_markers(NARRATIVE, "opinion") == []
    assert opinion_markers("Home visit. Both children seen and spoken to alone; home warm and clean.", "fact") == []


_PIECES = [
    "Mum said", "mother stated", "I think", "appears to", "seemed like", "according to", "allegedly",
    "may have been", "was told", "it is reported", "I'm worried that", "step-father claims", "heard that",
    "the child", "home", "visit", "and", "not", "CP", "Nan says", "we believe", "in my view", "likely",
    "looks as if", "had been informed", "school reported", "gut feeling", "understood from", "it was felt",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from([" ", ". ", ", ", "; ", "\n", "-"])), max_size=12))
def test_opinion_markers_fast_path_finds_exactly_what_the_slow_reference_finds(parts: list[tuple[str, str]]) -> None:
    text = "".join(p + sep for p, sep in parts)
    assert opinion_markers(text, "fact") == slow_markers(text, "fact")


def test_opinion_markers_fast_path_on_generated_narratives() -> None:
    for doc in generate(400, seed=11):
        for text in ((doc.get("event") or {}).get(k) or "" for k in ("summary", "narrative", "action_taken")):
            assert opinion_markers(text + " " + NARRATIVE, "fact") == slow_markers(text + " " + NARRATIVE, "fact")


def test_warnings_for_a_fragment_cover_terms_and_statement_kind() -> None:
    doc = fragment(record_ref="W-1")
    doc["event"]["narrative"] = NARRATIVE
    codes = {(w.code, w.words) for w in warnings_for(doc)}
    assert {("ambiguous_term", "CP"), ("unknown_term", "QRTZ"), ("reads_as_hearsay", "mum said")} <= codes
    assert ("reads_as_opinion", "appears to") in codes
    assert not any(w.words == "WALSH" for w in warnings_for(doc))  # a name the record mentions


def test_the_import_summary_carries_the_warnings(tmp_path: Path) -> None:
    from graph.embedded import EmbeddedStore

    doc = fragment(record_ref="IMP-1")
    doc["event"]["narrative"] = NARRATIVE
    with EmbeddedStore.open(tmp_path / "s.sqlite", create=True) as s:
        summary = import_docs(s, [doc])
    assert summary.accepted == 1
    assert {w.code for w in summary.warnings} >= {"ambiguous_term", "unknown_term", "reads_as_hearsay"}
    assert all(w.line == 1 and w.source == "(api)" for w in summary.warnings)


# ---------------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module", params=BACKENDS)
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo served over HTTP, on each backend (tests/test_backends.py): everything
    below runs through the API on the embedded store and on the Neo4j backend alike."""
    folder = tmp_path_factory.mktemp("meaning")
    with contextlib.ExitStack() as stack:
        if request.param == "embedded":
            s = stack.enter_context(demo_server(folder))
        else:
            store = _demo(_open(request.param, folder, matcher()))
            stack.callback(store.close)
            s = stack.enter_context(served(store))
        s.store.put_reader("test", reader_id=FSW, agency=CENTRE, roles=["practitioner"])
        s.tokens[FSW] = s.store.issue_token("test", FSW)[1]
        yield s


def _visit(ref: str, narrative: str = NARRATIVE, **changes: Any) -> dict[str, Any]:
    doc = fragment(record_ref=ref, **changes)
    doc["event"]["narrative"] = narrative
    return doc


def test_submitting_answers_with_warnings_not_a_refusal(srv: Server) -> None:
    with srv.client(FSW) as c:
        r = c.post("/fragments", json=_visit("SM-WARN-1"))
        assert r.status_code == 201, r.text
        warnings = r.json()["warnings"]
        flags = c.get(f"/fragments/{r.json()['id']}/flags")
    assert {(w["code"], w["words"]) for w in warnings} >= {
        ("ambiguous_term", "CP"),
        ("unknown_term", "QRTZ"),
        ("reads_as_hearsay", "mum said"),
        ("reads_as_opinion", "appears to"),
    }
    assert all(w["field"].startswith("event.") for w in warnings)
    assert flags.status_code == 200 and flags.json()["warnings"] == warnings
    assert {t["term"] for t in flags.json()["terms"]} >= {"CP", "s47", "NFA", "QRTZ"}


def test_the_author_confirms_a_flagged_fact_and_the_answer_is_kept(srv: Server) -> None:
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-FACT-1")).json()["id"]
        r = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "confirmed_fact", "text": "seen myself"})
        assert r.status_code == 201, r.text
        assert c.get(f"/fragments/{fid}/flags").json()["answers"][0]["text"] == "seen myself"
    with srv.client(SW) as c:  # only the author's agency may confirm it
        r = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "confirmed_fact"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    entries = srv.store.audit_entries(action_prefix="acknowledgement.")
    assert any(e.detail.get("fragments") == [fid] and e.detail["kind"] == "confirmed_fact" for e in entries)
    assert all("seen myself" not in json.dumps(e.detail) for e in entries)  # the words stay out of the audit


def test_read_and_understood_and_a_query_for_two_agencies(srv: Server) -> None:
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-ACK-1")).json()["id"]
    for reader in (SW, DSL):
        with srv.client(reader) as c:
            assert c.get(f"/fragments/{fid}").status_code == 200
    with srv.client(FSW) as c:
        out = {(o["subject"], o["to_agency"]): o for o in c.get("/acknowledgements/outstanding").json()["items"]}
    assert out[(fid, "northshire-csws")]["status"] == "unacknowledged"
    assert out[(fid, "hollybank-primary-school")]["status"] == "unacknowledged"
    assert out[(fid, "northshire-csws")]["significance"] == "high"
    with srv.client(SW) as c:
        r = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "understood"})
        assert r.status_code == 201 and r.json()["agency"] == "northshire-csws"
    with srv.client(DSL) as c:
        empty = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "query"})
        assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "text"
        q = c.post("/acknowledgements", json={"subject": fid, "kind": "query", "text": "What is QRTZ?"})
        assert q.status_code == 201, q.text
    with srv.client(FSW) as c:
        out = {(o["subject"], o["to_agency"]): o for o in c.get("/acknowledgements/outstanding").json()["items"]}
        listed = c.get(f"/fragments/{fid}/acknowledgements").json()
    assert (fid, "northshire-csws") not in out
    assert out[(fid, "hollybank-primary-school")]["status"] == "query"
    assert out[(fid, "hollybank-primary-school")]["query"] == "What is QRTZ?"
    assert [(a["reader_id"], a["kind"]) for a in listed] == [(SW, "understood"), (DSL, "query")]
    with srv.client(DSL) as c:  # the query answered: the school now says understood
        assert c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "understood"}).status_code == 201
    with srv.client(FSW) as c:
        subjects = {o["subject"] for o in c.get("/acknowledgements/outstanding").json()["items"]}
    assert fid not in subjects


def test_only_those_who_may_read_it_may_acknowledge(srv: Server) -> None:
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-ACK-2")).json()["id"]
        own = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "understood"})
        assert own.status_code == 422  # its own author's agency
    with srv.client("officer-housing-7") as c:  # housing is not on the case
        r = c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "understood"})
        nothing = c.post(f"/fragments/F{'0' * 24}/acknowledgements", json={"kind": "understood"})
    assert r.status_code == 404 and nothing.status_code == 404
    assert r.json()["detail"] == nothing.json()["detail"]  # no different from no such record


def test_a_share_decision_is_acknowledged_by_the_agency_that_asked(srv: Server) -> None:
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-SHARE-1", markings={"audience": "originating_agency"})).json()["id"]
    with srv.client(SW) as c:
        pid = c.get("/people", params={"q": "Mia Walsh"}).json()["items"][0]["person_id"]
        req = c.post(
            "/share-requests",
            json={
                "holder_agency": CENTRE,
                "person_id": pid,
                "purpose": "safeguarding",
                "need": "s47 enquiry",
                "urgency": "routine",
            },
        ).json()
    with srv.client(FSW) as c:
        dec = c.post(
            f"/share-requests/{req['id']}/decisions",
            json={
                "outcome": "share_in_full",
                "necessity": "needed for the enquiry",
                "proportionality": "one record",
                "lawful_basis": "public task",
                "released": [fid],
                "family_told": True,
            },
        )
        assert dec.status_code == 201, dec.text
        did = dec.json()["id"]
        out = {(o["subject"], o["to_agency"]) for o in c.get("/acknowledgements/outstanding").json()["items"]}
    assert (did, "northshire-csws") in out and (fid, "northshire-csws") in out  # released: received
    with srv.client(DSL) as c:  # the school did not ask
        assert c.post("/acknowledgements", json={"subject": did, "kind": "understood"}).status_code == 404
    with srv.client(SW) as c:
        assert c.post("/acknowledgements", json={"subject": did, "kind": "understood"}).status_code == 201
    with srv.client(FSW) as c:
        out = {(o["subject"], o["to_agency"]) for o in c.get("/acknowledgements/outstanding").json()["items"]}
    assert (did, "northshire-csws") not in out
    # released to social care, never opened there: a correction still reaches the agency
    assert SW not in _readers_in_audit(srv, fid)
    fixed = _visit("SM-SHARE-1b", markings={"audience": "originating_agency"})
    with srv.client(FSW) as c:
        assert c.post(f"/fragments/{fid}/supersede", json={"reason": "date", "fragment": fixed}).status_code == 201
    (n,) = [n for n in _notices(srv, SW) if n["fragment_id"] == fid]
    assert n["kind"] == "corrected" and n["link"] == f"/fragments/{fid}"
    assert not [n for n in _notices(srv, GP) if n["fragment_id"] == fid]


# ---------------------------------------------------------------------- corrections reach everyone


class Receiver:
    """A webhook receiver on 127.0.0.1 that checks every signature; it fails the first
    ``fail_first`` deliveries with a 500 and accepts the rest."""

    def __init__(self, secret: str, fail_first: int = 0) -> None:
        self.secret, self.fail_left = secret, fail_first
        self.got: list[tuple[dict[str, str], bytes, bool, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(outer.secret, dict(self.headers.items()), body)
                status = 500 if outer.fail_left > 0 else (204 if ok else 401)
                outer.fail_left -= 1
                outer.got.append((dict(self.headers.items()), body, ok, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jigsaw"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _notices(srv: Server, reader: str) -> list[dict[str, Any]]:
    with srv.client(reader) as c:
        r = c.get("/notices", params={"limit": 500})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


def _readers_in_audit(srv: Server, fid: str) -> set[str]:
    return {
        e.actor
        for e in srv.store.audit_entries(limit=10_000)
        if e.action.startswith(("read.", "disclosure.")) and fid in e.detail.get("fragments", [])
    }


def test_a_correction_reaches_exactly_the_readers_in_the_audit_and_a_signed_webhook(srv: Server) -> None:
    secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    rx = Receiver(secret, fail_first=1)
    try:
        with srv.client(ADMIN, "administration") as c:
            for agency in ("northshire-csws", "hollybank-primary-school"):
                r = c.put(f"/webhooks/{agency}", json={"url": rx.url, "secret": secret})
                assert r.status_code == 200 and r.json()["secret"] is None, r.text
            made = c.put("/webhooks/millbrook-surgery", json={"url": rx.url})
            assert made.json()["secret"].startswith("whsec_")  # made for them, shown once
            assert all("secret" not in h or h["secret"] is None for h in c.get("/webhooks").json())
        with srv.client(FSW) as c:
            fid = c.post("/fragments", json=_visit("SM-CORR-1")).json()["id"]
        with srv.client(SW) as c:
            assert c.get(f"/fragments/{fid}").status_code == 200
        with srv.client(DSL) as c:
            person = c.get("/people", params={"q": "Mia Walsh"}).json()["items"][0]["person_id"]
            assert c.get(f"/people/{person}/chronology").status_code == 200  # a chronology read shows it too
        saw = _readers_in_audit(srv, fid)
        assert saw == {SW, DSL}
        before = {r: len(_notices(srv, r)) for r in (SW, DSL, PC, GP, FSW)}
        fixed = _visit("SM-CORR-1b", narrative="Planned home visit. Child protection plan discussed.")
        with srv.client(FSW) as c:
            r = c.post(f"/fragments/{fid}/supersede", json={"reason": "wrote acronyms out", "fragment": fixed})
            assert r.status_code == 201, r.text
            new_id = r.json()["id"]
        got = {rid: [n for n in _notices(srv, rid) if n["fragment_id"] == fid] for rid in (SW, DSL, PC, GP, FSW)}
        assert {rid for rid, ns in got.items() if ns} == saw  # exactly the readers in the audit
        assert {len(_notices(srv, r)) - before[r] for r in (PC, GP, FSW)} == {0}
        n = got[SW][0]
        assert n["kind"] == "corrected" and n["by_agency"] == CENTRE and n["correction_id"] == new_id
        assert n["link"] == f"/fragments/{fid}" and not n["read"]
        assert "QRTZ" not in json.dumps(n) and "Walsh" not in json.dumps(n)  # ids, never content
        # the earlier version stays reachable to those entitled, and the chronology marks the line
        with srv.client(SW) as c:
            assert c.get(f"/fragments/{fid}").json()["fragment"]["record_ref"] == "SM-CORR-1"
            lines = c.get(f"/people/{person}/chronology", params={"limit": 500}).json()["items"]
            (line,) = [ln for ln in lines if any(s["fragment_id"] == new_id for s in ln["sources"])]
            assert line["corrected"] and fid in line["sources"][0]["replaces"]
            assert c.post(f"/notices/{n['id']}/read").status_code == 204
            assert c.get("/notices", params={"unread": True}).json()["items"] == [
                x for x in _notices(srv, SW) if not x["read"]
            ]
        with srv.client(PC) as c:  # not theirs: no such notice
            assert c.post(f"/notices/{n['id']}/read").status_code == 404

        # webhooks: one delivery per agency that read it; the first attempt fails, then succeeds
        first = deliver_due(srv.store)
        assert {a.agency for a in first} == {"northshire-csws", "hollybank-primary-school"}
        assert [a.state for a in first].count("pending") == 1 and [a.state for a in first].count("delivered") == 1
        assert deliver_due(srv.store) == []  # the failed one waits for its backoff
        clock = srv.store.clock  # type: ignore[attr-defined]
        later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        srv.store.clock = lambda: later  # type: ignore[attr-defined]
        try:
            second = deliver_due(srv.store)
        finally:
            srv.store.clock = clock  # type: ignore[attr-defined]
        assert [a.state for a in second] == ["delivered"]
        assert [s for _, _, _, s in rx.got] == [500, 204, 204]
        for headers, body, ok, _ in rx.got:
            assert ok  # every delivery verifies against the agency's secret
            h = {k.lower(): v for k, v in headers.items()}
            want = base64.b64encode(
                hmac.new(
                    b"n" * 32, f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body, hashlib.sha256
                ).digest()
            ).decode()
            assert h["webhook-signature"] == f"v1,{want}"
            sent = json.loads(body)
            assert sent["type"] == "fragment.corrected" and sent["fragment_id"] == fid and sent["by_agency"] == CENTRE
            assert set(sent) <= {"type", "delivery", "agency", "by_agency", "at", "notices", "fragment_id", "message"}
        ids = [{k.lower(): v for k, v in h.items()}["webhook-id"] for h, _, _, _ in rx.got]
        assert ids[0] == ids[2] != ids[1]  # a retry is the same delivery, under the same id
        assert not verify("whsec_" + base64.b64encode(b"x" * 32).decode(), rx.got[1][0], rx.got[1][1])
    finally:
        rx.close()


def test_no_notice_shows_more_than_its_reader_may_now_see(srv: Server) -> None:
    key = "whsec_" + base64.b64encode(b"p" * 32).decode()
    rx = Receiver(key)
    with srv.client(ADMIN, "administration") as c:
        assert c.put("/webhooks/northshire-police", json={"url": rx.url, "secret": key}).status_code == 200
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-LIMIT-1")).json()["id"]
    for reader in (SW, PC):
        with srv.client(reader) as c:
            assert c.get(f"/fragments/{fid}").status_code == 200
    # the new version is for the centre alone, and the police officer leaves the case
    secret = _visit("SM-LIMIT-1b", markings={"audience": "originating_agency", "existence_visible": False})
    with srv.client(FSW) as c:
        new_id = c.post(f"/fragments/{fid}/supersede", json={"reason": "restricted", "fragment": secret}).json()["id"]
    srv.store.set_membership("test", "NCS-WALSH-1", PC, False)
    srv.store.set_membership("test", "NCS-WALSH-2", PC, False)
    try:
        (sw,) = [n for n in _notices(srv, SW) if n["fragment_id"] == fid]
        assert sw["correction_id"] is None and new_id not in json.dumps(sw)  # may not read the new version
        (pc,) = _notices(srv, PC)  # the police officer read nothing else in this store
        with srv.client(PC) as c:
            seen = c.get(f"/fragments/{fid}")
        # off the case, the officer may no longer know the record exists: no id, no link,
        # only that something they saw has changed and whom to ask
        assert seen.status_code == 404
        assert pc["fragment_id"] is None and pc["link"] is None and pc["correction_id"] is None
        assert CENTRE in pc["message"] and fid not in json.dumps(pc) and new_id not in json.dumps(pc)
        # nor does the police system's webhook: no reader of theirs may know of the record now
        sent = [a for a in deliver_due(srv.store) if a.agency == "northshire-police"]
        assert [a.state for a in sent] == ["delivered"]
        ((_, body, ok, _),) = rx.got
        delivered = json.loads(body)
        assert ok and "fragment_id" not in delivered and fid not in body.decode() and new_id not in body.decode()
        assert delivered["by_agency"] == CENTRE and "ask" in delivered["message"]
    finally:
        rx.close()
        srv.store.set_membership("test", "NCS-WALSH-1", PC, True)
        srv.store.set_membership("test", "NCS-WALSH-2", PC, True)
    # the audit says who was told, by ids
    (told,) = [
        e
        for e in srv.store.audit_entries(action_prefix="notice.create", limit=10_000)
        if e.detail["fragments"] == [fid]
    ]
    assert told.detail["readers"] == sorted([SW, PC]) and told.detail["correction"] == new_id


def test_a_withdrawal_reaches_its_readers_as_withdrawn(srv: Server) -> None:
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=_visit("SM-RETRACT-1")).json()["id"]
    with srv.client(DSL) as c:
        assert c.get(f"/fragments/{fid}").status_code == 200
    with srv.client(FSW) as c:
        r = c.post(
            f"/fragments/{fid}/retract",
            json={"record_ref": "SM-RETRACT-1x", "reason": "wrong family", "author": {"role": "fsw", "id": "CC-1"}},
        )
        assert r.status_code == 201, r.text
    (n,) = [n for n in _notices(srv, DSL) if n["fragment_id"] == fid]
    assert n["kind"] == "retracted" and "withdrawn" in n["message"] and n["correction_id"] is None
    assert not [n for n in _notices(srv, SW) if n["fragment_id"] == fid]  # never read it


# ---------------------------------------------------------------------- shown in the meeting view


def test_terms_and_what_is_not_yet_acknowledged_show_in_the_pages_and_exports(srv: Server) -> None:
    doc = _visit("SM-PACK-1", narrative="Home visit.")
    doc["event"]["summary"] = "HV found the children alone; CP concern raised with QRTZ"
    with srv.client(FSW) as c:
        fid = c.post("/fragments", json=doc).json()["id"]
    with srv.client(SW) as c:
        pid = c.get("/people", params={"q": "Mia Walsh"}).json()["items"][0]["person_id"]
        assert c.post(f"/fragments/{fid}/acknowledgements", json={"kind": "understood"}).status_code == 201
    with srv.client(DSL) as c:
        r = c.post(
            f"/fragments/{fid}/acknowledgements", json={"kind": "query", "text": "Health visitor or home visit?"}
        )
        assert r.status_code == 201
    with srv.client(SW, "meeting") as c:
        page = c.get(f"/pages/people/{pid}/chronology").text
        pack = c.get(f"/pages/people/{pid}/pack").text
        sheet = c.get(f"/pages/people/{pid}/pack.csv").text
        api = c.get(f"/people/{pid}/chronology", params={"limit": 500}).json()
        api_csv = c.get(f"/people/{pid}/chronology", params={"limit": 500, "format": "csv"}).text
    # the chronology: each term marked with its meaning, and a "terms used" list
    assert '<abbr class="term term-ambiguous" title="Child protection' in page
    assert '<abbr class="term term-unknown" title="Not in the glossary' in page
    assert 'id="terms-title">Terms used</h2>' in page and "<dt>CP <span" in page
    # the pack: "Not yet acknowledged" before "Terms used" at the end
    assert pack.index("Not yet acknowledged") < pack.index("Terms used</h2>") < pack.index("stamp-foot")
    unack = pack[pack.index('<table class="unack">') : pack.index("</table>", pack.index('<table class="unack">'))]
    (row,) = [r for r in unack.split("<tr>") if "CP concern raised" in r]
    assert "Hollybank" in row and "Northshire Police" in row and "Health visitor or home visit?" in row
    assert "Northshire Children&#39;s Social Work Service" not in row.split("<td>")[4]  # it said understood
    # exports: a "terms used" column in the CSVs, a terms list in the JSON
    for text in (sheet, api_csv):
        assert "terms used" in text and "CP = Child protection" in text
    assert {"CP", "HV", "QRTZ"} <= {t["term"] for t in api["terms"]}
