"""Every Cypher statement of the Neo4j backend, checked with Neo4j's own parser.

No Neo4j server can be installed on our development and CI machines, so the statements
in ``graph.cypher`` are checked here with ``@neo4j-cypher/language-support`` (the parser
and linter of Neo4j's own tools, from npm, run with Node by ``tests/cypher_lint.mjs``):

* each one parses: no syntax error;
* every label, relationship type and property it names is one of ``cypher.SCHEMA``, so
  a misspelt name is an error here rather than an empty answer in production;
* the parameters each call passes are exactly the parameters the statement uses, for
  every call the backend makes while running a whole workload (on the statement
  emulator, ``tests/neo4j_emulator.py``), and every statement is called at least once.

Without Node or the npm package these tests skip locally, saying why, and fail in CI
(CI=true), like the browser tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from api.cli import DEMO_NOW, demo_files, setup_demo_access
from graph import cypher
from graph.neo4j_store import Neo4jStore
from graph.patterns import selection_of
from graph.resolution import ResolutionDecision
from graph.transfer import copy_store
from ingest.linkage import Linker
from ingest.pipeline import import_files
from tests.neo4j_emulator import Emulator
from tests.test_backends import WIPE, _everyone
from tests.test_store import canon, frag

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "node_modules" / "@neo4j-cypher" / "language-support"
PARAM = re.compile(r"^Parameter \$(\w+) is not defined\.$")


def _lint(statements: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    node = shutil.which("node")
    missing = None if node else "Node.js is not installed"
    if not missing and not PACKAGE.exists():
        missing = "the npm package @neo4j-cypher/language-support is not installed (run `npm ci`)"
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{missing}: the Cypher checks must run in CI (.ci/run installs it)", pytrace=False)
        pytest.skip(f"{missing}; install it to check the Neo4j backend's Cypher")
    assert node is not None
    done = subprocess.run(
        [node, str(ROOT / "tests" / "cypher_lint.mjs")],
        input=json.dumps({"schema": {**cypher.SCHEMA, "parameters": {}}, "statements": statements}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    out: dict[str, list[dict[str, Any]]] = json.loads(done.stdout)
    return out


def _problems(diagnostics: list[dict[str, Any]]) -> list[str]:
    """Everything the linter says but that a parameter is not declared in the schema."""
    return [d["message"] for d in diagnostics if not PARAM.match(d["message"])]


def _params(diagnostics: list[dict[str, Any]]) -> set[str]:
    return {m.group(1) for d in diagnostics if (m := PARAM.match(d["message"]))}


@pytest.fixture(scope="module")
def linted() -> dict[str, list[dict[str, Any]]]:
    return _lint({**cypher.statements(), "TEST_WIPE": WIPE})


def test_every_statement_parses_and_names_only_the_schema(linted: dict[str, list[dict[str, Any]]]) -> None:
    assert len(linted) == len(cypher.statements()) + 1
    problems = {name: _problems(d) for name, d in linted.items() if _problems(d)}
    assert problems == {}


def test_the_check_catches_what_it_is_for() -> None:
    """The parser check is not a rubber stamp: a syntax error, a misspelt label,
    relationship type or property, and a parameter are each reported."""
    out = _lint(
        {
            "syntax": "MATCH (f:Fragment RETURN f",
            "label": "MATCH (f:Fragmnt) RETURN f.seq",
            "relationship": "MATCH (a:Fragment)-[:SUPERSEEDS]->(b:Fragment) RETURN a.seq",
            "property": "MATCH (f:Fragment) RETURN f.sequence",
            "parameter": "MATCH (f:Fragment {fid: $fid}) RETURN f.seq",
        }
    )
    for name in ("syntax", "label", "relationship", "property"):
        assert _problems(out[name]), name
    assert _problems(out["parameter"]) == [] and _params(out["parameter"]) == {"fid"}


def _workload() -> list[Emulator]:
    """Everything the backend does, on the emulator: every statement gets called."""
    db = Emulator()
    s = Neo4jStore(db, matcher=Linker.from_file(None))
    import_files(s, demo_files(), now=DEMO_NOW)
    setup_demo_access(s)
    _everyone(s)
    (o,) = s.append([canon(frag("INC-9", ag=("northshire-police", "police")))])
    fix = frag("INC-9a", ag=("northshire-police", "police"), supersedes={"record_ref": "INC-9", "reason": "r"})
    s.append([canon(fix)])
    s.get_fragment(o.fragment_id)
    s.fragment_count()
    (mia,) = [p for p in s.system_view().find_people("Mia Walsh") if "2019-03-14" in p.dobs]
    req = s.request_share(
        "sw-northshire-118",
        holder_agency="northshire-police",
        person_id=mia.person_id,
        purpose="safeguarding",
        need="s47 enquiry",
        urgency="routine",
    )
    s.share_requests("northshire-police")
    args: dict[str, Any] = dict(necessity="n", proportionality="p", lawful_basis="b", family_told=True)
    first = s.decide_share("pc-northshire-2291", req.id, outcome="share_in_full", released=[o.fragment_id], **args)
    s.decide_share("pc-northshire-2291", req.id, outcome="do_not_share", reconsiders=first.id, **args)
    s.share_records()
    s.share_records(req.id)
    tid, token = s.issue_token("admin", "dsl-hollybank")
    s.reader_for_token(token)
    s.list_tokens()
    s.revoke_token("admin", tid)
    s.set_membership("admin", "NCS-WALSH-1", "dsl-hollybank", False)
    s.set_reader_active("admin", "officer-housing-7", False)
    s.list_readers()
    v = s.view("sw-northshire-118", "safeguarding")
    s.audit_read(v, "read.chronology", {"people": [mia.person_id]})
    s.who_saw(mia.person_id)
    s.disclosures()
    s.disclosures(mia.person_id)
    s.audit_entries(actor="sw-northshire-118", action_prefix="read.", since="2000-01-01T00:00:00Z", until=None)
    assert s.audit_verify().ok
    pid = mia.person_id
    s.add_resolution_decision(
        ResolutionDecision(
            0, "apart", (pid[1:], 0), (pid[1:], 1), "reviewed", "sw-northshire-118", "2026-11-23T00:00:00Z"
        )
    )
    s.view("sw-northshire-118", "safeguarding").chronology(mia.person_id)
    # a person whose every record is current and visible: the store's own projection
    # answers (the fast path), with its words fetched from the journal
    lone = [{"ref": "c", "role": "child", "name": "Zara Quinn", "dob": "2018-01-02"}]
    s.append([canon(frag("INC-10", ag=("northshire-police", "police"), people=lone))])
    (zara,) = s.system_view().find_people("Zara Quinn")
    assert s.system_view().chronology(zara.person_id)
    # shared meaning (issue 7): read-and-understood, a correction's notices, webhooks
    police = ("northshire-police", "police")
    s.put_webhook("admin", agency="northshire-csws", url="https://csws.example/jigsaw", secret="whsec_" + "k" * 40)
    s.webhooks()
    (seen,) = s.append([canon(frag("INC-11", ag=police))])
    sw = s.view("sw-northshire-118", "safeguarding")
    s.audit_read(sw, "read.fragment", {"fragments": [seen.fragment_id]})
    s.acknowledge(sw, seen.fragment_id, kind="understood")
    s.acknowledge(sw, first.id, kind="understood")
    s.acknowledgements([seen.fragment_id, first.id])
    s.outstanding("northshire-police")
    fix11 = frag("INC-11a", ag=police, supersedes={"record_ref": "INC-11", "reason": "r"})
    s.append([canon(fix11)], actor="pc-northshire-2291")
    (notice,) = s.notices(sw)
    s.mark_notice_read(sw, notice.id)
    (delivery,) = s.due_deliveries()
    s.record_delivery(delivery.id, ok=True)
    s.webhook_outbox()
    # resolution review and erasure (issue 7)
    system = s.system_view()
    (item, *_) = s.review_queue(system, 5)
    s.explain_pair(system, item.a.mention_id, item.b.mention_id)
    joined = s.decide(system, "join", item.a.mention_id, item.b.mention_id, "reviewed")
    s.undo_decision(system, joined.id, "withdrawn")
    s.resolution_decisions(system)
    # the same incident told twice (graph/incidents.py): a review item, a join, its undo
    zoe = [{"ref": "c", "role": "child", "name": "Zoe Park", "dob": "2018-02-03"}]
    s.append([canon(frag("INC-20", ag=police, when="2026-05-14", people=zoe))])
    s.append(
        [canon(frag("INC-21", ag=("northshire-csws", "social_care"), kind="home_visit", when="2026-05", people=zoe))]
    )
    same = s.incident_queue(system)[0]
    together = s.decide_incident(system, "join", same.a.fragment_id, same.b.fragment_id, "one visit")
    s.undo_incident_decision(system, together.id, "withdrawn")
    s.incident_decisions(system)
    s.mention_features()
    s.patterns().scan(selection_of())  # keeps pattern facts on the fragments
    Neo4jStore(db).patterns().scan(selection_of())  # another replica reads them all
    Neo4jStore(db).patterns().for_child(next(iter(s.patterns().source.children())), selection_of())
    db.state.fragments[1].pop("review_on")  # as neo4j-admin leaves a bulk-loaded fragment
    s.retention_due("2100-01-01", limit=5)
    s.erase(seen.fragment_id, authority="court_order", reason="order", by="dpo")
    s.relink()
    # and moving it to another Neo4j
    other = Emulator()
    copy_store(s, Neo4jStore(other), by="migration")
    s.close()
    return [db, other]


def test_every_call_passes_exactly_the_parameters_its_statement_uses(linted: dict[str, list[dict[str, Any]]]) -> None:
    calls = [call for db in _workload() for call in db.calls]
    used = {name: _params(d) for name, d in linted.items()}
    wrong = sorted(
        {(name, tuple(sorted(keys)), tuple(sorted(used[name]))) for name, keys in calls if keys != used[name]}
    )
    assert wrong == []
    never = sorted(set(cypher.statements()) - {name for name, _ in calls})
    assert never == []
