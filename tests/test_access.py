"""Who sees what, read like a case file: several readers side by side on real stores.

The state machine (tests/test_access_model.py) proves that every reader's view equals a
projection of what the policy lets them read. These tests pin down, by hand, what the
policy *should* let each kind of practitioner read, and the things a practitioner would
notice if they went wrong:

- the Core demo (the Walsh children) for the six demo readers;
- a richer synthetic case (the Penrose children) with every audience, special
  categories, hidden existence and two identity-protected people, read by a school DSL
  without health clearance, a police officer, the allocated social worker, an analyst
  and a reader from an agency with no involvement; every fragment carries a planted
  marker that must never reach a reader who may not read it;
- resolution that must not leak (joins resting on evidence the reader cannot see);
- revocation, membership changes, share decisions and expiry taking effect at once;
- the policy itself (``graph.access.decide``) as a table, one row per rule.

The expectations are written out by hand from the rules in graph/access.py and the
story in ingest/demo_data/README.md; none is computed by the code under test.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from api.cli import DEMO_NOW, DEMO_READERS, demo_files, setup_demo_access
from graph import registry
from graph.access import Clearance, Decision, FragmentAccess, Purpose, Reader, Role, decide, may_see_identity
from graph.embedded import EmbeddedStore
from graph.errors import NotFound
from graph.store import fragment_id
from graph.view import ReaderView
from ingest.pipeline import import_files
from ingest.validate import check_fragment
from tests.conftest import NOW, fragment

PROTECTED = re.compile(r"^(Referrer|Neighbour) \(identity protected\) #[0-9A-F]{6}$")
NO_SUCH_FRAGMENT = "F" + "0" * 24
T0 = "2026-11-23T12:00:00.000000Z"

# ---------------------------------------------------------------------- helpers

AGENCY_TYPES = {
    "ws-csc": "social_care",
    "ws-police": "police",
    "ws-health": "health",
    "ws-school": "school",
    "ws-housing": "housing",
}


def make(
    agency: str,
    ref: str,
    when: str,
    kind: str,
    people: list[dict[str, Any]],
    *,
    summary: str,
    narrative: str = "",
    audience: str = "case_team",
    agencies: tuple[str, ...] = (),
    special: tuple[str, ...] = (),
    existence: bool = True,
    relationships: tuple[tuple[str, str, str], ...] = (),
) -> dict[str, Any]:
    """A canonical fragment (validated by the real ingest checks)."""
    markings: dict[str, Any] = {"audience": audience, "existence_visible": existence}
    if agencies:
        markings["agencies"] = list(agencies)
    sharing: dict[str, Any] = {"lawful_basis": "public_task", "family_told": True}
    if special:
        sharing["special_category"] = list(special)
        sharing["special_category_condition"] = "safeguarding_children"
    raw = {
        "agency": {"id": agency, "name": agency.replace("-", " ").title(), "type": AGENCY_TYPES[agency]},
        "author": {"role": "practitioner", "id": f"{agency}-0001"},
        "record_ref": ref,
        "recorded_at": f"{when}T16:00:00Z",
        "shared_at": f"{when}T17:00:00Z",
        "event": {"kind": kind, "when": when, "summary": summary, "narrative": narrative or summary},
        "people": people,
        "relationships": [{"subject": s, "kind": k, "object": o} for s, k, o in relationships],
        "statement": {"kind": "fact"},
        "significance": "medium",
        "sharing": sharing,
        "markings": markings,
    }
    doc, errors = check_fragment(raw, now=NOW)
    assert doc is not None, errors
    return doc


def fid(agency: str, ref: str) -> str:
    return fragment_id(agency, ref)


def add_readers(
    store: EmbeddedStore, readers: dict[str, tuple[str, list[str], list[str]]], case_members: dict[str, list[str]]
) -> None:
    """Readers (id -> agency, roles, clearances) and case memberships (case -> reader ids)."""
    with store.transaction() as conn:
        for rid, (agency, roles, clearances) in readers.items():
            registry.put_reader(conn, reader_id=rid, agency=agency, roles=roles, clearances=clearances, at="t")
        for case_id, members in case_members.items():
            for rid in members:
                registry.set_membership(conn, rid, case_id, True)


def open_case(store: EmbeddedStore, case_id: str, name: str, dob: str) -> str:
    """Open a case on the child the store knows by this name and dob; returns a person id."""
    (child,) = [p for p in store.system_view().find_people(name) if dob in p.dobs]
    fragment, mention = store.person_anchor(child.person_id)
    with store.transaction() as conn:
        registry.open_case(conn, case_id=case_id, fragment_id=fragment, mention=mention, at="t", by="admin")
    return child.person_id


def one(view: ReaderView, name: str, dob: str) -> str:
    """The person id of the one person this reader finds by name with this dob."""
    found = [p for p in view.find_people(name) if dob in p.dobs]
    assert len(found) == 1, [(p.person_id, p.names, p.dobs) for p in found]
    return found[0].person_id


def shown_refs(view: ReaderView, pid: str) -> set[str]:
    """Record refs of the sources of the person's visible chronology lines."""
    return {s.record_ref for ln in view.chronology(pid) if not ln.held_back for s in ln.sources}


def held_lines(view: ReaderView, pid: str) -> set[tuple[str, str, str]]:
    """(holding agency, first day, last day) of the placeholder lines in a chronology."""
    out = set()
    for ln in view.chronology(pid):
        if ln.held_back:
            assert ln.kind == "record_held_back"
            assert ln.people == [] and ln.sources == [] and ln.concerns == [] and ln.statements == []
            assert ln.event_id == "" and ln.at is None and ln.precision == "month"
            (agency,) = ln.agencies
            assert ln.summary.startswith(f"A record held by {agency} that you may not see")
            assert agency in ln.held_back and "designated safeguarding lead" in ln.held_back
            out.add((agency, ln.start, ln.end))
    return out


CONTENT_KEYS = {"record_ref", "event", "people", "relationships", "statement", "concerns", "sharing", "author"}


def assert_placeholder(shown: dict[str, Any], fragment: str, agency: str) -> None:
    """``view.fragment`` of a record the reader may know of but not read: who holds it,
    whom to ask, and nothing of its content."""
    assert shown["id"] == fragment and shown["held_back"] is True and shown["agency"] == agency
    assert agency in shown["ask"]
    assert not CONTENT_KEYS & set(shown), shown


def line_people(view: ReaderView, pid: str) -> set[str]:
    return {pp.name for ln in view.chronology(pid) for pp in ln.people}


def everything_shown(view: ReaderView, queries: list[str], fids: list[str]) -> str:
    """All a reader can get out of their view for these queries and fragment ids, as text."""
    shown: list[Any] = [view.fragment_count()]
    todo: list[str] = []
    for q in queries:
        found = view.find_people(q)
        shown.append([asdict(p) for p in found])
        todo.extend(p.person_id for p in found)
    done: set[str] = set()
    while todo:  # everyone found, and everyone named in what they are shown
        pid = todo.pop()
        if pid in done:
            continue
        done.add(pid)
        summary = view.person(pid)
        shown.append(asdict(summary) if summary else None)
        lines = view.chronology(pid)
        shown.append([ln.as_dict() for ln in lines])
        todo.extend(pp.person_id for ln in lines for pp in ln.people)
        g = view.network(pid, radius=2)
        shown.append(sorted((repr(n), repr(sorted(d.items()))) for n, d in g.nodes(data=True)))
        shown.append(sorted(repr((u, v, k, sorted(d.items()))) for u, v, k, d in g.edges(keys=True, data=True)))
        todo.extend(n[1] for n in g if n[0] == "person")
    for f in fids:
        shown.append(view.fragment(f))
    return json.dumps(shown, default=str)


# ====================================================================== 1. the Core demo

