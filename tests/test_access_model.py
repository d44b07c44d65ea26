"""Every reader's view equals a brute-force projection of only what that reader may read.

A Hypothesis state machine on a real store (SQLite file): random agencies add fragments
with random markings (audiences, special categories, hidden existence, identity-protected
mentions), correct and retract them; administrators change case memberships, clearances
and readers' active state; holding agencies decide to share fragments with another
agency for a purpose, and reconsider. After every step, for each of five readers:

- the reference: decide (the pure policy in graph.access) for every current fragment,
  using cases worked out from a fresh replay of the journal and grants read straight
  from the tables; project exactly the fragments the reader may see, identity-protected
  mentions redacted, into a new Projection; read it through a SystemView;
- the view under test: ``store.view(reader, "safeguarding")``;
- for every name and identifier in the pool: the people found, each one's summary,
  chronology (placeholders aside) and network must be equal, ids included: 0 differences;
- every fragment carries a planted marker in its summary and narrative; no marker of a
  fragment (version) the reader may not read may appear anywhere in what the view
  returns, placeholders included;
- placeholder lines carry no content (no people, sources, concerns or summary text).

The default run makes at least 1,000 steps (examples x steps a run; see SETTINGS).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from graph import registry
from graph.access import Decision, FragmentAccess, Purpose, decide, may_see_identity, redact_protected
from graph.embedded import EmbeddedStore
from graph.projection import Projection
from graph.store import fragment_id
from graph.view import ReaderView, SystemView, ViewSource
from ingest.linkage import Linker
from ingest.validate import check_fragment
from tests.conftest import NOW
from tests.test_replay import AGENCIES, POOL, bodies

# agency id -> a reader who leads for that agency and may release its fragments
LEADS = {a[0]: f"lead-{a[2]}" for a in AGENCIES}
READERS = {
    # reader: (agency, roles, clearances)
    "sw": ("nt-social-care", ["social_worker"], ["special_category", "criminal_offence", "protected_identities"]),
    "dsl": ("nt-school", ["designated_safeguarding_lead"], []),
    "pc": ("nt-police", ["police_officer"], ["criminal_offence"]),
    "hv": ("nt-health", ["health_professional", "designated_safeguarding_lead"], ["special_category"]),
    "out": ("nt-housing", ["practitioner"], []),
}
CLOCK = "2026-11-23T12:00:00.000000Z"
AUDIENCES = ["case_team", "case_team", "case_team", "safeguarding_leads", "originating_agency", "named_agencies"]
SPECIAL = [[], [], ["health"], ["criminal_offence"]]
QUERIES = sorted({f"{p.given} {p.family}" for p in POOL} | {p.family for p in POOL} | {p.nhs for p in POOL})
SETTINGS = settings(
    max_examples=30,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


class AccessModel(RuleBasedStateMachine):
    # the store's entity resolution: None is the Core's exact keys; LinkedAccessModel
    # runs the same machine with the Fellegi-Sunter matcher and relational evidence
    matcher: Linker | None = None

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.store = EmbeddedStore.open(
            Path(self.dir.name) / "s.sqlite", create=True, clock=lambda: CLOCK, matcher=self.matcher
        )
        self.refs: dict[str, list[str]] = {a[0]: [] for a in AGENCIES}
        self.markers: dict[str, str] = {}  # fragment id -> its marker
        self.decisions: list[tuple[str, str]] = []  # (request id, decision id) with live grants
        self.n = 0
        with self.store.transaction() as conn:
            for rid, (agency, roles, clearances) in READERS.items():
                registry.put_reader(conn, reader_id=rid, agency=agency, roles=roles, clearances=clearances, at="t")
            for agency, lead in LEADS.items():
                registry.put_reader(conn, reader_id=lead, agency=agency, roles=["designated_safeguarding_lead"], at="t")

    def teardown(self) -> None:
        self.store.close()
        self.dir.cleanup()

    # ------------------------------------------------------------------ writing

    def _append(self, raw: dict[str, Any]) -> None:
        self.n += 1
        marker = f"MARKER{self.n:04d}X"
        if raw.get("event"):
            raw["event"]["summary"] = f"{raw['event']['summary']} {marker}"
            raw["event"]["narrative"] = f"Noted {marker}."
        checked, errors = check_fragment(raw, now=NOW)
        assert checked is not None, errors
        (outcome,) = self.store.append([checked])
        if outcome.status == "accepted":
            self.markers[outcome.fragment_id] = marker
            self.refs[raw["agency"]["id"]].append(raw["record_ref"])

    @st.composite
    @staticmethod
    def _markings(draw: st.DrawFn) -> dict[str, Any]:
        audience = draw(st.sampled_from(AUDIENCES))
        m: dict[str, Any] = {"audience": audience, "existence_visible": draw(st.booleans())}
        if audience == "named_agencies":
            m["agencies"] = draw(st.lists(st.sampled_from([a[0] for a in AGENCIES]), min_size=1, unique=True))
        return m

    def _decorate(self, raw: dict[str, Any], markings: dict[str, Any], special: list[str]) -> dict[str, Any]:
        raw["markings"] = markings
        if special:
            raw["sharing"] = {
                **raw["sharing"],
                "special_category": special,
                "special_category_condition": "safeguarding_children",
            }
        return raw

    @initialize(data=st.data())
    def first_case(self, data: st.DataObject) -> None:
        """Social care's first record of the first child, and a case opened on her."""
        child = POOL[0]
        raw = data.draw(bodies(AGENCIES[3], "CSC-CASE", False))
        raw["people"] = [
            {
                "ref": "c",
                "role": "child",
                "name": f"{child.given} {child.family}",
                "dob": child.dob,
                "identifiers": [{"scheme": "nhs", "value": child.nhs}],
            }
        ]
        raw["relationships"] = []
        self._append(self._decorate(raw, {"audience": "case_team"}, []))
        (found,) = self.store.system_view().find_people(f"{child.given} {child.family}")
        fid, mention = self.store.person_anchor(found.person_id)
        with self.store.transaction() as conn:
            registry.open_case(conn, case_id="K1", fragment_id=fid, mention=mention, at="t", by="admin")
            for rid in ("sw", "dsl", "pc"):
                registry.set_membership(conn, rid, "K1", True)

    @rule(data=st.data(), agency=st.sampled_from(AGENCIES), markings=_markings(), special=st.sampled_from(SPECIAL))
    def add(self, data: st.DataObject, agency: Any, markings: dict[str, Any], special: list[str]) -> None:
        ref = f"{agency[3]}-{self.n + 1}"
        self._append(self._decorate(data.draw(bodies(agency, ref, False)), markings, special))

    @precondition(lambda self: any(self.refs.values()))
    @rule(data=st.data(), markings=_markings(), special=st.sampled_from(SPECIAL), retract=st.booleans())
    def correct(self, data: st.DataObject, markings: dict[str, Any], special: list[str], retract: bool) -> None:
        agency = data.draw(st.sampled_from([a for a in AGENCIES if self.refs[a[0]]]))
        target = (
            self.refs[agency[0]][-1] if data.draw(st.booleans()) else data.draw(st.sampled_from(self.refs[agency[0]]))
        )
        raw = data.draw(bodies(agency, f"{agency[3]}-{self.n + 1}-C", retract))
        raw["supersedes"] = {"record_ref": target, "reason": "corrected", "retract": retract}
        if retract:
            raw.pop("event", None)
            raw["people"], raw["relationships"] = [], []
        self._append(self._decorate(raw, markings, special))

    @rule(reader=st.sampled_from(["sw", "dsl", "pc", "hv", "out"]), member=st.booleans())
    def membership(self, reader: str, member: bool) -> None:
        with self.store.transaction() as conn:
            registry.set_membership(conn, reader, "K1", member)

    @rule(reader=st.sampled_from(sorted(READERS)), clearances=st.sets(st.sampled_from(["special_category",
          "criminal_offence", "protected_identities"])), active=st.sampled_from([True, True, True, False]))  # fmt: skip
    def entitlements(self, reader: str, clearances: set[str], active: bool) -> None:
        agency, roles, _ = READERS[reader]
        with self.store.transaction() as conn:
            registry.put_reader(
                conn, reader_id=reader, agency=agency, roles=roles, clearances=clearances, active=active, at="t"
            )

    @precondition(lambda self: bool(self.markers))
    @rule(
        data=st.data(), requester=st.sampled_from(sorted(READERS)), purpose=st.sampled_from(["safeguarding", "meeting"])
    )
    def share(self, data: st.DataObject, requester: str, purpose: str) -> None:
        fid = data.draw(st.sampled_from(sorted(self.markers)))
        holder = self.store.get_fragment(fid)
        assert holder is not None
        agency = holder["agency"]["id"]
        with self.store.transaction() as conn:
            req = registry.request_info(
                conn,
                requester=registry.get_reader(conn, requester),
                holder_agency=agency,
                person_id="P0000000000000000-0",
                purpose=purpose,
                need="what is known",
                urgency="routine",
                at="t",
            )
            dec = registry.decide_share(
                conn,
                request=req,
                decided_by=registry.get_reader(conn, LEADS[agency]),
                outcome="share_in_part",
                necessity="needed for the enquiry",
                proportionality="only this record",
                lawful_basis="public_task",
                special_condition="safeguarding_children",
                released=[(fid, agency)],
                released_digest="x",
                family_told=True,
                family_not_told_reason=None,
                expires_at=data.draw(st.sampled_from([None, None, "2026-11-23T11:00:00Z", "2026-11-24T00:00:00Z"])),
                reconsiders=None,
                at="t",
            )
        self.decisions.append((req.id, dec.id))

    @precondition(lambda self: bool(self.decisions))
    @rule(data=st.data())
    def reconsider(self, data: st.DataObject) -> None:
        i = data.draw(st.integers(0, len(self.decisions) - 1))
        req_id, dec_id = self.decisions.pop(i)
        with self.store.transaction() as conn:
            req = registry.get_request(conn, req_id)
            holder = conn.execute("SELECT decided_by FROM share_decisions WHERE id = ?", (dec_id,)).fetchone()[0]
            registry.decide_share(
                conn,
                request=req,
                decided_by=registry.get_reader(conn, holder),
                outcome="do_not_share",
                necessity="no longer necessary",
                proportionality="n/a",
                lawful_basis="public_task",
                special_condition=None,
                released=[],
                released_digest="",
                family_told=True,
                family_not_told_reason=None,
                expires_at=None,
                reconsiders=dec_id,
                at="t",
            )

    # ------------------------------------------------------------------ the reference

    def _reference(self, reader_id: str) -> tuple[ReaderView, dict[str, Decision]]:
        store = self.store
        conn = store._conn
        reader = registry.get_reader(conn, reader_id)
        rows = list(conn.execute("SELECT seq, id, body, supersedes FROM fragments ORDER BY seq"))
        docs = {seq: json.loads(body) for seq, _, body, _ in rows}
        fids = {seq: fid for seq, fid, _, _ in rows}
        superseded = {sup for _, _, _, sup in rows if sup is not None}
        sups = {seq: sup for seq, _, _, sup in rows}
        everything = store.replay()
        case_of: dict[int, set[str]] = {}
        for case_id, fid, mention in registry.cases(conn):
            seq = next(s for s, f in fids.items() if f == fid)
            case_of.setdefault(everything.mention_people(seq)[mention], set()).add(case_id)
        grants = {(a, f, p) for a, f, p, exp in registry.live_grants(conn) if exp is None or exp > CLOCK}

        def current(seq: int) -> bool:
            return seq not in superseded and not docs[seq].get("supersedes", {}).get("retract")

        def decided(seq: int, cases: frozenset[str]) -> Decision:
            granted = (reader.agency, fids[seq], "safeguarding") in grants
            return decide(reader, Purpose.safeguarding, FragmentAccess.of(docs[seq]), cases, granted=granted)

        direct_cases = {
            seq: frozenset(
                c for m, pid in zip(doc.get("people", ()), everything.mention_people(seq), strict=False)
                if m["role"] == "child" for c in case_of.get(pid, ())
            )
            for seq, doc in docs.items()
        }  # fmt: skip
        direct = {seq: decided(seq, direct_cases[seq]) for seq in docs}
        circles = self._circles(reader.cases, docs, everything, case_of, current, direct)
        decisions: dict[str, Decision] = {}
        visible: list[int] = []
        rank = {Decision.absent: 0, Decision.placeholder: 1, Decision.see: 2}
        for seq in docs:
            d = direct[seq]
            named = set(everything.mention_people(seq))
            extra = frozenset(c for c, (child, circle) in circles.items() if child not in named and named & circle)
            if d is not Decision.see and extra:
                wider = decided(seq, direct_cases[seq] | extra)
                d = wider if rank[wider] > rank[d] else d
            decisions[fids[seq]] = d
            if current(seq) and d is Decision.see:
                visible.append(seq)
        shown_docs: dict[int, dict[str, Any]] = {}
        ref = Projection(matcher=self.matcher, docs=lambda seqs: {s: shown_docs[s] for s in seqs})
        for seq in visible:
            doc = docs[seq]
            access = FragmentAccess.of(doc)
            if access.protected_mentions and not may_see_identity(reader, access):
                for i in access.protected_mentions:
                    doc = redact_protected(doc, [i], store._pseudonym(reader.agency, seq, i))
            shown_docs[seq] = doc
            ref.apply(seq, fids[seq], doc, sups[seq])
        source = ViewSource(
            projection=ref,
            load=lambda seqs: {s: docs[s] for s in seqs},
            fids=lambda seqs: {s: fids[s] for s in seqs},
            seq_of_prefix=lambda prefix: next((s for s, f in fids.items() if f[1:].startswith(prefix)), None),
            cases_of=lambda seq: frozenset(),
            granted=lambda *a: False,
            pseudonym=store._pseudonym,
        )
        return SystemView(source), decisions

    @staticmethod
    def _circles(
        cases: frozenset[str],
        docs: dict[int, dict[str, Any]],
        everything: Projection,
        case_of: dict[int, set[str]],
        current: Any,
        direct: dict[int, Decision],
    ) -> dict[str, tuple[int, set[int]]]:
        """Brute force, from the documents: for each of the reader's cases, its child and
        the adults around the child as records the reader may read on the child's own
        account say (beside the child as parent, step-parent, carer or household member;
        related to the child; partner of such a parent)."""
        out: dict[str, tuple[int, set[int]]] = {}
        for child, cs in case_of.items():
            for case in cs & cases:
                circle: set[int] = set()
                parents: set[int] = set()
                readable = [s for s in docs if current(s) and direct[s] is Decision.see]
                for s in readable:
                    doc, pids = docs[s], everything.mention_people(s)
                    roles = {m["ref"]: (m["role"], pid) for m, pid in zip(doc.get("people", ()), pids, strict=False)}
                    if any(r == "child" and pid == child for r, pid in roles.values()):
                        for r, pid in roles.values():
                            if pid != child and r in ("parent", "step_parent", "carer", "household_member"):
                                circle.add(pid)
                                if r != "household_member":
                                    parents.add(pid)
                    for rel in doc.get("relationships", ()):
                        a, b = roles[rel["subject"]][1], roles[rel["object"]][1]
                        parental = ("mother_of", "father_of", "parent_of", "step_parent_of", "carer_of")
                        if rel["kind"] in parental and b == child:
                            circle.add(a)
                            parents.add(a)
                        elif rel["kind"] == "lives_with" and child in (a, b):
                            circle.add(b if a == child else a)
                for s in readable:
                    doc, pids = docs[s], everything.mention_people(s)
                    roles = {m["ref"]: (m["role"], pid) for m, pid in zip(doc.get("people", ()), pids, strict=False)}
                    for rel in doc.get("relationships", ()):
                        a, b = roles[rel["subject"]][1], roles[rel["object"]][1]
                        if rel["kind"] == "partner_of" and (a in parents or b in parents):
                            circle.update({a, b} - parents if a in parents and b in parents else {a, b})
                    if any(r == "parent" and pid in parents for r, pid in roles.values()):
                        circle.update(pid for r, pid in roles.values() if r == "partner")
                circle.discard(child)
                out[case] = (child, circle)
        return out

    @staticmethod
    def _lines(view: ReaderView, pid: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        lines = [ln.as_dict() for ln in view.chronology(pid)]
        held = [ln for ln in lines if ln["held_back"]]
        for ln in lines:
            for s in ln["sources"]:  # the reference holds no earlier versions: checked apart
                s["replaces"] = None
        return [ln for ln in lines if not ln["held_back"]], held

    @staticmethod
    def _net(view: ReaderView, pid: str) -> Any:
        g = view.network(pid)
        nodes = sorted((repr(n), sorted(d.items())) for n, d in g.nodes(data=True))
        edges = sorted((repr(u), repr(v), repr(k), sorted(d.items())) for u, v, k, d in g.edges(keys=True, data=True))
        return nodes, edges

    @invariant()
    def each_reader_sees_exactly_their_projection(self) -> None:
        if not self.markers:
            return
        for reader_id in READERS:
            ref, decisions = self._reference(reader_id)
            view = self.store.view(reader_id, "safeguarding")
            forbidden = [m for fid, m in self.markers.items() if decisions[fid] is not Decision.see]
            shown: list[Any] = []
            for q in QUERIES:
                # the same people; the order is each store's own (first learnt of first)
                got = sorted((asdict(p) for p in view.find_people(q)), key=lambda p: p["person_id"])
                want = sorted((asdict(p) for p in ref.find_people(q)), key=lambda p: p["person_id"])
                assert got == want, (reader_id, q)
                shown.append(got)
                for p in got:
                    pid = p["person_id"]
                    assert asdict(view.person(pid)) == asdict(ref.person(pid))  # type: ignore[arg-type]
                    lines, held = self._lines(view, pid)
                    assert lines == self._lines(ref, pid)[0], (reader_id, pid)
                    for h in held:
                        assert h["people"] == [] and h["sources"] == [] and h["concerns"] == [], h
                        assert h["summary"].startswith("A record held by "), h
                    assert self._net(view, pid) == self._net(ref, pid), (reader_id, pid)
                    full = view.chronology(pid)
                    shown.append([ln.as_dict() for ln in full])
                    for ln in full:
                        for src in ln.sources:
                            # earlier versions listed are exactly those the reader may read
                            chain = self._earlier(src.fragment_id)
                            assert src.replaces == [f for f in chain if decisions[f] is Decision.see]
                    shown.append(repr(sorted(view.network(pid).nodes(data=True))))
            for fid in self.markers:
                shown.append(view.fragment(fid))
            text = json.dumps(shown, default=str)
            leaked = [m for m in forbidden if m in text]
            assert not leaked, (reader_id, leaked)

    def _earlier(self, fid: str) -> list[str]:
        out = []
        doc = self.store.get_fragment(fid)
        while doc and doc.get("supersedes"):
            prev = fragment_id(doc["agency"]["id"], doc["supersedes"]["record_ref"])
            out.append(prev)
            doc = self.store.get_fragment(prev)
        return out


AccessModel.TestCase.settings = SETTINGS
TestAccessModel = AccessModel.TestCase


class LinkedAccessModel(AccessModel):
    """The same machine with entity resolution as the API runs it: scored joins,
    relational evidence ("Ms L WALSH", parent of the child beside her) and ambiguity.
    A join must never rest on a record the reader may not read, so each reader's view
    must still equal the brute-force projection of only what they may read."""

    matcher = Linker()


LINKED_SETTINGS = settings(SETTINGS, max_examples=25, stateful_step_count=40)
LinkedAccessModel.TestCase.settings = LINKED_SETTINGS
TestLinkedAccessModel = LinkedAccessModel.TestCase


def test_the_model_runs_enough_steps() -> None:
    """The issue asks for at least 1,000 steps in the normal suite."""
    assert SETTINGS.max_examples * SETTINGS.stateful_step_count >= 1000
