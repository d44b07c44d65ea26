"""Property: replaying the journal from empty gives exactly the graph built incrementally.

Hypothesis builds random sequences of valid fragments about a small pool of synthetic
people, chosen so that every kind of join and correction happens: shared verified NHS
numbers (and wrong or invalid ones), exact name + date of birth matches, initials-only
names, twins sharing a surname and date of birth, evidence that joins two people late,
dates of birth that disagree, same-day visits by different
agencies (corroboration), corrections and retractions of earlier records, resends, and
conflicting bodies under a reused record reference. The fragments go through
``check_fragment`` and into a real ``EmbeddedStore`` on a SQLite file in random batches
(some all-or-nothing, some with the store closed and reopened between them). Then:

- the append outcomes match a simple model of the contract, and nothing rejected (or
  left unwritten by an all-or-nothing batch) is in the journal;
- after every batch, ``store.replay()`` equals the live projection;
- at the end, a store reopened from the file, and a second connection that caught up
  through ``PRAGMA data_version``, equal the live projection too;
- a store reopened in another process, with another string hash seed (so any set or
  dict order that leaks into the result would show), gives the same graph.

"Equal" is ``tests.graph_compare.canonical``: the sorted node-link data of the networkx
export (all versions and current only), every person's chronology as dicts, and the
projection's per-person values, events, relationships and fragment states.
"""

from __future__ import annotations

import copy
import os
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from graph.embedded import EmbeddedStore
from graph.projection import Projection
from graph.store import AppendOutcome, fragment_id
from ingest.normalise import make_nhs_number
from ingest.validate import check_fragment
from tests.conftest import NOW, ROOT
from tests.graph_compare import canonical, first_difference


@dataclass(frozen=True)
class Synthetic:
    key: str
    given: str
    family: str
    dob: str
    sex: str
    role: str
    nhs: str


def _nhs(first_nine: str) -> str:
    value = make_nhs_number(first_nine)
    assert value is not None, first_nine
    return value


# Synthetic people only. The Reed twins share a surname and a date of birth; Mia and
# Mark Walsh share an initial ("M Walsh").
POOL = [
    Synthetic("mia", "Mia", "Walsh", "2019-03-14", "female", "child", _nhs("943476591")),
    Synthetic("noah", "Noah", "Walsh", "2021-07-02", "male", "child", _nhs("943476592")),
    Synthetic("ava", "Ava", "Reed", "2020-01-05", "female", "child", _nhs("943476593")),
    Synthetic("ella", "Ella", "Reed", "2020-01-05", "female", "child", _nhs("943476594")),
    Synthetic("leanne", "Leanne", "Walsh", "1990-04-11", "female", "parent", _nhs("943476595")),
    Synthetic("dean", "Dean", "Walsh", "1988-09-30", "male", "parent", _nhs("943476597")),
    Synthetic("mark", "Mark", "Walsh", "1985-06-01", "male", "relative", _nhs("943476598")),
    Synthetic("kyle", "Kyle", "Reed", "1992-02-17", "male", "partner", _nhs("943476599")),
]

AGENCIES = [
    ("nt-police", "Northshire Police", "police", "POL"),
    ("nt-school", "Larch Primary School", "school", "SCH"),
    ("nt-health", "Northshire Health Visiting", "health", "HV"),
    ("nt-social-care", "Northshire Children's Social Care", "social_care", "CSC"),
]

ADDRESSES = [
    {"text": "14 Larch Close, Northtown", "postcode": "nt4 2qp"},
    {"text": "3 Alder Row, Northtown", "postcode": "NT4 9XA"},
]

# Mostly one household per fragment, so that the same children recur (corroboration).
HOUSEHOLDS = [[0, 1, 4, 5, 6], [0, 1, 4], [2, 3, 7], list(range(len(POOL)))]

# Visits are one family of kinds: two agencies' same-day visits to the same children
# corroborate each other.
VISITS = ["home_visit", "welfare_check", "police_callout"]
KINDS = ["home_visit", "welfare_check", "police_callout", "home_visit", "injury", "school_concern", "referral"]
# All before the earliest recorded day; "yesterday" resolves against the recorded day.
WHENS: list[Any] = [
    "2026-05-17",
    "2026-05-17",
    "2026-05-17",
    "2026-05-16",
    "2026-05-17T09:30",
    "yesterday",
    "2026-05",
    {"start": "2026-05-10", "end": "2026-05-12"},
    {"text": "2026-05-16", "approximate": True},
]
RECORDED_DAYS = ["2026-05-18", "2026-05-19", "2026-05-20"]
STATEMENTS = [
    {"kind": "fact"},
    {"kind": "opinion", "whose": "health visitor"},
    {"kind": "hearsay", "reported_by": "a neighbour"},
    {"kind": "allegation"},
]
CONCERNS = ["neglect", "supervision", "physical_abuse", "domestic_abuse"]
REL_KINDS = ["mother_of", "father_of", "sibling_of", "partner_of", "lives_with"]