WALSH_CURRENT = {
    "CSWS-2026-05-0417",
    "CSWS-2026-05-0418",
    "CSWS-2026-05-0419",
    "CSWS-2026-05-0431",
    "NP-26-0514-0093",
    "HPS-2026-0655",
    "HPS-2026-0871-C1",
    "EH-2026-11-0207",
    "CC-2026-11-0201",
    "CC-2026-11-0202",
    "EH-2026-11-0231",
    "HPS-CHRON-0031",
    "HPS-CHRON-0047",
    "HPS-CHRON-0058",
    "HPS-CHRON-0059",
}
GP_RECORD = ("millbrook-surgery", "MS-SG-2026-0112")
GP_PLACEHOLDER = {("millbrook-surgery", "2026-09-01", "2026-09-30")}
ON_CASE = ["sw-northshire-118", "dsl-hollybank", "pc-northshire-2291", "gp-millbrook-lead"]
OFF_CASE = ["analyst-partnership", "officer-housing-7"]
MIA, NOAH = ("Mia Walsh", "2019-03-14"), ("Noah Walsh", "2021-07-02")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("access-demo") / "demo.sqlite", create=True)
    summary = import_files(s, demo_files(), now=DEMO_NOW)
    assert (summary.accepted, summary.rejected) == (32, 0), summary.errors
    setup_demo_access(s)
    # a second reader at the school, to compare pseudonyms within one agency
    add_readers(
        s,
        {"dsl2-hollybank": ("hollybank-primary-school", ["designated_safeguarding_lead"], [])},
        {"NCS-WALSH-1": ["dsl2-hollybank"], "NCS-WALSH-2": ["dsl2-hollybank"]},
    )
    yield s
    s.close()


def test_the_demo_readers_are_the_six_the_issue_names() -> None:
    assert [rid for rid, _ in DEMO_READERS] == ON_CASE + OFF_CASE


@pytest.mark.parametrize("reader", ON_CASE)
def test_demo_everyone_on_the_case_sees_all_of_mias_chronology(demo: EmbeddedStore, reader: str) -> None:
    v = demo.view(reader, "safeguarding")
    mia = one(v, *MIA)
    assert shown_refs(v, mia) == WALSH_CURRENT
    assert held_lines(v, mia) == set()  # nothing about Mia is held back from anyone on her case


@pytest.mark.parametrize(
    ("reader", "sees_gp_record"),
    [
        # not a designated safeguarding lead: the GP record is for safeguarding leads only
        ("sw-northshire-118", False),
        # a DSL, but without special_category clearance for health data
        ("dsl-hollybank", False),
        # neither a DSL nor cleared for health
        ("pc-northshire-2291", False),
        # the GP's own record (and a cleared DSL anyway)
        ("gp-millbrook-lead", True),
    ],
)
def test_demo_noahs_gp_record(demo: EmbeddedStore, reader: str, sees_gp_record: bool) -> None:
    v = demo.view(reader, "safeguarding")
    noah = one(v, *NOAH)
    gp = fid(*GP_RECORD)
    shown = v.fragment(gp)
    assert shown is not None
    if sees_gp_record:
        assert shown_refs(v, noah) == WALSH_CURRENT | {GP_RECORD[1]}
        assert held_lines(v, noah) == set()
        assert shown["record_ref"] == GP_RECORD[1]
        assert shown["event"]["kind"] == "missed_appointment"
    else:
        assert shown_refs(v, noah) == WALSH_CURRENT
        assert held_lines(v, noah) == GP_PLACEHOLDER  # the month only, and whom to ask
        assert_placeholder(shown, gp, "millbrook-surgery")
        summary = v.person(noah)
        assert summary is not None and "millbrook-surgery" not in summary.agencies
        assert "asthma" not in json.dumps([ln.as_dict() for ln in v.chronology(noah)]).lower()
    # 16 current Walsh records (HPS-2026-0871 was corrected), less the GP record for those
    # who may not read it, plus each agency's own records about the other families:
    # social care 2 (Rourke, Marsh), police 1 (Rourke), the school and the GP none
    own_elsewhere = {"sw-northshire-118": 2, "pc-northshire-2291": 1}.get(reader, 0)
    assert v.fragment_count() == 16 - (not sees_gp_record) + own_elsewhere


def test_demo_a_placeholder_does_not_reorder_the_lines_around_it(demo: EmbeddedStore) -> None:
    v = demo.view("sw-northshire-118", "safeguarding")
    orders = []
    for child in (MIA, NOAH):
        refs = [s.record_ref for ln in v.chronology(one(v, *child)) if not ln.held_back for s in ln.sources]
        orders.append(refs)
    # graph/chronology.py: approximate dates sort by the middle of their span (about 19 May)
    for refs in orders:
        assert refs.index("EH-2026-11-0231") > refs.index("CSWS-2026-05-0431"), refs
    assert orders[1] == orders[0]  # the same events, in the same order, for both children


def test_demo_protected_people_as_each_reader_sees_them(demo: EmbeddedStore) -> None:
    seen: dict[str, set[str]] = {}
    for reader in ON_CASE:
        v = demo.view(reader, "safeguarding")
        mia = one(v, *MIA)
        names = line_people(v, mia)
        protected = {n for n in names if "identity protected" in n or n in ("anonymous caller", "next-door neighbour")}
        seen[reader] = protected
        referral = v.fragment(fid("northshire-csws", "CSWS-2026-05-0417"))
        assert referral is not None
        (caller,) = [m for m in referral["people"] if m["ref"] == "r"]
        if reader == "sw-northshire-118":
            # cleared for protected identities: the descriptions the agencies recorded
            assert protected == {"anonymous caller", "next-door neighbour"}
            assert caller["description"] == "anonymous caller"
        else:
            assert len(protected) == 2 and all(PROTECTED.match(n) for n in protected), protected
            assert caller == {
                "ref": "r",
                "role": "referrer",
                "description": next(n for n in protected if n.startswith("Referrer")),
                "identity_protected": True,
            }
            summaries = [asdict(p) for p in v.find_people("Walsh")]
            assert "anonymous caller" not in json.dumps(summaries)
    # a different pseudonym for each viewing agency
    labels = [frozenset(seen[r]) for r in ON_CASE[1:]]
    assert len(set(labels)) == 3
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        assert not labels[a] & labels[b]


def test_demo_pseudonyms_are_stable(demo: EmbeddedStore) -> None:
    dsl = demo.view("dsl-hollybank", "safeguarding")
    first = line_people(dsl, one(dsl, *MIA))
    again = demo.view("dsl-hollybank", "meeting")
    colleague = demo.view("dsl2-hollybank", "safeguarding")
    police = demo.view("pc-northshire-2291", "safeguarding")
    assert line_people(again, one(again, *MIA)) == first
    assert line_people(colleague, one(colleague, *MIA)) == first
    police_names = line_people(police, one(police, *MIA))
    assert {n for n in first if "#" in n} and not {n for n in first if "#" in n} & police_names
    # the same referral, Mia's and Noah's chronologies: one pseudonym for the caller
    noah_names = line_people(colleague, one(colleague, *NOAH))
    assert {n for n in first if n.startswith("Referrer")} == {n for n in noah_names if n.startswith("Referrer")}


@pytest.mark.parametrize("reader", OFF_CASE)
@pytest.mark.parametrize("purpose", ["safeguarding", "meeting", "analysis"])
def test_demo_readers_with_no_case_find_nobody(demo: EmbeddedStore, reader: str, purpose: str) -> None:
    sw = demo.view("sw-northshire-118", "safeguarding")
    mia_id = one(sw, *MIA)
    v = demo.view(reader, purpose)
    for q in ("Mia Walsh", "Noah Walsh", "Walsh", "Leanne", "9789304978", "Kayleigh Rourke", "Ellis Marsh"):
        assert v.find_people(q) == []
    assert v.fragment_count() == 0
    assert v.person(mia_id) is None and v.chronology(mia_id) == [] and len(v.network(mia_id)) == 0
    real = fid("northshire-csws", "CSWS-2026-05-0417")
    assert sw.fragment(real) is not None
    # exactly as for an id that never was, or a malformed one
    assert v.fragment(real) is None
    assert v.fragment(fid(*GP_RECORD)) is None
    assert v.fragment(NO_SUCH_FRAGMENT) is None
    assert v.fragment("not-an-id") is None
    assert v.person("P0000000000000000-0") is None


@pytest.mark.parametrize("purpose", ["administration", "audit"])
def test_demo_administration_and_audit_purposes_show_no_content(demo: EmbeddedStore, purpose: str) -> None:
    v = demo.view("sw-northshire-118", purpose)
    assert v.find_people("Mia Walsh") == [] and v.fragment_count() == 0
    assert v.fragment(fid("northshire-csws", "CSWS-2026-05-0417")) is None  # not even her own agency's


# ====================================================================== 2. a richer case

SKYE = {"ref": "c1", "role": "child", "name": "Skye Penrose", "dob": "2017-08-21", "sex": "female"}
SKYE_POLICE = {"ref": "c1", "role": "child", "name": "Skye PENROSE", "dob": "2017-08-21"}
ALFIE = {"ref": "c2", "role": "child", "name": "Alfie Penrose", "dob": "2020-01-15"}
DAWN = {"ref": "m", "role": "parent", "name": "Dawn Penrose", "dob": "1990-06-03"}
PARTNER = {"ref": "p", "role": "alleged_perpetrator", "name": "Lee ZQXPARTNER", "dob": "1988-02-11"}
REFERRER = {
    "ref": "r",
    "role": "referrer",
    "name": "Brenda ZQXREFNAME",
    "dob": "1975-05-05",
    "addresses": [{"text": "7 ZQXREFADDR Row, Westmoor", "postcode": "WM1 1AA"}],
    "identifiers": [{"scheme": "nhs", "value": "9390996031"}],
    "identity_protected": True,
}
NEIGHBOUR = {
    "ref": "n",
    "role": "neighbour",
    "description": "ZQXNBRDESC upstairs neighbour",
    "identity_protected": True,
}
MASON = {"ref": "c1", "role": "child", "name": "Mason Trelawney", "dob": "2016-02-02"}

# (agency, record ref, date, kind, people, markings); every summary and narrative carries marker(ref)
RICH: list[tuple[str, str, str, str, list[dict[str, Any]], dict[str, Any]]] = [
    ("ws-housing", "HOU-2", "2026-01-20", "household_change", [SKYE, DAWN],
     {"audience": "named_agencies", "agencies": ("ws-csc", "ws-school")}),
    ("ws-csc", "CSC-1", "2026-02-10", "referral", [SKYE, ALFIE, DAWN, REFERRER], {}),
    ("ws-school", "SCH-3", "2026-03-03", "school_concern", [MASON], {}),
    ("ws-police", "POL-1", "2026-03-14", "police_callout", [SKYE_POLICE, DAWN, PARTNER],
     {"special": ("criminal_offence",)}),
    ("ws-health", "HEA-4", "2026-04-04", "missed_appointment", [MASON], {"special": ("health",)}),
    ("ws-police", "POL-2", "2026-04-20", "incident", [SKYE_POLICE, PARTNER],
     {"special": ("criminal_offence",), "existence": False}),
    ("ws-health", "HEA-1", "2026-05-06", "missed_appointment", [SKYE, DAWN],
     {"audience": "safeguarding_leads", "special": ("health",)}),
    ("ws-health", "HEA-2", "2026-06-18", "hospital_attendance", [SKYE, DAWN], {"special": ("health",)}),
    ("ws-school", "SCH-1", "2026-07-01", "school_attendance", [SKYE], {}),
    ("ws-health", "HEA-3", "2026-07-22", "health_appointment", [ALFIE], {"special": ("health",)}),
    ("ws-housing", "HOU-1", "2026-08-12", "home_visit", [SKYE, DAWN, NEIGHBOUR], {}),
    ("ws-csc", "CSC-2", "2026-09-15", "strategy_discussion", [SKYE, ALFIE, DAWN], {}),
    ("ws-school", "SCH-2", "2026-10-05", "disclosure", [SKYE],
     {"audience": "named_agencies", "agencies": ("ws-csc",)}),
    ("ws-csc", "CSC-4", "2026-10-20", "contact", [SKYE, DAWN], {"audience": "originating_agency"}),
    ("ws-csc", "CSC-3", "2026-11-02", "assessment", [SKYE, DAWN], {"audience": "safeguarding_leads"}),
]  # fmt: skip

RICH_READERS = {
    # the allocated social worker: health and criminal-offence clearance, not protected identities
    "sw": ("ws-csc", ["social_worker"], ["special_category", "criminal_offence"]),
    # the school's designated safeguarding lead, with no special-category clearance
    "dsl": ("ws-school", ["designated_safeguarding_lead"], []),
    "pc": ("ws-police", ["police_officer"], ["criminal_offence"]),
    "analyst": ("ws-partnership", ["analyst"], []),
    # an agency with no involvement in this family
    "probation": ("ws-probation", ["practitioner"], []),
}
S, H, A = Decision.see, Decision.placeholder, Decision.absent
# written out from the rules: see (S), placeholder (H) or absent (A), per reader
EXPECTED: dict[str, dict[str, Decision]] = {
    "HOU-2": dict(sw=S, dsl=S, pc=H, analyst=A, probation=A),  # named: social care and school
    "CSC-1": dict(sw=S, dsl=S, pc=S, analyst=A, probation=A),  # case team
    "SCH-3": dict(sw=A, dsl=S, pc=A, analyst=A, probation=A),  # another child: the school's own only
    "POL-1": dict(sw=S, dsl=H, pc=S, analyst=A, probation=A),  # criminal offence: the DSL is not cleared
    "HEA-4": dict(sw=A, dsl=A, pc=A, analyst=A, probation=A),  # another child's health: nobody here
    "POL-2": dict(sw=S, dsl=A, pc=S, analyst=A, probation=A),  # existence hidden: absent, never a placeholder
    "HEA-1": dict(sw=H, dsl=H, pc=H, analyst=A, probation=A),  # leads only + health: sw not a DSL, dsl not cleared
    "HEA-2": dict(sw=S, dsl=H, pc=H, analyst=A, probation=A),  # case team + health
    "SCH-1": dict(sw=S, dsl=S, pc=S, analyst=A, probation=A),
    "HEA-3": dict(sw=A, dsl=A, pc=A, analyst=A, probation=A),  # Alfie only: no case open on him
    "HOU-1": dict(sw=S, dsl=S, pc=S, analyst=A, probation=A),
    "CSC-2": dict(sw=S, dsl=S, pc=S, analyst=A, probation=A),
    "SCH-2": dict(sw=S, dsl=S, pc=H, analyst=A, probation=A),  # named: social care only
    "CSC-4": dict(sw=S, dsl=H, pc=H, analyst=A, probation=A),  # originating agency only
    "CSC-3": dict(sw=S, dsl=S, pc=H, analyst=A, probation=A),  # safeguarding leads
}
RICH_AGENCY = {ref: agency for agency, ref, *_ in RICH}
RICH_DATE = {ref: when for _, ref, when, *_ in RICH}
# identifying details of protected people: who may see them
IDENTITY_MARKERS = {
    "ZQXREFNAME": "CSC-1",
    "ZQXREFADDR": "CSC-1",
    "9390996031": "CSC-1",
    "1975-05-05": "CSC-1",
    "ZQXNBRDESC": "HOU-1",
}
IDENTITY_SEEN_BY = {"sw": {"CSC-1"}, "dsl": set(), "pc": set(), "analyst": set(), "probation": set()}
QUERIES = [
    "Skye Penrose",
    "Alfie Penrose",
    "Dawn Penrose",
    "Penrose",
    "Skye",
    "Lee ZQXPARTNER",
    "ZQXPARTNER",
    "Brenda ZQXREFNAME",
    "ZQXREFNAME",
    "Brenda",
    "Mason Trelawney",
    "Trelawney",
    "9390996031",
]