@st.composite
def mentions(draw: st.DrawFn, ref: str, person: Synthetic, agency_prefix: str) -> dict[str, Any]:
    m: dict[str, Any] = {"ref": ref, "role": draw(st.sampled_from([person.role] * 4 + ["sibling", "witness"]))}
    form = draw(st.sampled_from(["full", "full", "parts", "initial", "title", "description"]))
    if form == "full":
        m["name"] = f"{person.given} {person.family}"
    elif form == "parts":
        m["name"] = {"given": person.given, "family": person.family}
    elif form == "initial":
        m["name"] = f"{person.given[0]} {person.family}"
    elif form == "title":
        m["name"] = f"{'Ms' if person.sex == 'female' else 'Mr'} {person.given} {person.family.upper()}"
    else:
        m["description"] = f"a {'girl' if person.sex == 'female' else 'boy'} at the address"
    dob = draw(st.sampled_from(["right", "right", "none", "wrong"]))
    if dob == "right":
        m["dob"] = person.dob
    elif dob == "wrong":
        m["dob"] = str(int(person.dob[:4]) - 1) + person.dob[4:]
    if draw(st.booleans()):
        m["sex"] = person.sex
    idents = []
    nhs = draw(st.sampled_from(["none", "none", "right", "right", "spaced", "other", "invalid"]))
    if nhs == "right":
        idents.append({"scheme": "nhs", "value": person.nhs})
    elif nhs == "spaced":
        idents.append({"scheme": "nhs", "value": f"{person.nhs[:3]} {person.nhs[3:6]} {person.nhs[6:]}"})
    elif nhs == "other":
        idents.append({"scheme": "nhs", "value": draw(st.sampled_from([p.nhs for p in POOL]))})
    elif nhs == "invalid":
        idents.append({"scheme": "nhs", "value": person.nhs[:9] + str((int(person.nhs[9]) + 1) % 10)})
    if draw(st.integers(0, 3)) == 0:
        idents.append({"scheme": "agency_person_id", "value": f"{agency_prefix}-{person.key}"})
    if idents:
        m["identifiers"] = idents
    addr = draw(st.sampled_from([None, None, 0, 1]))
    if addr is not None:
        m["addresses"] = [ADDRESSES[addr]]
    if draw(st.integers(0, 7)) == 0:
        m["identity_protected"] = True
    return m


@st.composite
def bodies(draw: st.DrawFn, agency: tuple[str, str, str, str], record_ref: str, retract: bool) -> dict[str, Any]:
    aid, aname, atype, prefix = agency
    day = draw(st.sampled_from(RECORDED_DAYS))
    household = draw(st.sampled_from(HOUSEHOLDS))
    people_idx = draw(st.lists(st.sampled_from(household), unique=True, max_size=4))
    if retract and draw(st.booleans()):
        people_idx = []
    people = [draw(mentions(f"p{i}", POOL[k], prefix)) for i, k in enumerate(people_idx)]
    rels = []
    if len(people) >= 2:
        pairs = draw(
            st.lists(
                st.tuples(st.integers(0, len(people) - 1), st.sampled_from(REL_KINDS), st.integers(0, len(people) - 1)),
                max_size=3,
                unique=True,
            )
        )
        rels = [{"subject": f"p{a}", "kind": k, "object": f"p{b}"} for a, k, b in pairs if a != b]
    doc: dict[str, Any] = {
        "agency": {"id": aid, "name": aname, "type": atype},
        "author": {"role": draw(st.sampled_from(["officer", "teacher", "health visitor"])), "id": f"{prefix}-7"},
        "record_ref": record_ref,
        "recorded_at": f"{day}T09:00:00Z",
        "shared_at": f"{day}T{draw(st.sampled_from(['09:30', '11:00']))}:00Z",
        "people": people,
        "relationships": rels,
        "statement": draw(st.sampled_from(STATEMENTS)),
        "concerns": draw(st.lists(st.sampled_from(CONCERNS), unique=True, max_size=2)),
        "significance": draw(st.sampled_from(["low", "medium", "high"])),
        "sharing": {"lawful_basis": "public_task", "family_told": True},
    }
    if not retract:
        event: dict[str, Any] = {
            "kind": draw(st.sampled_from(KINDS)),
            "when": copy.deepcopy(draw(st.sampled_from(WHENS))),
            "summary": draw(
                st.sampled_from(["Children seen at home", "Bruise to forearm noted", "Call about shouting"])
            ),
        }
        if draw(st.booleans()):
            event["place"] = {"address": ADDRESSES[draw(st.integers(0, 1))]}
        doc["event"] = event
    return doc