def marker(ref: str) -> str:
    return "ZQXM" + ref.replace("-", "")


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path_factory.mktemp("access-rich") / "rich.sqlite", create=True, clock=lambda: T0)
    docs = []
    for agency, ref, when, kind, people, markings in RICH:
        rels = tuple(("m", "mother_of", p["ref"]) for p in people if p["role"] == "child" and DAWN in people)
        docs.append(
            make(
                agency,
                ref,
                when,
                kind,
                people,
                summary=f"{kind.replace('_', ' ').capitalize()} {marker(ref)}",
                narrative=f"Recorded by {agency}; the detail is {marker(ref)}.",
                relationships=rels,
                **markings,
            )
        )
    assert [o.status for o in s.append(docs)] == ["accepted"] * len(docs)
    open_case(s, "WS-PENROSE-1", "Skye Penrose", "2017-08-21")
    add_readers(s, RICH_READERS, {"WS-PENROSE-1": ["sw", "dsl", "pc"]})
    yield s
    s.close()


def test_rich_store_joins_the_case_as_expected(rich: EmbeddedStore) -> None:
    """The ground the table stands on: the store (not a reader) joins Skye across agencies."""
    system = rich.system_view()
    (skye,) = [p for p in system.find_people("Skye Penrose") if "2017-08-21" in p.dobs]
    assert set(skye.names) == {"Skye Penrose", "Skye PENROSE"}
    assert skye.agencies == ["ws-csc", "ws-health", "ws-housing", "ws-police", "ws-school"]
    assert rich.fragment_count() == len(RICH)


@pytest.mark.parametrize("reader", sorted(RICH_READERS))
def test_rich_each_fragment_as_each_reader_sees_it(rich: EmbeddedStore, reader: str) -> None:
    v = rich.view(reader, "safeguarding")
    for agency, ref, *_ in RICH:
        got = v.fragment(fid(agency, ref))
        want = EXPECTED[ref][reader]
        if want is S:
            assert got is not None and got["record_ref"] == ref, (reader, ref)
        elif want is H:
            assert got is not None, (reader, ref)
            assert_placeholder(got, fid(agency, ref), agency)
        else:
            assert got is None, (reader, ref, got)
    assert v.fragment_count() == sum(1 for ref in EXPECTED if EXPECTED[ref][reader] is S)


@pytest.mark.parametrize("reader", sorted(RICH_READERS))
def test_rich_chronology_of_skye(rich: EmbeddedStore, reader: str) -> None:
    v = rich.view(reader, "safeguarding")
    visible = {ref for ref in EXPECTED if EXPECTED[ref][reader] is S}
    found = [p for p in v.find_people("Skye Penrose") if "2017-08-21" in p.dobs]
    if not visible:
        assert found == []
        return
    (skye,) = found
    about_skye = {
        ref
        for _, ref, _, _, people, _ in RICH
        if any(p["name"] in ("Skye Penrose", "Skye PENROSE") for p in people if "name" in p)
    }
    assert shown_refs(v, skye.person_id) == visible & about_skye
    # placeholders exactly for hidden records about Skye whose existence may be known
    held = {ref for ref in about_skye if EXPECTED[ref][reader] is H}
    want = set()
    for ref in held:
        month = RICH_DATE[ref][:7]
        last = calendar.monthrange(int(month[:4]), int(month[5:]))[1]
        want.add((RICH_AGENCY[ref], f"{month}-01", f"{month}-{last}"))
    assert held_lines(v, skye.person_id) == want
    assert ("ws-police", "2026-04-01", "2026-04-30") not in held_lines(v, skye.person_id)  # POL-2: never
    # counts and agencies: only what the reader may read (one event per record here)
    assert set(skye.agencies) == {RICH_AGENCY[ref] for ref in visible & about_skye}
    assert skye.events == len(visible & about_skye)


@pytest.mark.parametrize("reader", sorted(RICH_READERS))
def test_rich_alfie_has_no_placeholders_for_records_off_the_case(rich: EmbeddedStore, reader: str) -> None:
    v = rich.view(reader, "safeguarding")
    found = [p for p in v.find_people("Alfie Penrose") if "2020-01-15" in p.dobs]
    if EXPECTED["CSC-1"][reader] is A:
        assert found == []
        return
    (alfie,) = found
    # Alfie's health record (HEA-3) is on no case the reader works on: absent, not held back
    assert shown_refs(v, alfie.person_id) == {"CSC-1", "CSC-2"}
    assert held_lines(v, alfie.person_id) == set()
    assert alfie.agencies == ["ws-csc"]


@pytest.mark.parametrize("reader", sorted(RICH_READERS))
@pytest.mark.parametrize("purpose", ["safeguarding", "meeting"])
def test_rich_no_marker_reaches_a_reader_who_may_not_read_it(rich: EmbeddedStore, reader: str, purpose: str) -> None:
    v = rich.view(reader, purpose)
    fids = [fid(agency, ref) for agency, ref, *_ in RICH] + [NO_SUCH_FRAGMENT]
    text = everything_shown(v, QUERIES, fids)
    forbidden = {marker(ref) for ref in EXPECTED if EXPECTED[ref][reader] is not S}
    forbidden |= {m for m, ref in IDENTITY_MARKERS.items() if ref not in IDENTITY_SEEN_BY[reader]}
    if EXPECTED["POL-1"][reader] is not S and EXPECTED["POL-2"][reader] is not S:
        forbidden.add("ZQXPARTNER")  # Lee is named only in police records
    allowed = {marker(ref) for ref in EXPECTED if EXPECTED[ref][reader] is S} - forbidden
    leaked = sorted(m for m in forbidden if m in text)
    assert not leaked, (reader, leaked)
    # and the test is not vacuous: what they may read does reach them
    missing = sorted(m for m in allowed if m not in text)
    assert not missing, (reader, missing)


@pytest.mark.parametrize("reader", ["dsl", "pc"])
def test_rich_protected_people_are_labelled_for_readers_without_the_right(rich: EmbeddedStore, reader: str) -> None:
    v = rich.view(reader, "safeguarding")
    skye = one(v, "Skye Penrose", "2017-08-21")
    protected = {n for n in line_people(v, skye) if "identity protected" in n}
    assert {n.split(" ")[0] for n in protected} == {"Referrer", "Neighbour"}
    assert all(PROTECTED.match(n) for n in protected), protected
    for q in ("Brenda", "ZQXREFNAME", "9390996031"):
        assert v.find_people(q) == []
    referral = v.fragment(fid("ws-csc", "CSC-1"))
    assert referral is not None
    (r,) = [m for m in referral["people"] if m["ref"] == "r"]
    assert set(r) == {"ref", "role", "description", "identity_protected"}


def test_rich_the_social_worker_sees_her_own_referrer_but_not_housings_neighbour(rich: EmbeddedStore) -> None:
    v = rich.view("sw", "safeguarding")
    skye = one(v, "Skye Penrose", "2017-08-21")
    names = line_people(v, skye)
    assert "Brenda ZQXREFNAME" in names  # her own agency's referrer
    (nbr,) = [n for n in names if n.startswith("Neighbour")]
    assert PROTECTED.match(nbr)  # housing's protected neighbour, and she is not cleared
    (brenda,) = v.find_people("Brenda ZQXREFNAME")
    assert brenda.dobs == ["1975-05-05"] and brenda.agencies == ["ws-csc"]


@pytest.mark.parametrize("purpose", ["safeguarding", "meeting", "analysis"])
def test_rich_analyst_and_uninvolved_agency_find_nothing(rich: EmbeddedStore, purpose: str) -> None:
    sw = rich.view("sw", "safeguarding")
    skye = one(sw, "Skye Penrose", "2017-08-21")
    for reader in ("analyst", "probation"):
        v = rich.view(reader, purpose)
        assert v.fragment_count() == 0
        assert all(v.find_people(q) == [] for q in QUERIES)
        assert v.person(skye) is None and v.chronology(skye) == [] and len(v.network(skye)) == 0
        for agency, ref, *_ in RICH:
            assert v.fragment(fid(agency, ref)) is None


def test_rich_a_hidden_records_person_id_answers_like_one_that_never_was(rich: EmbeddedStore) -> None:
    """The DSL may not know POL-2 exists: naming a person by it says "not found", as for
    an id that never was; the police officer who holds it gets Skye."""
    pol2 = fid("ws-police", "POL-2")
    hidden_pid = f"P{pol2[1:17]}-0"
    made_up = "P" + "f" * 16 + "-0"
    dsl, pc = rich.view("dsl", "safeguarding"), rich.view("pc", "safeguarding")
    for pid in (hidden_pid, made_up):
        assert dsl.person(pid) is None and dsl.chronology(pid) == [] and len(dsl.network(pid)) == 0
    mine = pc.person(hidden_pid)
    assert mine is not None and "Skye PENROSE" in mine.names


# ====================================================================== 3. resolution must not leak

RUBY_SCHOOL = {"ref": "c", "role": "child", "name": "Ruby Ashdown", "dob": "2018-04-09"}
RUBY_HV = {
    "ref": "c",
    "role": "child",
    "name": "Rubie Ashdowne",
    "identifiers": [{"scheme": "nhs", "value": "9082462818"}],
}
RUBY_GP = {
    "ref": "c",
    "role": "child",
    "name": "Ruby Ashdown",
    "dob": "2018-04-09",
    "identifiers": [{"scheme": "nhs", "value": "9082462818"}],
}


@pytest.fixture
def ruby(tmp_path: Path) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path / "ruby.sqlite", create=True, clock=lambda: T0)
    docs = [
        # the school knows her by name and date of birth
        make("ws-school", "SCH-R1", "2026-09-08", "school_attendance", [RUBY_SCHOOL], summary="Attendance 88%"),
        # a health visitor knows her by NHS number, a different spelling and no dob
        make("ws-health", "HV-R1", "2026-06-10", "home_visit", [RUBY_HV], summary="Home visit ZQXHVR1"),
        # only this health record carries both; health data, case team
        make("ws-health", "GP-R1", "2026-07-15", "health_appointment", [RUBY_GP], summary="Review ZQXGPR1",
             special=("health",)),
    ]  # fmt: skip
    assert [o.status for o in s.append(docs)] == ["accepted"] * 3
    open_case(s, "WS-ASHDOWN-1", "Ruby Ashdown", "2018-04-09")
    add_readers(
        s,
        {
            "dsl": ("ws-school", ["designated_safeguarding_lead"], []),
            "sw": ("ws-csc", ["social_worker"], ["special_category"]),
        },
        {"WS-ASHDOWN-1": ["dsl", "sw"]},
    )
    yield s
    s.close()


def test_the_store_itself_joins_ruby_through_the_health_record(ruby: EmbeddedStore) -> None:
    system = ruby.system_view()
    (joined,) = system.find_people("Ruby Ashdown")
    assert set(joined.names) == {"Ruby Ashdown", "Rubie Ashdowne"}
    assert [i["value"] for i in joined.identifiers] == ["9082462818"]
    assert joined.agencies == ["ws-health", "ws-school"]
    # a cleared reader on the case sees her joined too, as the evidence they may read does
    sw = ruby.view("sw", "safeguarding")
    (seen,) = sw.find_people("9082462818")
    assert set(seen.names) == {"Ruby Ashdown", "Rubie Ashdowne"} and seen.dobs == ["2018-04-09"]


def test_a_reader_without_health_clearance_does_not_see_the_join(ruby: EmbeddedStore) -> None:
    v = ruby.view("dsl", "safeguarding")
    by_name = v.find_people("Ruby Ashdown")
    (school_ruby,) = by_name
    assert school_ruby.names == ["Ruby Ashdown"] and school_ruby.dobs == ["2018-04-09"]
    assert school_ruby.identifiers == [] and school_ruby.agencies == ["ws-school"]
    assert shown_refs(v, school_ruby.person_id) == {"SCH-R1"}
    # whoever carries the NHS number for this reader is not the school's Ruby
    everyone = {p.person_id: p for q in ("Ruby", "Ashdown", "Rubie Ashdowne", "9082462818") for p in v.find_people(q)}
    for p in everyone.values():
        if any(i["value"] == "9082462818" for i in p.identifiers):
            assert p.person_id != school_ruby.person_id
            assert p.dobs == [] and "Ruby Ashdown" not in p.names
    # nothing she is shown puts the NHS number next to the school's name and date of birth
    for pid in everyone:
        net = v.network(pid, radius=2)
        people = [d for n, d in net.nodes(data=True) if n[0] == "person"]
        assert not any(d.get("dob") == "2018-04-09" and d.get("name") != "Ruby Ashdown" for d in people)
    text = everything_shown(v, ["Ruby Ashdown", "Ruby", "9082462818"], [fid("ws-health", "GP-R1")])
    assert "ZQXGPR1" not in text
    gp = v.fragment(fid("ws-health", "GP-R1"))
    assert gp is not None
    assert_placeholder(gp, fid("ws-health", "GP-R1"), "ws-health")


def test_searching_the_school_name_does_not_find_the_health_spelling(ruby: EmbeddedStore) -> None:
    """The spelling 'Rubie Ashdowne' reaches the school DSL only through the health
    visitor's record, never as another name of the school's Ruby."""
    v = ruby.view("dsl", "safeguarding")
    for q in ("Ruby Ashdown", "Ashdown"):
        for p in v.find_people(q):
            assert "Rubie Ashdowne" not in p.names


def test_one_hidden_record_is_not_held_back_under_two_people_it_alone_joins(ruby: EmbeddedStore) -> None:
    v = ruby.view("dsl", "safeguarding")
    (school_ruby,) = v.find_people("Ruby Ashdown")
    (health_ruby,) = v.find_people("9082462818")
    assert health_ruby.person_id != school_ruby.person_id  # two people to her, as they should be
    assert not held_lines(v, school_ruby.person_id) & held_lines(v, health_ruby.person_id)


GAIL = {"ref": "w", "role": "witness", "name": "Gail Hensher", "dob": "1968-03-03"}
IVY = {"ref": "c", "role": "child", "name": "Ivy Marchant", "dob": "2019-09-09"}


def test_a_protected_referrers_chronology_does_not_betray_her_other_records(tmp_path: Path) -> None:
    s = EmbeddedStore.open(tmp_path / "ivy.sqlite", create=True, clock=lambda: T0)
    try:
        referrer = {**GAIL, "ref": "r", "role": "referrer", "identity_protected": True}
        docs = [
            make("ws-csc", "CSC-I1", "2026-05-05", "referral", [IVY, referrer], summary="Anonymous concern"),
            # the same woman, named, as a witness to a police call: criminal-offence data
            make("ws-police", "POL-I1", "2026-08-08", "police_callout", [IVY, GAIL],
                 summary="Disturbance ZQXPOLI1", special=("criminal_offence",)),
        ]  # fmt: skip
        assert [o.status for o in s.append(docs)] == ["accepted"] * 2
        (gail,) = s.system_view().find_people("Gail Hensher")
        assert len(s.fragments_about(gail.person_id)) == 2  # the store joined them
        open_case(s, "WS-IVY-1", "Ivy Marchant", "2019-09-09")
        add_readers(s, {"dsl": ("ws-school", ["designated_safeguarding_lead"], [])}, {"WS-IVY-1": ["dsl"]})
        v = s.view("dsl", "safeguarding")
        ivy = one(v, "Ivy Marchant", "2019-09-09")
        assert held_lines(v, ivy) == {("ws-police", "2026-08-01", "2026-08-31")}  # Ivy's: fine
        (ref_pid,) = {
            pp.person_id for ln in v.chronology(ivy) for pp in ln.people if pp.name.startswith("Referrer (identity")
        }
        assert v.person(ref_pid) is not None
        # the referrer, as this reader knows her, is in one record only: the referral
        assert held_lines(v, ref_pid) == set()
    finally:
        s.close()