@st.composite
def journals(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, bool, bool]]]:
    """Raw fragments in sending order, and batches as (size, all_or_nothing, reopen_before)."""
    n = draw(st.integers(1, 28))
    raws: list[dict[str, Any]] = []
    for _ in range(n):
        action = draw(
            st.sampled_from(
                [
                    "new",
                    "new",
                    "new",
                    "resend",
                    "corroborate",
                    "late_join",
                    "correct",
                    "correct",
                    "retract",
                    "bad_correction",
                ]
            )
        )
        if action == "resend" and raws:
            raws.append(copy.deepcopy(draw(st.sampled_from(raws))))
            continue
        if action == "late_join":
            # one person known first by NHS number only, then by name and date of birth
            # only (two people so far), then by both: the evidence joining them came late
            person = draw(st.sampled_from(POOL))
            nhs = [{"scheme": "nhs", "value": person.nhs}]
            full = f"{person.given} {person.family}"
            known = [
                {"name": f"{person.given[0]} {person.family}", "identifiers": nhs},
                {"name": full, "dob": person.dob},
                {"name": full, "dob": person.dob, "identifiers": nhs},
            ]
            for details in known:
                agency = draw(st.sampled_from(AGENCIES))
                doc = draw(bodies(agency, f"{agency[3]}-J{len(raws)}", retract=False))
                doc["people"] = [{"ref": "x", "role": person.role, **details}, *doc["people"][:1]]
                doc["relationships"] = []
                raws.append(doc)
            continue
        with_event = [r for r in raws if "event" in r]
        if action == "corroborate" and with_event:
            # another agency reports the same visit to the same people
            earlier = draw(st.sampled_from(with_event))
            agency = draw(st.sampled_from([a for a in AGENCIES if a[0] != earlier["agency"]["id"]]))
            doc = draw(bodies(agency, f"{agency[3]}-C{len(raws)}", retract=False))
            doc["people"] = copy.deepcopy(earlier["people"])
            doc["relationships"] = copy.deepcopy(earlier["relationships"])
            doc["event"]["when"] = copy.deepcopy(earlier["event"]["when"])
            kind = earlier["event"]["kind"]
            doc["event"]["kind"] = draw(st.sampled_from(VISITS if kind in VISITS else [kind]))
            doc["recorded_at"], doc["shared_at"] = earlier["recorded_at"], earlier["shared_at"]
            raws.append(doc)
            continue
        if action in ("correct", "retract") and raws:
            earlier = draw(st.sampled_from(raws))
            agency = next(a for a in AGENCIES if a[0] == earlier["agency"]["id"])
            # a small pool of references: a reused one is a resend or a conflict
            ref = f"{agency[3]}-{draw(st.integers(0, 9))}"
            doc = draw(bodies(agency, ref, retract=action == "retract"))
            doc["supersedes"] = {"record_ref": earlier["record_ref"], "reason": "corrected after checking records"}
            if action == "retract":
                doc["supersedes"]["retract"] = True
            raws.append(doc)
            continue
        agency = draw(st.sampled_from(AGENCIES))
        doc = draw(bodies(agency, f"{agency[3]}-{draw(st.integers(0, 9))}", retract=False))
        if action == "bad_correction":
            doc["supersedes"] = {"record_ref": f"{agency[3]}-404", "reason": "names nothing that was shared"}
        raws.append(doc)
    batches = []
    left = len(raws)
    while left:
        size = draw(st.integers(1, min(6, left)))
        batches.append((size, draw(st.integers(0, 3)) == 0, draw(st.integers(0, 5)) == 0))
        left -= size
    return raws, batches


def canon(raw: dict[str, Any]) -> dict[str, Any]:
    doc, errors = check_fragment(raw, now=NOW)
    assert errors == [], (errors, raw)
    assert doc is not None
    return doc