def test_a_placeholder_does_not_unmask_an_anonymous_referrer(tmp_path: Path) -> None:
    s = EmbeddedStore.open(tmp_path / "unmask.sqlite", create=True, clock=lambda: T0)
    try:
        gail = {**GAIL, "role": "relative"}
        referrer = {**GAIL, "ref": "r", "role": "referrer", "identity_protected": True}
        docs = [
            # the referral: safeguarding leads only, the caller's identity protected
            make("ws-csc", "CSC-U1", "2026-05-05", "referral", [IVY, referrer], summary="Concern ZQXCSCU1",
                 audience="safeguarding_leads"),
            # the school knows the same woman by name, as a relative who collects Ivy
            make("ws-school", "SCH-U1", "2026-09-09", "school_concern", [IVY, gail], summary="Late collection"),
        ]  # fmt: skip
        assert [o.status for o in s.append(docs)] == ["accepted"] * 2
        open_case(s, "WS-IVY-1", "Ivy Marchant", "2019-09-09")
        add_readers(s, {"pc": ("ws-police", ["police_officer"], [])}, {"WS-IVY-1": ["pc"]})
        v = s.view("pc", "safeguarding")
        # Ivy's chronology may say social care holds a record about her (the marking allows it)
        assert held_lines(v, one(v, "Ivy Marchant", "2019-09-09")) == {("ws-csc", "2026-05-01", "2026-05-31")}
        (named,) = v.find_people("Gail Hensher")
        assert shown_refs(v, named.person_id) == {"SCH-U1"}
        # but nothing the officer may see ties Gail to that record: she is in it only as the
        # identity-protected caller
        assert held_lines(v, named.person_id) == set()
    finally:
        s.close()


def test_a_pseudonym_survives_reopening_the_store(tmp_path: Path) -> None:
    path = tmp_path / "pseudo.sqlite"
    labels = []
    for _ in range(2):
        s = EmbeddedStore.open(path, create=True)
        try:
            if not labels:
                caller = {"ref": "r", "role": "referrer", "description": "a caller", "identity_protected": True}
                s.append([make("ws-csc", "CSC-P1", "2026-05-05", "referral", [IVY, caller], summary="Concern")])
                open_case(s, "WS-IVY-1", "Ivy Marchant", "2019-09-09")
                add_readers(s, {"dsl": ("ws-school", ["designated_safeguarding_lead"], [])}, {"WS-IVY-1": ["dsl"]})
            v = s.view("dsl", "safeguarding")
            labels.append(line_people(v, one(v, "Ivy Marchant", "2019-09-09")) - {"Ivy Marchant"})
        finally:
            s.close()
    assert labels[0] == labels[1] and all(PROTECTED.match(n) for n in labels[0])


# ====================================================================== 4. revocation is immediate

REV_READERS = {
    "sw": ("ws-csc", ["social_worker"], ["special_category"]),
    "dsl": ("ws-school", ["designated_safeguarding_lead"], []),
    "lead-health": ("ws-health", ["health_professional", "designated_safeguarding_lead"], ["special_category"]),
    "housing": ("ws-housing", ["practitioner"], []),
    "housing-2": ("ws-housing", ["practitioner"], []),
}
IVY_REFS = {
    "CSC-V1": ("ws-csc", "2026-03-01", "referral", {}),
    "SCH-V1": ("ws-school", "2026-04-01", "school_concern", {}),
    "HEA-V1": (
        "ws-health",
        "2026-05-01",
        "missed_appointment",
        {"audience": "originating_agency", "special": ("health",)},
    ),
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ivy(tmp_path: Path, clock: Clock) -> Iterator[EmbeddedStore]:
    s = EmbeddedStore.open(tmp_path / "rev.sqlite", create=True, clock=clock)
    docs = [
        make(agency, ref, when, kind, [IVY], summary=f"Record {marker(ref)}", **m)
        for ref, (agency, when, kind, m) in IVY_REFS.items()
    ]
    assert [o.status for o in s.append(docs)] == ["accepted"] * 3
    open_case(s, "WS-IVY-1", "Ivy Marchant", "2019-09-09")
    add_readers(s, REV_READERS, {"WS-IVY-1": ["sw", "dsl"]})
    yield s
    s.close()


def visible_refs(store: EmbeddedStore, reader: str, purpose: str = "safeguarding") -> set[str]:
    v = store.view(reader, purpose)
    out = set()
    for ref, (agency, *_) in IVY_REFS.items():
        doc = v.fragment(fid(agency, ref))
        if doc is not None and not doc.get("held_back"):
            out.add(ref)
    return out


def share(
    store: EmbeddedStore,
    *,
    requester: str,
    ref: str,
    purpose: str = "safeguarding",
    expires_at: str | None = None,
    outcome: str = "share_in_part",
    reconsiders: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """Health is asked for (or reconsiders) one record; returns (request id, decision id)."""
    agency = IVY_REFS[ref][0]
    with store.transaction() as conn:
        if reconsiders is None:
            req = registry.request_info(
                conn,
                requester=registry.get_reader(conn, requester),
                holder_agency=agency,
                person_id="P0000000000000000-0",
                purpose=purpose,
                need="Is Ivy known to health? Rent arrears and a child missing appointments.",
                urgency="routine",
                at=store.clock(),
            )
        else:
            req = registry.get_request(conn, reconsiders[0])
        dec = registry.decide_share(
            conn,
            request=req,
            decided_by=registry.get_reader(conn, "lead-health"),
            outcome=outcome,
            necessity="needed to assess the risk to Ivy" if outcome != "do_not_share" else "not necessary now",
            proportionality="this one record" if outcome != "do_not_share" else "nothing released",
            lawful_basis="public_task",
            special_condition="safeguarding_children" if outcome != "do_not_share" else None,
            released=[] if outcome == "do_not_share" else [(fid(agency, ref), agency)],
            released_digest="",
            family_told=False,
            family_not_told_reason="Telling the family could place Ivy at risk.",
            expires_at=expires_at,
            reconsiders=None if reconsiders is None else reconsiders[1],
            at=store.clock(),
        )
        store.record(conn, "lead-health", "share.decision", {"request": req.id, "decision": dec.id})
    return req.id, dec.id


def test_deactivating_a_reader_takes_effect_on_the_next_view(ivy: EmbeddedStore) -> None:
    assert visible_refs(ivy, "dsl") == {"CSC-V1", "SCH-V1"}
    with ivy.transaction() as conn:
        registry.put_reader(
            conn, reader_id="dsl", agency="ws-school", roles=["designated_safeguarding_lead"], active=False, at="t"
        )
        ivy.record(conn, "admin", "reader.change", {"reader": "dsl", "active": False})
    v = ivy.view("dsl", "safeguarding")
    assert v.fragment_count() == 0 and v.find_people("Ivy Marchant") == []
    assert visible_refs(ivy, "dsl") == set()  # not even the school's own record
    assert v.fragment(fid("ws-health", "HEA-V1")) is None  # and no placeholders either


def test_leaving_the_case_loses_the_case_teams_records_at_once(ivy: EmbeddedStore) -> None:
    assert visible_refs(ivy, "sw") == {"CSC-V1", "SCH-V1"}
    with ivy.transaction() as conn:
        registry.set_membership(conn, "sw", "WS-IVY-1", False)
    assert visible_refs(ivy, "sw") == {"CSC-V1"}  # her own agency's record stays
    v = ivy.view("sw", "safeguarding")
    assert v.fragment(fid("ws-school", "SCH-V1")) is None  # absent, not held back: she is off the case
    assert v.fragment(fid("ws-health", "HEA-V1")) is None
    ivy_id = one(v, "Ivy Marchant", "2019-09-09")
    assert held_lines(v, ivy_id) == set() and shown_refs(v, ivy_id) == {"CSC-V1"}


def test_a_change_made_through_another_connection_takes_effect_at_once(ivy: EmbeddedStore, tmp_path: Path) -> None:
    """The API server and the administrator's command line hold separate connections:
    a grant revoked through one is gone from the other's very next view."""
    other = EmbeddedStore.open(tmp_path / "rev.sqlite", clock=ivy.clock)
    try:
        req, dec = share(ivy, requester="housing", ref="HEA-V1")
        assert visible_refs(other, "housing") == {"HEA-V1"}
        share(ivy, requester="housing", ref="HEA-V1", outcome="do_not_share", reconsiders=(req, dec))
        assert visible_refs(other, "housing") == set()
        with ivy.transaction() as conn:
            registry.set_membership(conn, "dsl", "WS-IVY-1", False)
        assert visible_refs(other, "dsl") == {"SCH-V1"}
    finally:
        other.close()


def test_a_revoked_or_expired_token_identifies_nobody(ivy: EmbeddedStore) -> None:
    with ivy.transaction() as conn:
        tid, token = registry.issue_token(conn, "dsl", at=T0)
        _, old = registry.issue_token(conn, "dsl", at=T0, expires_at="2026-11-23T11:00:00.000000Z")
    with ivy.transaction() as conn:
        assert registry.reader_for_token(conn, token, now=T0) == "dsl"
        assert registry.reader_for_token(conn, old, now=T0) is None
        registry.revoke_token(conn, tid, at=T0)
    with ivy.transaction() as conn:
        assert registry.reader_for_token(conn, token, now=T0) is None
        assert registry.reader_for_token(conn, token + "x", now=T0) is None


def test_a_share_grants_exactly_the_released_record_until_reconsidered(ivy: EmbeddedStore, clock: Clock) -> None:
    assert visible_refs(ivy, "housing") == set()  # not on the case, nothing of Ivy's
    req, dec = share(ivy, requester="housing", ref="HEA-V1")
    assert visible_refs(ivy, "housing") == {"HEA-V1"}  # exactly what was released
    assert visible_refs(ivy, "housing", "meeting") == set()  # for the stated purpose only
    v = ivy.view("housing", "safeguarding")
    (found,) = v.find_people("Ivy Marchant")
    assert found.agencies == ["ws-health"] and shown_refs(v, found.person_id) == {"HEA-V1"}
    assert held_lines(v, found.person_id) == set()  # the rest of the case is absent, not held back
    # the grant is to the requester's agency: a colleague there gets it, nobody else does
    assert visible_refs(ivy, "housing-2") == {"HEA-V1"}
    assert visible_refs(ivy, "dsl") == {"CSC-V1", "SCH-V1"}
    # reconsidered an hour later: do not share; a new decision linked to the old, told to the requester
    clock.now = "2026-11-23T13:00:00.000000Z"
    _, again = share(ivy, requester="housing", ref="HEA-V1", outcome="do_not_share", reconsiders=(req, dec))
    assert visible_refs(ivy, "housing") == set()
    with ivy.transaction() as conn:
        first, second = registry.decisions(conn, req)
        assert registry.live_grants(conn) == []
    assert (first.id, second.id) == (dec, again)
    assert second.reconsiders == dec and second.outcome == "do_not_share" and second.released == []
    assert second.requester_told_at == clock.now and first.released == [fid("ws-health", "HEA-V1")]


def test_a_decision_not_to_share_is_told_and_grants_nothing(ivy: EmbeddedStore) -> None:
    req, dec = share(ivy, requester="housing", ref="HEA-V1", outcome="do_not_share")
    assert visible_refs(ivy, "housing") == set()
    with ivy.transaction() as conn:
        (d,) = registry.decisions(conn, req)
        assert registry.live_grants(conn) == []
    assert d.id == dec and d.requester_told_at == T0 and d.released == []


def test_a_grant_expires_by_the_stores_clock(ivy: EmbeddedStore, clock: Clock) -> None:
    share(ivy, requester="housing", ref="HEA-V1", expires_at="2026-11-23T13:00:00.000000Z")
    assert visible_refs(ivy, "housing") == {"HEA-V1"}
    clock.now = "2026-11-23T13:00:00.000001Z"
    assert visible_refs(ivy, "housing") == set()


def test_a_grant_already_expired_gives_nothing(ivy: EmbeddedStore) -> None:
    share(ivy, requester="housing", ref="HEA-V1", expires_at="2026-11-22T00:00:00.000000Z")
    assert visible_refs(ivy, "housing") == set()


def test_a_grant_for_a_meeting_does_not_serve_safeguarding(ivy: EmbeddedStore) -> None:
    share(ivy, requester="housing", ref="HEA-V1", purpose="meeting")
    assert visible_refs(ivy, "housing", "meeting") == {"HEA-V1"}
    assert visible_refs(ivy, "housing", "safeguarding") == set()
    assert visible_refs(ivy, "housing", "analysis") == set()


def test_a_grant_expiry_with_an_offset_is_not_misread(ivy: EmbeddedStore, clock: Clock) -> None:
    clock.now = "2026-11-23T12:30:00.000000Z"
    try:
        share(ivy, requester="housing", ref="HEA-V1", expires_at="2026-11-23T13:00:00+01:00")
    except registry.InvalidRecord:
        return  # refusing an expiry that is not in UTC would do too
    assert visible_refs(ivy, "housing") == set()


# ====================================================================== 5. the policy, rule by rule

CSC, SCH, POL, HEA, HOU = "ws-csc", "ws-school", "ws-police", "ws-health", "ws-housing"
SC, CO, PI = Clearance.special_category, Clearance.criminal_offence, Clearance.protected_identities
DSL, SW = Role.designated_safeguarding_lead, Role.social_worker
TEAM, LEADS, NAMED, ORIGIN = "case_team", "safeguarding_leads", "named_agencies", "originating_agency"
HEALTH, CRIME = ("health",), ("criminal_offence",)
K1, NONE = frozenset({"K1"}), frozenset[str]()
ALL = (SC, CO, PI)


def rdr(
    agency: str, *roles: Role, cases: tuple[str, ...] = ("K1",), cl: tuple[Clearance, ...] = (), active: bool = True
) -> Reader:
    return Reader("r", agency, frozenset(roles), frozenset(cases), frozenset(cl), active)


def frg(
    audience: str = TEAM,
    special: tuple[str, ...] = (),
    *,
    by: str = HEA,
    hidden: bool = False,
    named: tuple[str, ...] = (),
) -> FragmentAccess:
    return FragmentAccess(by, audience, frozenset(named), frozenset(special), not hidden)


SG, MT, AN, AU, AD = Purpose.safeguarding, Purpose.meeting, Purpose.analysis, Purpose.audit, Purpose.administration

# (why, reader, purpose, fragment, cases of the children it mentions, granted, decision)
POLICY: list[tuple[str, Reader, Purpose, FragmentAccess, frozenset[str], bool, Decision]] = [
    # 1. an inactive reader sees nothing, not even their own agency's or what was granted
    ("inactive: own agency", rdr(HEA, active=False), SG, frg(), K1, False, A),
    ("inactive: granted", rdr(SCH, active=False), SG, frg(), K1, True, A),
    ("inactive: on the case, a cleared DSL", rdr(CSC, DSL, cl=ALL, active=False), SG, frg(), K1, False, A),
    # administration and audit: no content at all
    ("administration: own agency", rdr(HEA), AD, frg(), K1, False, A),
    ("audit: own agency", rdr(HEA), AU, frg(), K1, False, A),
    ("administration: granted", rdr(SCH), AD, frg(), K1, True, A),
    ("audit: on the case", rdr(SCH, DSL, cl=ALL), AU, frg(), K1, False, A),
    # 2. the originating agency always sees its own, whatever the marking
    ("own: originating only, hidden", rdr(HEA, cases=()), SG, frg(ORIGIN, HEALTH, hidden=True), NONE, False, S),
    ("own: leads only, not a DSL", rdr(HEA), MT, frg(LEADS), K1, False, S),
    ("own: criminal, not cleared", rdr(POL, cases=()), SG, frg(TEAM, CRIME, by=POL), NONE, False, S),
    ("own: analysis", rdr(HEA, Role.analyst, cases=()), AN, frg(TEAM, HEALTH), NONE, False, S),
    # 3. a live grant for this purpose stands in for the case, the audience and the clearance
    ("granted: off case, uncleared", rdr(HOU, cases=()), SG, frg(ORIGIN, HEALTH, hidden=True), NONE, True, S),
    ("granted: meeting", rdr(SCH, cases=()), MT, frg(LEADS, CRIME, by=POL), NONE, True, S),
    ("granted: analysis", rdr(SCH, cases=()), AN, frg(), NONE, True, S),
    # 4. otherwise only for working on a child's case, for a case purpose
    ("team: on the case", rdr(SCH), SG, frg(), K1, False, S),
    ("team: meeting", rdr(SCH), MT, frg(), K1, False, S),
    ("team: one of several cases", rdr(SCH, cases=("K2", "K7")), SG, frg(), frozenset({"K1", "K7"}), False, S),
    ("team: analysis purpose", rdr(SCH), AN, frg(), K1, False, A),
    ("team: another case", rdr(SCH, cases=("K2",)), SG, frg(), K1, False, A),
    ("team: no case at all", rdr(SCH, cases=()), SG, frg(), K1, False, A),
    ("team: fragment on no case", rdr(SCH), SG, frg(), NONE, False, A),
    ("leads: a DSL", rdr(SCH, DSL), SG, frg(LEADS), K1, False, S),
    ("leads: not a DSL", rdr(CSC, SW, cl=ALL), SG, frg(LEADS), K1, False, H),
    ("leads: not a DSL, hidden", rdr(CSC, SW), SG, frg(LEADS, hidden=True), K1, False, A),
    ("leads: a DSL off the case", rdr(SCH, DSL, cases=()), SG, frg(LEADS), K1, False, A),
    ("named: named", rdr(SCH), SG, frg(NAMED, named=(CSC, SCH)), K1, False, S),
    ("named: not named", rdr(POL), SG, frg(NAMED, named=(CSC, SCH)), K1, False, H),
    ("named: not named, hidden", rdr(POL), SG, frg(NAMED, named=(CSC,), hidden=True), K1, False, A),
    ("originating: another agency", rdr(CSC, DSL, cl=ALL), SG, frg(ORIGIN), K1, False, H),
    ("originating: hidden", rdr(CSC, DSL), SG, frg(ORIGIN, hidden=True), K1, False, A),
    ("unknown audience: the narrower reading", rdr(CSC, DSL, cl=ALL), SG, frg("whole_partnership"), K1, False, H),
    # special categories need the matching clearance
    ("health: cleared", rdr(CSC, cl=(SC,)), SG, frg(TEAM, HEALTH), K1, False, S),
    ("health: not cleared", rdr(SCH, DSL), SG, frg(TEAM, HEALTH), K1, False, H),
    ("health: criminal clearance only", rdr(POL, cl=(CO,)), SG, frg(TEAM, HEALTH), K1, False, H),
    ("health: protected identities is not it", rdr(SCH, cl=(PI,)), SG, frg(TEAM, HEALTH), K1, False, H),
    ("health: not cleared, hidden", rdr(SCH), SG, frg(TEAM, HEALTH, hidden=True), K1, False, A),
    ("sex life: special category", rdr(CSC, cl=(SC,)), MT, frg(TEAM, ("sex_life",)), K1, False, S),
    ("religious belief: not cleared", rdr(CSC, cl=(CO,)), SG, frg(TEAM, ("religious_belief",)), K1, False, H),
    ("criminal: cleared", rdr(CSC, cl=(CO,)), SG, frg(TEAM, CRIME, by=POL), K1, False, S),
    ("criminal: special category is not it", rdr(CSC, cl=(SC,)), SG, frg(TEAM, CRIME, by=POL), K1, False, H),
    ("both: both cleared", rdr(CSC, cl=(SC, CO)), SG, frg(TEAM, HEALTH + CRIME), K1, False, S),
    ("both: one missing", rdr(CSC, cl=(CO,)), SG, frg(TEAM, HEALTH + CRIME), K1, False, H),
    ("leads + health: the demo school DSL", rdr(SCH, DSL), SG, frg(LEADS, HEALTH), K1, False, H),
    ("leads + health: a cleared DSL elsewhere", rdr(CSC, DSL, cl=(SC,)), SG, frg(LEADS, HEALTH), K1, False, S),
    ("named + criminal: named, not cleared", rdr(SCH), SG, frg(NAMED, CRIME, by=POL, named=(SCH,)), K1, False, H),
    ("leads + criminal, hidden: a DSL", rdr(SCH, DSL), MT, frg(LEADS, CRIME, by=POL, hidden=True), K1, False, A),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reader", "purpose", "fragment", "cases", "granted", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in POLICY],
)
def test_policy(
    reader: Reader, purpose: Purpose, fragment: FragmentAccess, cases: frozenset[str], granted: bool, expected: Decision
) -> None:
    assert decide(reader, purpose, fragment, cases, granted=granted) is expected


def test_policy_table_covers_every_purpose_and_outcome() -> None:
    assert {row[2] for row in POLICY} == set(Purpose)
    assert {row[6] for row in POLICY} == set(Decision)
    assert {row[3].audience for row in POLICY} >= {TEAM, LEADS, NAMED, ORIGIN}


@pytest.mark.parametrize(
    ("reader", "origin", "expected"),
    [
        pytest.param(rdr(CSC), CSC, True, id="originating agency"),
        pytest.param(rdr(SCH, cl=(PI,)), CSC, True, id="cleared for protected identities"),
        pytest.param(rdr(SCH, DSL, cl=(SC, CO)), CSC, False, id="other clearances are not it"),
        pytest.param(rdr(SCH, cases=()), CSC, False, id="anyone else"),
        pytest.param(rdr(CSC, active=False), CSC, False, id="inactive: own agency"),
        pytest.param(rdr(SCH, cl=(PI,), active=False), CSC, False, id="inactive: cleared"),
    ],
)
def test_who_may_see_a_protected_identity(reader: Reader, origin: str, expected: bool) -> None:
    assert may_see_identity(reader, frg(by=origin)) is expected


def test_markings_are_read_from_the_canonical_fragment() -> None:
    doc = make("ws-police", "POL-X", "2026-06-01", "incident", [SKYE_POLICE, NEIGHBOUR],
               summary="x", audience="named_agencies", agencies=("ws-csc",), special=("criminal_offence",),
               existence=False)  # fmt: skip
    assert FragmentAccess.of(doc) == FragmentAccess(
        "ws-police", "named_agencies", frozenset({"ws-csc"}), frozenset({"criminal_offence"}), False, (1,)
    )
    plain = make("ws-school", "SCH-X", "2026-06-01", "school_concern", [SKYE], summary="x")
    assert FragmentAccess.of(plain) == FragmentAccess("ws-school", "case_team", frozenset(), frozenset(), True, ())


def test_releasing_another_agencys_fragment_answers_as_for_no_fragment(store: EmbeddedStore) -> None:
    """A decider who names a fragment of another agency learns nothing about it: the
    answer is the one for an id that does not exist."""
    doc, errors = check_fragment(fragment(), now=NOW)
    assert doc is not None, errors
    store.append([doc])
    theirs = fragment_id(doc["agency"]["id"], doc["record_ref"])
    store.put_reader("admin", reader_id="asker", agency="x-school", roles=["designated_safeguarding_lead"])
    store.put_reader("admin", reader_id="decider", agency="x-police", roles=["police_officer"])
    req = store.request_share(
        "asker", holder_agency="x-police", person_id="P0000000000000000-0", purpose="safeguarding",
        need="what police hold", urgency="routine",
    )  # fmt: skip
    answers = []
    for fid in (theirs, "F" + "0" * 24):
        with pytest.raises(NotFound) as exc:
            store.decide_share(
                "decider", req.id, outcome="share_in_full", necessity="n", proportionality="p",
                lawful_basis="public_task", released=[fid], family_told=True,
            )  # fmt: skip
        answers.append((exc.value.field, exc.value.message))
    assert answers[0] == answers[1] == ("released", "no fragment of your agency has this id")
    assert store.share_records(req.id) == []  # nothing half-written