class ContractModel:
    """The append contract, written out plainly: what each document's outcome should be."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[int, dict[str, Any]]] = {}
        self.superseded: set[int] = set()

    def append(self, docs: list[dict[str, Any]], all_or_nothing: bool) -> list[tuple[str, int | None]]:
        stored = dict(self.stored)
        superseded = set(self.superseded)
        next_seq = len(stored) + 1
        out: list[tuple[str, int | None]] = []
        for doc in docs:
            fid = fragment_id(doc["agency"]["id"], doc["record_ref"])
            if fid in stored:
                seq, body = stored[fid]
                out.append(("duplicate", seq) if body == doc else ("rejected", None))
                continue
            sup = doc.get("supersedes")
            if sup:
                target = stored.get(fragment_id(doc["agency"]["id"], sup["record_ref"]))
                if target is None or target[0] in superseded:
                    out.append(("rejected", None))
                    continue
                superseded.add(target[0])
            stored[fid] = (next_seq, doc)
            out.append(("accepted", next_seq))
            next_seq += 1
        if all_or_nothing and any(s == "rejected" for s, _ in out):
            return [("not_written", None) if s == "accepted" else (s, q) for s, q in out]
        self.stored, self.superseded = stored, superseded
        return out


def assert_same(a: Projection, b: Projection, what: str) -> None:
    ca, cb = canonical(a), canonical(b)
    assert ca == cb, f"{what}: {first_difference(ca, cb)}"


def check_journal(path: Path, model: ContractModel, store: EmbeddedStore) -> None:
    conn = sqlite3.connect(path)
    try:
        count, max_seq = conn.execute("SELECT count(*), max(seq) FROM fragments").fetchone()
    finally:
        conn.close()
    assert count == len(model.stored)
    assert (max_seq or 0) == count
    for fid, (_seq, doc) in model.stored.items():
        assert store.get_fragment(fid) == doc


def note_features(p: Projection, statuses: set[str]) -> None:
    """Label the example for ``--hypothesis-show-statistics``: what did it exercise?"""
    if not currently_in_test_context():
        return
    for s in sorted(statuses):
        event(f"outcome {s}")
    if any(len({p.fragments[s].agency for s in ev.sources}) > 1 for ev in p.events.values()):
        event("corroborated event")
    if any(len({s for s, _, _ in person.mentions}) > 1 for person in p.people.values()):
        event("person joined across fragments")
    if p._next_person - 1 > len(p.people):
        event("people merged late")
    if any(m.retracted for m in p.fragments.values()):
        event("retraction")
    if any(m.superseded_by is not None for m in p.fragments.values()):
        event("correction")


def run_journal(root: Path, raws: list[dict[str, Any]], batches: list[tuple[int, bool, bool]]) -> None:
    path = root / "store.sqlite"
    docs = [canon(r) for r in raws]
    store = EmbeddedStore.open(path, create=True)
    reader = EmbeddedStore.open(path)  # a second connection that only catches up
    model = ContractModel()
    seen: set[str] = set()
    try:
        pos = 0
        for size, all_or_nothing, reopen_before in batches:
            if reopen_before:
                store.close()
                store = EmbeddedStore.open(path)
            batch = docs[pos : pos + size]
            pos += size
            outcomes: list[AppendOutcome] = store.append(batch, all_or_nothing=all_or_nothing)
            expected = model.append(batch, all_or_nothing)
            seen.update(s for s, _ in expected)
            assert [(o.status, o.seq) for o in outcomes] == expected
            assert [o.index for o in outcomes] == list(range(len(batch)))
            for o, doc in zip(outcomes, batch, strict=True):
                assert o.fragment_id == fragment_id(doc["agency"]["id"], doc["record_ref"])
                if o.status in ("rejected", "not_written"):
                    # nothing rejected is journalled: the id holds the earlier body, or nothing
                    earlier = model.stored.get(o.fragment_id)
                    assert store.get_fragment(o.fragment_id) == (earlier[1] if earlier else None)
                    if o.status == "rejected":
                        assert o.field and o.reason
            assert store.fragment_count() == len(model.stored)
            with store.locked() as live:
                assert_same(store.replay(), live, "replay after a batch differs from the live projection")
        check_journal(path, model, store)
        with store.locked() as live:
            expected_state = canonical(live)
            note_features(live, seen)
        reopened = EmbeddedStore.open(path)
        try:
            with reopened.locked() as again:
                got = canonical(again)
                assert got == expected_state, f"reopened: {first_difference(got, expected_state)}"
        finally:
            reopened.close()
        with reader.locked() as caught_up:
            got = canonical(caught_up)
            assert got == expected_state, f"caught-up reader: {first_difference(got, expected_state)}"
    finally:
        store.close()
        reader.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(journals())
def test_replay_equals_incremental_build(journal: tuple[list[dict[str, Any]], list[tuple[int, bool, bool]]]) -> None:
    raws, batches = journal
    with tempfile.TemporaryDirectory() as tmp:
        run_journal(Path(tmp), raws, batches)


def test_generated_journals_exercise_joins_and_corrections() -> None:
    """The strategy is worth running: check that one fixed journal hits each feature."""
    mia, ava, ella = POOL[0], POOL[2], POOL[3]
    police, school, social = AGENCIES[0], AGENCIES[1], AGENCIES[3]

    def body(agency: tuple[str, str, str, str], ref: str, people: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agency": {"id": agency[0], "name": agency[1], "type": agency[2]},
            "author": {"role": "officer", "id": "X-1"},
            "record_ref": ref,
            "recorded_at": "2026-05-18T09:00:00Z",
            "shared_at": "2026-05-18T10:00:00Z",
            "event": {"kind": "welfare_check", "when": "2026-05-17", "summary": "Children seen at home"},
            "people": people,
            "statement": {"kind": "fact"},
            "significance": "medium",
            "sharing": {"lawful_basis": "public_task", "family_told": True},
        }
        doc.update(extra)
        return doc

    mia_nhs = [{"scheme": "nhs", "value": mia.nhs}]
    ava_m = {"ref": "a", "role": "child", "name": "Ava Reed", "dob": ava.dob}
    ella_m = {"ref": "b", "role": "child", "name": "Ella Reed", "dob": ella.dob}
    retraction = body(school, "E3", [], supersedes={"record_ref": "E2", "reason": "sent in error", "retract": True})
    del retraction["event"]
    raws = [
        body(police, "P1", [{"ref": "c", "role": "child", "name": "Mia Walsh", "identifiers": mia_nhs}]),
        # joins P1 by NHS number, and is a home visit the same day by another agency: corroborates
        body(
            social,
            "S1",
            [{"ref": "c", "role": "child", "name": "M Walsh", "identifiers": mia_nhs}],
            event={"kind": "home_visit", "when": "2026-05-17", "summary": "Home visit"},
        ),
        # the twins: same surname and date of birth, different first names: two people
        body(school, "E1", [ava_m, ella_m]),
        body(school, "E2", [ava_m], supersedes={"record_ref": "E1", "reason": "only Ava was there"}),
        retraction,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        run_journal(Path(tmp), raws, [(2, False, False), (1, True, False), (2, False, True)])
        store = EmbeddedStore.open(Path(tmp) / "store.sqlite")
        try:
            with store.locked() as p:
                c = canonical(p)
            corroborated = [line for line in c["chronologies"][1] if line["corroborated"]]
            assert len(corroborated) == 1 and corroborated[0]["agencies"] == ["nt-police", "nt-social-care"]
            assert len(c["people"]) == 3  # Mia (joined by NHS number), Ava, Ella
            assert [s for s, f in c["fragments"].items() if f[-1]] == [1, 2]  # E1 corrected, E2 retracted
            assert c["chronologies"][2] == [] and c["chronologies"][3] == []  # nothing current about the twins
        finally:
            store.close()


_REOPEN_ELSEWHERE = """
import sys
from graph.embedded import EmbeddedStore
from tests.graph_compare import canonical
store = EmbeddedStore.open(sys.argv[1])
with store.locked() as p:
    sys.stdout.write(repr(canonical(p)))
store.close()
"""


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(journals().filter(lambda j: len(j[0]) >= 12))
def test_reopening_in_another_process_gives_the_same_graph(
    journal: tuple[list[dict[str, Any]], list[tuple[int, bool, bool]]],
) -> None:
    raws, batches = journal
    with tempfile.TemporaryDirectory() as tmp:
        run_journal(Path(tmp), raws, batches)
        store = EmbeddedStore.open(Path(tmp) / "store.sqlite")
        try:
            with store.locked() as p:
                here = repr(canonical(p))
        finally:
            store.close()
        for seed in ("0", "12345"):
            env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
            there = subprocess.run(
                [sys.executable, "-c", _REOPEN_ELSEWHERE, str(Path(tmp) / "store.sqlite")],
                capture_output=True,
                text=True,
                env=env,
                cwd=ROOT,
                timeout=60,
                check=True,
            ).stdout
            assert there == here, f"PYTHONHASHSEED={seed}: the graph differs when reopened in another process"
