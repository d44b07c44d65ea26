"""A multi-agency family corpus with ground truth, for measuring resolution.

    from bench.family_corpus import generate_corpus
    corpus = generate_corpus("main")            # seed 19, ~400 families
    corpus = generate_corpus("heldout")         # another seed, other proportions, other names
    for raw in corpus.fragments: ...            # agency input, as check_fragment takes it
    corpus.truth.mention_person[(agency_id, record_ref, mention_ref)]  -> true person id

Unlike ``ingest.generate`` (one population, per-person variation drawn at random), this
generator starts from *how each kind of agency writes*: every agency has a fixed
recording habit, and the variation comes from who the family are and which agency saw
them, not from random noise applied to a name.

* Schools hold the child by name, date of birth and UPN, never an address, and the
  parent as the parent gave it at the office: "Mrs L Walsh" (title and initial), often
  under the name the mother still uses, which need not be the children's.
* Health (health visiting, the emergency department) hold NHS numbers, dates of birth
  and addresses; a record made before a marriage may still carry the maiden name.
* Police records of a domestic call-out name the adults only ("WALSH, Leanne"); the
  children present are in the narrative, not in ``people``.
* Social care and early help name the mother's partner by first name and role only
  ("Dean", partner, partner_of the mother) until he is checked.
* Housing lists household members by name without dates of birth.

The families are blended (step-parents, partners, half-siblings of another surname),
some move from one local authority to the other, some have twins, a daughter named after
her mother or a son after his father, and a separated father may have a child of the
same name in another household. Some incidents are reported by two agencies, the second
often later and with a vague date ("about two weeks ago", "2026-05", an approximate
start). A few mentions are *ambiguous by design*: no date of birth, no identifier, and a
name that fits two relatives of the household equally; the right outcome for those is
to join no one.

Word lists live in ``bench/family_corpus_data/<pool>.json``; the held-out variant uses a
disjoint pool. Everything is invented: postcode areas start with Q (no real UK area
does), NHS numbers start 999 (the range set aside for testing), UPN authority codes are
981-984.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.normalise import make_nhs_number, make_upn

DATA = Path(__file__).resolve().parent / "family_corpus_data"
NOW = datetime(2026, 12, 1, tzinfo=UTC)  # receipt time: after every generated record
FIRST_DAY = date(2024, 1, 8)
LAST_DAY = date(2026, 11, 20)

MentionKey = tuple[str, str, str]  # (agency id, record_ref, mention ref)
FragmentKey = tuple[str, str]  # (agency id, record_ref)


@dataclass(frozen=True)
class Variant:
    """One corpus: its seed, its name pool and the proportions of each kind of family."""

    name: str
    seed: int
    pool: str
    families: int
    twins: float = 0.10  # a family has twins
    same_name_child: float = 0.10  # a daughter named after her mother / a son after his father
    married: float = 0.35  # the mother took the father's surname (a maiden name exists)
    kept_name: float = 0.25  # the mother kept her own surname; the children have the father's
    father_home: float = 0.40  # the children's father lives with them
    partner: float = 0.55  # (father not home) the mother has a partner
    half_sibling: float = 0.40  # (partner) a younger child of the mother and partner
    satellite: float = 0.30  # (father not home) he has another household with a child
    same_name_half: float = 0.50  # (satellite) that child has the name of one of ours
    move: float = 0.25  # the household moves to the other local authority
    maiden_in_health: float = 0.50  # (married) health still holds her maiden name
    previous_given: float = 0.50  # (maiden-named record) previous_names is given
    two_agency: float = 0.45  # an incident is reported by a second agency
    vague_second: float = 0.55  # (two agencies) the second report's date is vague
    trap: float = 0.04  # two different visits to the children on one day
    dob_slip: float = 0.02  # an agency has the date of birth day/month swapped
    incidents: tuple[int, int] = (4, 9)


VARIANTS: dict[str, Variant] = {
    "main": Variant("main", seed=19, pool="main", families=400),
    "heldout": Variant(
        "heldout",
        seed=2719,
        pool="heldout",
        families=300,
        twins=0.14,
        same_name_child=0.14,
        married=0.45,
        kept_name=0.20,
        father_home=0.30,
        partner=0.65,
        half_sibling=0.50,
        satellite=0.40,
        same_name_half=0.60,
        move=0.35,
        maiden_in_health=0.60,
        previous_given=0.35,
        two_agency=0.55,
        vague_second=0.65,
        trap=0.06,
        dob_slip=0.04,
        incidents=(3, 10),
    ),
}


def load_pool(pool: str) -> dict[str, Any]:
    """A variant's word lists (given names by sex, surnames, streets, the two authorities)."""
    with open(DATA / f"{pool}.json", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


# --------------------------------------------------------------------------- the world


@dataclass
class Address:
    text: str
    postcode: str
    la: int  # index into the pool's local_authorities

    def as_json(self, la_name: str) -> dict[str, str]:
        return {"text": self.text, "postcode": self.postcode, "local_authority": la_name}


@dataclass
class Person:
    pid: str
    given: str
    family: str  # the family name now
    sex: str
    dob: date
    nhs: str
    household: str
    adult: bool
    maiden: str | None = None  # an earlier family name (took a partner's name on marriage)
    upn: str | None = None
    school: int | None = None  # index of the school in the authority it attends now

    @property
    def full(self) -> str:
        return f"{self.given} {self.family}"


@dataclass
class Household:
    hid: str
    members: list[str]
    moves: list[tuple[date, Address]]  # from this day, this address
    mother: str
    father: str | None = None  # the children's father, when he lives here
    partner: str | None = None  # the mother's partner (a step-parent to her children)
    children: list[str] = field(default_factory=list)
    absent_father: str | None = None  # lives elsewhere; appears in some records
    satellite_of: str | None = None

    def address_at(self, d: date) -> Address:
        here = self.moves[0][1]
        for start, addr in self.moves:
            if start <= d:
                here = addr
        return here


@dataclass
class Truth:
    """Who every mention is, which incident every fragment reports, and the hard cases."""

    mention_person: dict[MentionKey, str] = field(default_factory=dict)
    fragment_incident: dict[FragmentKey, str] = field(default_factory=dict)
    ambiguous: set[MentionKey] = field(default_factory=set)
    households: dict[str, list[str]] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: dict[str, list[Any]] = field(default_factory=dict)

    def note(self, feature: str, item: Any) -> None:
        self.features.setdefault(feature, []).append(item)

    def as_json(self) -> dict[str, Any]:
        return {
            "mention_person": [[*k, v] for k, v in sorted(self.mention_person.items())],
            "fragment_incident": [[*k, v] for k, v in sorted(self.fragment_incident.items())],
            "ambiguous": sorted(list(k) for k in self.ambiguous),
            "households": self.households,
            "people": self.people,
            "features": {k: [list(x) if isinstance(x, tuple) else x for x in v] for k, v in self.features.items()},
        }


@dataclass
class Corpus:
    variant: Variant
    fragments: list[dict[str, Any]]
    truth: Truth


# --------------------------------------------------------------------------- agencies


@dataclass
class Agency:
    id: str
    name: str
    type: str
    la: int
    prefix: str
    authors: tuple[tuple[str, str], ...]  # (role, id)
    count: int = 0

    def ref(self, d: date) -> str:
        self.count += 1
        return f"{self.prefix}/{d.year % 100:02d}/{self.count:05d}"


def _agencies(pool: dict[str, Any]) -> dict[tuple[int, str], Agency]:
    out: dict[tuple[int, str], Agency] = {}
    for i, la in enumerate(pool["local_authorities"]):
        slug, name = la["slug"], la["name"]
        code = slug[:3].upper()
        spec = [
            (
                "police",
                f"{slug}-constabulary",
                f"{name} Constabulary",
                "police",
                f"{code}POL",
                (("response officer", f"{code}-PC-2210"), ("PPU detective constable", f"{code}-DC-0417")),
            ),
            (
                "social_care",
                f"{slug}-childrens-services",
                f"{name} Children's Services",
                "social_care",
                f"{code}CS",
                (("social worker", f"{code}-SW-118"), ("duty social worker", f"{code}-SW-031")),
            ),
            (
                "early_help",
                f"{slug}-early-help",
                f"{name} Early Help Hub",
                "early_help",
                f"{code}EH",
                (("family support worker", f"{code}-FSW-07"),),
            ),
            (
                "health",
                f"{slug}-community-health",
                f"{name} Community Health (0-19)",
                "health",
                f"{code}HV",
                (("health visitor", f"{code}-HV-22"), ("school nurse", f"{code}-SN-04")),
            ),
            (
                "hospital",
                f"{slug}-general-ed",
                f"{name} General Hospital Emergency Department",
                "health",
                f"{code}ED",
                (("ED paediatric nurse", f"{code}-ED-311"), ("ED registrar", f"{code}-ED-090")),
            ),
            (
                "housing",
                f"{slug}-housing",
                f"{name} Homes",
                "housing",
                f"{code}HSG",
                (("housing officer", f"{code}-HO-15"),),
            ),
        ]
        for key, aid, aname, atype, prefix, authors in spec:
            out[(i, key)] = Agency(aid, aname, atype, i, prefix, authors)
        for s, school in enumerate(la["schools"]):
            sid = "-".join(w.lower().strip("'").replace("'", "") for w in school.split())
            out[(i, f"school{s}")] = Agency(
                sid, school, "school", i, f"S{i}{s}", (("designated safeguarding lead", f"{code}-DSL-{s:02d}"),)
            )
    return out


# --------------------------------------------------------------------------- generator


@dataclass
class _Frag:
    """A fragment being written: its mentions, relationships and the truth about them."""

    agency: Agency
    people: list[dict[str, Any]] = field(default_factory=list)
    pids: list[str] = field(default_factory=list)
    rels: list[dict[str, str]] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # (feature, mention ref)
    refs: dict[str, str] = field(default_factory=dict)  # pid -> ref

    def add(self, pid: str, m: dict[str, Any], *, ambiguous: bool = False, note: str | None = None) -> str:
        ref = m["ref"] = f"p{len(self.people) + 1}"
        self.people.append(m)
        self.pids.append(pid)
        self.refs[pid] = ref
        if ambiguous:
            self.ambiguous.append(ref)
        if note:
            self.notes.append((note, ref))
        return ref

    def rel(self, a: str, kind: str, b: str) -> None:
        if a in self.refs and b in self.refs:
            self.rels.append({"subject": self.refs[a], "kind": kind, "object": self.refs[b]})


class _Gen:
    def __init__(self, variant: Variant, families: int) -> None:
        self.v = variant
        self.rng = random.Random(variant.seed)
        self.pool = load_pool(variant.pool)
        self.las: list[dict[str, Any]] = self.pool["local_authorities"]
        self.agencies = _agencies(self.pool)
        self.truth = Truth()
        self.people: dict[str, Person] = {}
        self.households: dict[str, Household] = {}
        self.fragments: list[dict[str, Any]] = []
        self.n_families = families
        self._nhs = self.rng.randrange(100000, 900000)
        self._upn = 0
        self._addr_used: set[str] = set()
        self._incident = 0
        self._agency_pid: dict[tuple[str, str], str] = {}
        self._maiden_in_health: dict[str, bool] = {}  # health still holds the maiden name
        self._prev_given: dict[tuple[str, str], bool] = {}  # ... and gives previous_names

    # ---- identities

    def _nhs_number(self) -> str:
        while True:
            self._nhs += self.rng.choice((1, 1, 2, 3, 7))
            nhs = make_nhs_number(f"999{self._nhs:06d}")
            if nhs is not None:
                return nhs

    def _upn_for(self, la: int, school: int, dob: date) -> str:
        self._upn += 1
        body = f"{self.las[la]['upn_la']}{2100 + school:04d}{(dob.year + 5) % 100:02d}{self._upn % 1000:03d}"
        return make_upn(body[:11] + body[11])

    def _address(self, la: int) -> Address:
        spec = self.las[la]
        while True:
            num = self.rng.randrange(1, 140)
            street = self.rng.choice(self.pool["streets"])
            town_i = self.rng.randrange(len(spec["towns"]))
            text = f"{num} {street}, {spec['towns'][town_i]}"
            if text not in self._addr_used:
                self._addr_used.add(text)
                break
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        unit = f"{self.rng.randrange(1, 10)}{self.rng.choice(letters)}{self.rng.choice(letters)}"
        pc = f"{spec['postcode_area']}{town_i + 1} {unit}"
        return Address(text, pc, la)

    def _person(self, hid: str, given: str, family: str, sex: str, dob: date, adult: bool) -> Person:
        pid = f"{self.v.name[0].upper()}{len(self.people) + 1:05d}"
        p = Person(pid, given, family, sex, dob, self._nhs_number(), hid, adult)
        self.people[pid] = p
        return p

    def _adult_name(self, sex: str, avoid: set[str]) -> str:
        names = self.pool["female_given" if sex == "female" else "male_given"][:20]
        while True:
            n = self.rng.choice(names)
            if n not in avoid:
                return str(n)

    def _child_name(self, sex: str, avoid: set[str]) -> str:
        names = self.pool["female_given" if sex == "female" else "male_given"][20:]
        while True:
            n = self.rng.choice(names)
            if n not in avoid:
                return str(n)

    def _surname(self, avoid: set[str]) -> str:
        while True:
            s = self.rng.choice(self.pool["surnames"])
            if s not in avoid:
                return str(s)

    def _dob(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randrange(max(1, (hi - lo).days)))

    # ---- families

    def family(self, n: int) -> None:
        rng, v = self.rng, self.v
        hid = f"H{n:04d}"
        la = rng.randrange(2)
        surname = self._surname(set())
        mdob = self._dob(date(1982, 1, 1), date(2001, 6, 30))
        kind = rng.random()
        mgiven = self._adult_name("female", set())
        if kind < v.married:
            maiden = self._surname({surname})
            mother = self._person(hid, mgiven, surname, "female", mdob, True)
            mother.maiden = maiden
        elif kind < v.married + v.kept_name:
            mother = self._person(hid, mgiven, self._surname({surname}), "female", mdob, True)
        else:
            mother = self._person(hid, mgiven, surname, "female", mdob, True)
        fdob = self._dob(mdob - timedelta(days=365 * 6), mdob + timedelta(days=365 * 2))
        father = self._person(hid, self._adult_name("male", set()), surname, "male", fdob, True)
        home = rng.random() < v.father_home
        hh = Household(hid, [mother.pid], [], mother.pid)
        self.households[hid] = hh
        if home:
            hh.father = father.pid
            hh.members.append(father.pid)
        else:
            hh.absent_father = father.pid
            father.household = f"{hid}-F"
        # the children: born to the mother between 18 and 40, before the end of the period
        first = max(mdob + timedelta(days=365 * 18), date(2009, 9, 1))
        last = min(mdob + timedelta(days=365 * 40), date(2025, 12, 31))
        n_children = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
        room = 6 - len(hh.members) - 1  # keep a place for a partner
        n_children = max(1, min(n_children, room))
        dobs = sorted(self._dob(first, last) for _ in range(n_children))
        twins = n_children >= 2 and rng.random() < v.twins
        if twins:
            dobs[1] = dobs[0]
        taken: set[str] = set()
        named_after = rng.random() < v.same_name_child
        for k, d in enumerate(dobs):
            sex = rng.choice(("female", "male"))
            if named_after and k == 0:
                # a daughter named after her mother, when they share a surname; else a son
                # named after his father
                mother_shares = mother.family == surname
                sex = "female" if mother_shares and (not home or rng.random() < 0.6) else "male"
                given = mother.given if sex == "female" else father.given
            elif twins and k == 1 and rng.random() < 0.5:
                # twins with the same initial: Lily and Lola
                first_letter = self.people[hh.children[0]].given[0]
                pool = [
                    g
                    for g in self.pool["female_given" if sex == "female" else "male_given"][20:]
                    if g[0] == first_letter and g not in taken
                ]
                given = rng.choice(pool) if pool else self._child_name(sex, taken)
            else:
                given = self._child_name(sex, taken)
            taken.add(given)
            c = self._person(hid, given, surname, sex, d, False)
            hh.children.append(c.pid)
            hh.members.append(c.pid)
            if named_after and k == 0:
                self.truth.note("parent_child_same_name", (mother.pid if sex == "female" else father.pid, c.pid))
        if twins:
            self.truth.note("twins", (hh.children[0], hh.children[1]))
        # a partner (step-parent) and perhaps a younger half-sibling
        if not home and rng.random() < v.partner and len(hh.members) < 6:
            pdob = self._dob(mdob - timedelta(days=365 * 8), mdob + timedelta(days=365 * 5))
            partner = self._person(
                hid, self._adult_name("male", {father.given}), self._surname({surname}), "male", pdob, True
            )
            hh.partner = partner.pid
            hh.members.append(partner.pid)
            self.truth.note("step_parents", partner.pid)
            if rng.random() < v.half_sibling and len(hh.members) < 6:
                lo = max(dobs[-1] + timedelta(days=300), mdob + timedelta(days=365 * 18))
                if lo < date(2025, 6, 1):
                    sex = rng.choice(("female", "male"))
                    hs = self._person(
                        hid, self._child_name(sex, taken), partner.family, sex, self._dob(lo, date(2025, 6, 1)), False
                    )
                    hh.children.append(hs.pid)
                    hh.members.append(hs.pid)
                    self.truth.note("half_siblings_other_surname", (hh.children[0], hs.pid))
        # where they live, and perhaps a move to the other authority
        start = self._address(la)
        hh.moves.append((date(2000, 1, 1), start))
        if rng.random() < v.move:
            when = self._dob(date(2024, 9, 1), date(2026, 5, 1))
            hh.moves.append((when, self._address(1 - la)))
            self.truth.note("moves", (hid, self.las[la]["name"], self.las[1 - la]["name"], when.isoformat()))
        # schools (by the authority they live in at the time)
        for pid in hh.children:
            c = self.people[pid]
            c.school = rng.randrange(2) + (2 if (LAST_DAY - c.dob).days > 365 * 11 else 0)
            c.upn = self._upn_for(la, c.school, c.dob) if (date(2025, 9, 1) - c.dob).days > 365 * 4 else None
        self.truth.households[hid] = list(hh.members)
        # the separated father's other household: a child of his, perhaps of the same name
        if hh.absent_father and rng.random() < v.satellite:
            self._satellite(hh, father)

    def _satellite(self, hh: Household, father: Person) -> None:
        rng = self.rng
        hid = f"{hh.hid}-F"
        ex = self._person(
            hid,
            self._adult_name("female", {self.people[hh.mother].given}),
            self._surname(set()),
            "female",
            self._dob(father.dob - timedelta(days=365 * 3), father.dob + timedelta(days=365 * 8)),
            True,
        )
        own = [self.people[c] for c in hh.children if self.people[c].family == father.family]
        same = bool(own) and rng.random() < self.v.same_name_half
        if same:
            twin_of = rng.choice(own)
            given, sex = twin_of.given, twin_of.sex
        else:
            sex = rng.choice(("female", "male"))
            given = self._child_name(sex, {self.people[c].given for c in hh.children})
        lo = max(ex.dob + timedelta(days=365 * 18), date(2012, 1, 1))
        d = self._dob(lo, date(2025, 3, 1))
        if own and same and abs((d - twin_of.dob).days) < 200:
            d = twin_of.dob + timedelta(days=400 if d < date(2024, 1, 1) else -400)
        child = self._person(hid, given, father.family, sex, d, False)
        la = hh.moves[0][1].la
        child.school = rng.randrange(2)
        child.upn = self._upn_for(la, child.school, d) if (date(2025, 9, 1) - d).days > 365 * 4 else None
        sat = Household(
            hid,
            [ex.pid, father.pid, child.pid],
            [(date(2000, 1, 1), self._address(la))],
            ex.pid,
            father=father.pid,
            children=[child.pid],
            satellite_of=hh.hid,
        )
        self.households[hid] = sat
        self.truth.households[hid] = list(sat.members)
        if same:
            self.truth.note("same_name_half_siblings", (twin_of.pid, child.pid))

    # ---- writing: mentions as each agency holds them

    def _dob_as_held(self, p: Person, on: date) -> str:
        """The date of birth as an agency holds it: now and then day and month swapped."""
        d = p.dob
        if self.rng.random() < self.v.dob_slip and d.day <= 12 and d.day != d.month:
            slip = date(d.year, d.day, d.month)
            if slip < on - timedelta(days=2):
                self.truth.note("dob_slip", p.pid)
                return slip.isoformat()
        return d.isoformat()

    def _apid(self, agency: Agency, p: Person) -> dict[str, str]:
        key = (agency.id, p.pid)
        if key not in self._agency_pid:
            self._agency_pid[key] = f"{agency.prefix}P{len(self._agency_pid) + 10000}"
        return {"scheme": "agency_person_id", "value": self._agency_pid[key]}

    @staticmethod
    def _title(p: Person, family: str) -> str:
        if p.sex == "male":
            return f"Mr {p.given[0]} {family}"
        return f"{'Mrs' if p.maiden else 'Ms'} {p.given[0]} {family}"

    def _agency(self, hh: Household, d: date, key: str) -> Agency:
        return self.agencies[(hh.address_at(d).la, key)]

    def _mention(
        self,
        f: _Frag,
        p: Person,
        role: str,
        d: date,
        hh: Household,
        *,
        form: str = "plain",
        dob: bool = True,
        nhs: bool = False,
        upn: bool = False,
        addr: bool = True,
        apid: bool = False,
        sex: bool = True,
        family: str | None = None,
        previous: bool = False,
        note: str | None = None,
        ambiguous: bool = False,
    ) -> str:
        fam = family or p.family
        name: Any
        if form == "comma":
            name = f"{fam.upper()}, {p.given}"
        elif form == "dict":
            name = {"given": p.given, "family": fam}
        elif form == "title":
            name = self._title(p, fam)
        elif form == "first":
            name = p.given
        elif form == "initial":
            name = f"{p.given[0]} {fam}"
        else:
            name = f"{p.given} {fam}"
        m: dict[str, Any] = {"role": role, "name": name}
        if previous and p.maiden:
            other = p.family if fam == p.maiden else p.maiden
            m["previous_names"] = [f"{p.given} {other}"]
        if dob:
            m["dob"] = self._dob_as_held(p, d)
        if sex:
            m["sex"] = p.sex
        ids = []
        if nhs:
            ids.append({"scheme": "nhs", "value": p.nhs})
        if upn and p.upn:
            ids.append({"scheme": "upn", "value": p.upn})
        if apid:
            ids.append(self._apid(f.agency, p))
        if ids:
            m["identifiers"] = ids
        if addr:
            m["addresses"] = [hh.address_at(d).as_json(self.las[hh.address_at(d).la]["name"])]
        return f.add(p.pid, m, ambiguous=ambiguous, note=note)

    def _kids(self, hh: Household, d: date) -> list[Person]:
        return [self.people[c] for c in hh.children if self.people[c].dob < d - timedelta(days=2)]

    def _mother_name(self, hh: Household, agency_kind: str) -> tuple[str, bool, str | None]:
        """(family name this agency holds for the mother, previous_names given?, feature)."""
        m = self.people[hh.mother]
        if m.maiden and agency_kind == "health" and self._maiden_in_health.get(hh.hid, False):
            prev = self._prev_given.get((hh.hid, agency_kind), False)
            return m.maiden, prev, "maiden_with_previous" if prev else "maiden_without_previous"
        if m.maiden and agency_kind == "social_care":
            return m.family, True, "current_with_previous"
        return m.family, False, None

    # ---- the fragment

    def _emit(
        self,
        f: _Frag,
        d: date,
        recorded: datetime,
        kind: str,
        when: Any,
        summary: str,
        *,
        narrative: str | None = None,
        concerns: tuple[str, ...] = (),
        significance: str = "medium",
        incident: str | None = None,
        family_told: bool = True,
        statement: str = "fact",
        place: Address | None = None,
    ) -> FragmentKey:
        a = f.agency
        role, author = self.rng.choice(a.authors)
        ref = a.ref(d)
        shared = recorded + timedelta(minutes=self.rng.randrange(5, 600))
        if shared > NOW - timedelta(hours=1):
            shared = recorded
        ev: dict[str, Any] = {"kind": kind, "when": when, "summary": summary}
        if narrative:
            ev["narrative"] = narrative
        if place is not None:
            ev["place"] = {"description": "Family home", "address": {"text": place.text, "postcode": place.postcode}}
        sharing: dict[str, Any] = {"lawful_basis": "public_task", "family_told": family_told}
        if not family_told:
            sharing["family_not_told_reason"] = "Telling the family now could place the children at greater risk."
        st: dict[str, Any] = {"kind": statement}
        if statement == "hearsay":
            st["reported_by"] = f.people[0]["ref"]
        raw: dict[str, Any] = {
            "agency": {"id": a.id, "name": a.name, "type": a.type, "local_authority": self.las[a.la]["name"]},
            "author": {"role": role, "id": author},
            "record_ref": ref,
            "recorded_at": recorded.isoformat().replace("+00:00", "Z"),
            "shared_at": shared.isoformat().replace("+00:00", "Z"),
            "event": ev,
            "people": f.people,
            "relationships": f.rels,
            "statement": st,
            "concerns": list(concerns),
            "significance": significance,
            "sharing": sharing,
        }
        self.fragments.append(raw)
        for m, pid in zip(f.people, f.pids, strict=True):
            self.truth.mention_person[(a.id, ref, m["ref"])] = pid
        for r in f.ambiguous:
            self.truth.ambiguous.add((a.id, ref, r))
        for feat, r in f.notes:
            self.truth.note(feat, (a.id, ref, r))
        if incident is None:
            self._incident += 1
            incident = f"I{self._incident:05d}"
        self.truth.fragment_incident[(a.id, ref)] = incident
        return (a.id, ref)

    def _new_incident(self) -> str:
        self._incident += 1
        return f"I{self._incident:05d}"

    def _at(self, d: date, hour: tuple[int, int] = (8, 18)) -> datetime:
        return datetime(d.year, d.month, d.day, self.rng.randrange(*hour), self.rng.randrange(60), tzinfo=UTC)

    def _later(self, d: date, days: int) -> datetime:
        return self._at(min(d + timedelta(days=days), LAST_DAY + timedelta(days=5)))

    # ---- single-agency records, each in its agency's habit

    def school_record(self, hh: Household, d: date, kind: str) -> None:
        kids = [k for k in self._kids(hh, d) if k.upn and (d - k.dob).days > 365 * 4 and (d - k.dob).days < 365 * 16]
        if not kids:
            return self.health_record(hh, d)
        la = hh.address_at(d).la
        child = self.rng.choice(kids)
        school = self.agencies[(la, f"school{child.school}")]
        f = _Frag(school)
        self._mention(f, child, "child", d, hh, form="plain", upn=True, addr=False, sex=False)
        for sib in kids:
            if sib is not child and sib.school == child.school and self.rng.random() < 0.5:
                self._mention(f, sib, "child", d, hh, upn=True, addr=False, sex=False)
                f.rel(child.pid, "sibling_of", sib.pid)
        mother = self.people[hh.mother]
        fam = mother.family
        held_maiden = mother.maiden is not None and self.rng.random() < 0.2
        if held_maiden:
            fam = str(mother.maiden)
        self._mention(
            f,
            mother,
            "parent",
            d,
            hh,
            form="title",
            dob=False,
            addr=False,
            sex=False,
            family=fam,
            note="title_initial_maiden" if held_maiden else "title_initial",
        )
        for kid in f.pids[:-1]:
            f.rel(mother.pid, "mother_of", kid)
        if hh.partner and self.rng.random() < 0.4:
            partner = self.people[hh.partner]
            self._mention(
                f, partner, "step_parent", d, hh, form="title", dob=False, addr=False, sex=False, note="title_initial"
            )
            f.rel(partner.pid, "step_parent_of", child.pid)
        elif hh.father and self.rng.random() < 0.4:
            father = self.people[hh.father]
            self._mention(
                f, father, "parent", d, hh, form="title", dob=False, addr=False, sex=False, note="title_initial"
            )
            f.rel(father.pid, "father_of", child.pid)
        if kind == "school_attendance":
            summary = f"{child.given}'s attendance has fallen to {self.rng.randrange(62, 88)}% this half term"
            concerns: tuple[str, ...] = ("school_attendance",)
        else:
            summary = f"{child.given} arrived hungry and in unwashed uniform for the third day running"
            concerns = ("neglect",)
        self._emit(f, d, self._at(d, (9, 16)), kind, d.isoformat(), summary, concerns=concerns, significance="low")
        return None

    def health_record(self, hh: Household, d: date) -> None:
        kids = [k for k in self._kids(hh, d) if (d - k.dob).days < 365 * 5] or self._kids(hh, d)
        if not kids:
            return
        f = _Frag(self._agency(hh, d, "health"))
        mother = self.people[hh.mother]
        fam, prev, feat = self._mother_name(hh, "health")
        for k in kids[:3]:
            self._mention(f, k, "child", d, hh, nhs=True)
        self._mention(
            f, mother, "parent", d, hh, form="plain", nhs=self.rng.random() < 0.6, family=fam, previous=prev, note=feat
        )
        for kid in f.pids[:-1]:
            f.rel(mother.pid, "mother_of", kid)
        if hh.partner and self.rng.random() < 0.6:
            partner = self.people[hh.partner]
            self._mention(
                f,
                partner,
                "partner",
                d,
                hh,
                form="first",
                dob=False,
                addr=False,
                sex=False,
                note="partner_first_name_only",
            )
            f.rel(partner.pid, "partner_of", mother.pid)
        kind = self.rng.choice(("health_appointment", "home_visit", "missed_appointment"))
        summary = {
            "health_appointment": "Developmental review; weight on the 9th centile",
            "home_visit": "Health visitor home visit: home cold, little food in the cupboards",
            "missed_appointment": "Second missed developmental review; no reply to calls",
        }[kind]
        self._emit(f, d, self._at(d), kind, d.isoformat(), summary, concerns=("unmet_health_needs",))

    def social_care_record(self, hh: Household, d: date, kind: str = "referral") -> None:
        kids = self._kids(hh, d)
        if not kids:
            return
        f = _Frag(self._agency(hh, d, "social_care"))
        mother = self.people[hh.mother]
        fam, prev, feat = self._mother_name(hh, "social_care")
        for k in kids:
            self._mention(f, k, "child", d, hh, apid=True, nhs=self.rng.random() < 0.3)
        self._mention(f, mother, "parent", d, hh, apid=True, family=fam, previous=prev, note=feat)
        for kid in f.pids[:-1]:
            f.rel(mother.pid, "mother_of", kid)
        for a, b in zip(f.pids[:-2], f.pids[1:-1], strict=False):
            f.rel(a, "sibling_of", b)
        if hh.father:
            father = self.people[hh.father]
            self._mention(f, father, "parent", d, hh, apid=True)
            for k in kids:
                if k.family == father.family:
                    f.rel(father.pid, "father_of", k.pid)
        if hh.partner:
            partner = self.people[hh.partner]
            if self.rng.random() < 0.6:
                self._mention(
                    f,
                    partner,
                    "partner",
                    d,
                    hh,
                    form="first",
                    dob=False,
                    addr=False,
                    sex=False,
                    note="partner_first_name_only",
                )
                f.rel(partner.pid, "partner_of", mother.pid)
            else:
                self._mention(f, partner, "step_parent", d, hh, apid=True)
                for k in kids:
                    if k.family != partner.family:
                        f.rel(partner.pid, "step_parent_of", k.pid)
        summary = {
            "referral": "Referral received: concerns about home conditions and supervision of the children",
            "assessment": "Child and family assessment started",
            "strategy_discussion": "Strategy discussion held; section 47 enquiry agreed",
        }.get(kind, "Social work visit")
        self._emit(
            f,
            d,
            self._at(d),
            kind,
            d.isoformat(),
            summary,
            concerns=("neglect", "supervision"),
            significance="high" if kind == "strategy_discussion" else "medium",
        )

    def housing_record(self, hh: Household, d: date, kind: str = "household_change") -> None:
        f = _Frag(self._agency(hh, d, "housing"))
        mother = self.people[hh.mother]
        self._mention(f, mother, "parent", d, hh, apid=True, sex=False)
        same_name = {c for c in hh.children if self.people[c].given == mother.given}
        for pid in hh.members:
            if pid == hh.mother:
                continue
            p = self.people[pid]
            if p.dob > d:
                continue
            if pid in same_name and self.rng.random() < 0.6:
                # "L Walsh": mother and daughter are both Leanne Walsh, but the mother is
                # the tenant named above, so this is the daughter (two mentions of one
                # record are never one person): hard, not ambiguous
                self._mention(
                    f,
                    p,
                    "household_member",
                    d,
                    hh,
                    form="initial",
                    dob=False,
                    addr=False,
                    sex=False,
                    note="same_name_by_elimination",
                )
            else:
                self._mention(f, p, "household_member", d, hh, form="plain", dob=False, addr=False, sex=False)
        if kind == "change_of_address":
            summary = "Tenancy transferred; household moved to a new address"
        else:
            summary = "Tenancy review: rent arrears and disrepair; household composition confirmed"
        self._emit(f, d, self._at(d), kind, d.isoformat(), summary, concerns=("housing",), significance="low")

    def weak_record(self, hh: Household, d: date) -> bool:
        """A record whose one weak mention fits two relatives equally: ambiguous by design.

        "L Walsh" at the address when mother and daughter are both Leanne Walsh and
        neither is otherwise named; "L Walsh", child, in a health note when the twins are
        Lily and Lola. No date of birth, no identifier: the right outcome is to join no one."""
        mother = self.people[hh.mother]
        kids = self._kids(hh, d)
        same = [k for k in kids if k.given == mother.given and k.family == mother.family]
        twins = [
            (a, b)
            for a in kids
            for b in kids
            if a.pid < b.pid and a.dob == b.dob and a.given[0] == b.given[0] and a.family == b.family
        ]
        if same and (hh.partner or hh.father):
            other = self.people[hh.partner or hh.father or ""]
            f = _Frag(self._agency(hh, d, "police"))
            form = self.rng.choice(("initial", "plain"))
            self._mention(
                f, same[0], "household_member", d, hh, form=form, dob=False, addr=False, sex=False, ambiguous=True
            )
            self._mention(f, other, "other", d, hh, form="comma", apid=True)
            self._emit(
                f,
                d,
                self._at(d, (20, 23)),
                "anonymous_report",
                d.isoformat(),
                "Neighbour reported shouting at the address; two adults heard",
                concerns=("domestic_abuse",),
                significance="medium",
                statement="hearsay",
            )
            return True
        if twins:
            a, b = twins[0]
            f = _Frag(self._agency(hh, d, "health"))
            fam, prev, feat = self._mother_name(hh, "health")
            self._mention(f, mother, "parent", d, hh, family=fam, previous=prev, note=feat)
            pick = self.rng.choice((a, b))
            self._mention(f, pick, "child", d, hh, form="initial", dob=False, addr=False, sex=False, ambiguous=True)
            f.rel(mother.pid, "mother_of", pick.pid)
            self._emit(
                f,
                d,
                self._at(d),
                "contact",
                d.isoformat(),
                "Mother phoned: one of the twins has had a rash for a week",
                concerns=("unmet_health_needs",),
                significance="low",
            )
            return True
        return False

    # ---- incidents that two agencies may report

    def police_callout(self, hh: Household, d: date, second: bool, vague: bool) -> None:
        """A domestic call-out: police name the adults only; the children are in the narrative."""
        mother = self.people[hh.mother]
        other_pid = hh.partner or hh.father or hh.absent_father
        if other_pid is None:
            return
        other = self.people[other_pid]
        f = _Frag(self._agency(hh, d, "police"))
        fam, _, _ = self._mother_name(hh, "police")
        self._mention(f, mother, "parent", d, hh, form="comma", apid=True, family=fam)
        home = other_pid in hh.members
        o_hh = hh if home else self.households.get(other.household)
        self._mention(f, other, "alleged_perpetrator", d, o_hh or hh, form="comma", apid=True, addr=o_hh is not None)
        f.rel(other.pid, "partner_of" if home else "ex_partner_of", mother.pid)
        # an adult daughter of the same name, present: "Leanne Walsh" without a date of birth
        same = [self.people[c] for c in hh.children if self.people[c].given == mother.given]
        amb = False
        if same and (d - same[0].dob).days > 365 * 13 and self.rng.random() < 0.7:
            self._mention(
                f,
                same[0],
                "witness",
                d,
                hh,
                form="plain",
                dob=False,
                addr=False,
                sex=False,
                note="same_name_by_elimination",
            )
            amb = True
        kids = self._kids(hh, d)
        incident = self._new_incident()
        at = self._at(d, (19, 23))
        key = self._emit(
            f,
            d,
            at + timedelta(hours=2),
            "police_callout",
            at.strftime("%Y-%m-%dT%H:%M"),
            "Call-out to a verbal and physical argument between the adults at the address",
            narrative=f"Officers attended. {len(kids)} children present in the home, upstairs. "
            + ("A teenage daughter was also present. " if amb else "")
            + "DASH risk assessment completed.",
            concerns=("domestic_abuse",),
            significance="high",
            incident=incident,
            family_told=False,
            place=hh.address_at(d),
        )
        self.truth.note("police_adults_only", key)
        if second and kids:
            self._second_report(hh, d, incident, "police_callout", vague)

    def ed_attendance(self, hh: Household, d: date, second: bool, vague: bool) -> None:
        kids = self._kids(hh, d)
        if not kids:
            return
        child = self.rng.choice(kids)
        f = _Frag(self._agency(hh, d, "hospital"))
        mother = self.people[hh.mother]
        fam, prev, feat = self._mother_name(hh, "health")
        self._mention(f, child, "child", d, hh, form="comma", nhs=True)
        self._mention(
            f, mother, "parent", d, hh, form="comma", dob=self.rng.random() < 0.5, family=fam, previous=prev, note=feat
        )
        f.rel(mother.pid, "mother_of", child.pid)
        incident = self._new_incident()
        at = self._at(d, (10, 22))
        self._emit(
            f,
            d,
            at + timedelta(hours=1),
            "hospital_attendance",
            at.strftime("%Y-%m-%dT%H:%M"),
            f"Attended with a bruise to the cheek; explanation: fell from the sofa ({child.given})",
            concerns=("physical_abuse",),
            significance="high",
            incident=incident,
        )
        if second:
            self._second_report(hh, d, incident, "injury", vague, only=child)

    def welfare_check(self, hh: Household, d: date, trap: bool) -> None:
        """Police check on the children, and a social work home visit the same day.

        Normally one incident (a joint visit). With ``trap`` the two are different
        incidents on the same day (a morning visit and an evening call), which only the
        times tell apart."""
        kids = self._kids(hh, d)
        if not kids:
            return
        incident = self._new_incident()
        pf = _Frag(self._agency(hh, d, "police"))
        for k in kids:
            self._mention(pf, k, "child", d, hh, form="comma")
        mother = self.people[hh.mother]
        fam, _, _ = self._mother_name(hh, "police")
        self._mention(pf, mother, "parent", d, hh, form="comma", apid=True, family=fam)
        for k in kids:
            pf.rel(mother.pid, "mother_of", k.pid)
        at = self._at(d, (18, 22) if trap else (10, 12))
        self._emit(
            pf,
            d,
            at + timedelta(hours=1),
            "welfare_check",
            at.strftime("%Y-%m-%dT%H:%M"),
            "Welfare check on the children after a call from a neighbour",
            concerns=("supervision",),
            incident=incident,
            place=hh.address_at(d),
        )
        sf = _Frag(self._agency(hh, d, "social_care" if not trap else "early_help"))
        for k in kids:
            self._mention(sf, k, "child", d, hh, apid=True)
        self._mention(sf, mother, "parent", d, hh, apid=True, family=fam)
        for k in kids:
            sf.rel(mother.pid, "mother_of", k.pid)
        if trap:
            incident2 = self._new_incident()
            self.truth.note("same_day_different_incidents", (incident, incident2))
            self._emit(
                sf,
                d,
                self._at(d, (9, 10)),
                "home_visit",
                d.isoformat(),
                "Planned family support visit: morning routine observed",
                incident=incident2,
                concerns=("neglect",),
                significance="low",
            )
        else:
            self.truth.note("exact_same_incident", incident)
            self._emit(
                sf,
                d,
                self._at(d, (13, 17)),
                "home_visit",
                d.isoformat(),
                "Joint visit with police: children seen, home conditions poor",
                incident=incident,
                concerns=("supervision", "neglect"),
            )

    def _second_report(
        self, hh: Household, d: date, incident: str, kind: str, vague: bool, only: Person | None = None
    ) -> None:
        """The same incident as another agency learns of it, later, naming the children."""
        rng = self.rng
        kids = [only] if only else self._kids(hh, d)
        mother = self.people[hh.mother]
        if kind == "injury":
            key = "school" if only and only.upn and (d - only.dob).days < 365 * 16 else "health"
        else:
            key = rng.choice(("social_care", "early_help", "health"))
        if key == "school" and only is not None and only.school is not None:
            agency = self.agencies[(hh.address_at(d).la, f"school{only.school}")]
        else:
            agency = self._agency(hh, d, key)
        f = _Frag(agency)
        if agency.type == "school":
            for k in kids:
                self._mention(f, k, "child", d, hh, upn=True, addr=False, sex=False)
            self._mention(
                f, mother, "parent", d, hh, form="title", dob=False, addr=False, sex=False, note="title_initial"
            )
        else:
            fam, prev, feat = self._mother_name(hh, "health" if agency.type == "health" else agency.type)
            for k in kids:
                self._mention(f, k, "child", d, hh, nhs=agency.type == "health", apid=agency.type != "health")
            self._mention(f, mother, "parent", d, hh, family=fam, previous=prev, note=feat)
        for k in kids:
            f.rel(mother.pid, "mother_of", k.pid)
        if vague:
            style = rng.choice(("ago", "month", "approx"))
            lag = rng.randrange(10, 25)
            recorded = self._later(d, lag)
            if style == "ago":
                words = {1: "about a week ago", 2: "about two weeks ago", 3: "about three weeks ago"}
                when: Any = words[max(1, min(3, round((recorded.date() - d).days / 7)))]
            elif style == "month":
                when = f"{d.year}-{d.month:02d}"
            else:
                when = {"start": (d - timedelta(days=rng.randrange(0, 4))).isoformat(), "approximate": True}
            self.truth.note("approx_same_incident", incident)
            statement = "hearsay"
        else:
            recorded = self._later(d, 1)
            when = "yesterday" if rng.random() < 0.5 else d.isoformat()
            self.truth.note("dated_same_incident", incident)
            statement = "fact" if when != "yesterday" else "hearsay"
        if recorded.date() < d + timedelta(days=1) and when == "yesterday":
            when = d.isoformat()
        summary = (
            "Mother disclosed a police call-out at home"
            if kind == "police_callout"
            else "Bruise to the cheek seen; mother said it was seen at hospital"
        )
        self._emit(
            f,
            d,
            recorded,
            kind,
            when,
            summary,
            incident=incident,
            statement=statement,
            concerns=("domestic_abuse",) if kind == "police_callout" else ("physical_abuse",),
        )

    # ---- the life of one household in the records

    def records(self, hh: Household) -> None:
        rng, v = self.rng, self.v
        if hh.hid not in self._maiden_in_health:
            self._maiden_in_health[hh.hid] = rng.random() < v.maiden_in_health
            self._prev_given[(hh.hid, "health")] = rng.random() < v.previous_given
        if hh.satellite_of:
            # the father's other household: a health visit and a school record or two
            for _ in range(rng.randrange(1, 3)):
                d = self._dob(date(2024, 3, 1), LAST_DAY - timedelta(days=30))
                if rng.random() < 0.5:
                    self.school_record(hh, d, "school_concern")
                else:
                    self.health_record(hh, d)
            return
        span = rng.randrange(120, 600)
        start = self._dob(FIRST_DAY, LAST_DAY - timedelta(days=span + 30))
        days = sorted(self._dob(start, start + timedelta(days=span)) for _ in range(rng.randrange(*v.incidents)))
        moved = [m for m, _ in hh.moves[1:]]
        for m in moved:
            # the move is recorded: a housing transfer, then records in the new authority
            if not (start <= m <= start + timedelta(days=span)):
                days.append(m - timedelta(days=rng.randrange(20, 60)))
                days.append(m + timedelta(days=rng.randrange(20, 60)))
            self.housing_record(hh, m, "change_of_address")
        for d in sorted(days):
            if d > LAST_DAY - timedelta(days=2):
                continue
            if rng.random() < 0.25 and self.weak_record(hh, d):
                continue
            r = rng.random()
            two = rng.random() < v.two_agency
            vague = rng.random() < v.vague_second
            if r < 0.22:
                self.school_record(hh, d, rng.choice(("school_concern", "school_attendance")))
            elif r < 0.38:
                self.health_record(hh, d)
            elif r < 0.52:
                self.police_callout(hh, d, two, vague)
            elif r < 0.64:
                self.ed_attendance(hh, d, two, vague)
            elif r < 0.74:
                self.welfare_check(hh, d, trap=rng.random() < v.trap * 4)
            elif r < 0.90:
                self.social_care_record(hh, d, rng.choice(("referral", "assessment", "strategy_discussion")))
            else:
                self.housing_record(hh, d)


def generate_corpus(variant: str | Variant = "main", families: int | None = None) -> Corpus:
    """The corpus of ``variant`` ("main" or "heldout"), deterministic for its seed."""
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    g = _Gen(v, families or v.families)
    for n in range(1, g.n_families + 1):
        g.family(n)
    for hid in sorted(g.households):
        g.records(g.households[hid])
    for p in g.people.values():
        g.truth.people[p.pid] = {
            "given": p.given,
            "family": p.family,
            "maiden": p.maiden,
            "sex": p.sex,
            "dob": p.dob.isoformat(),
            "household": p.household,
            "adult": p.adult,
        }
    # a live feed delivers records in the order they were made
    g.fragments.sort(key=lambda r: (r["recorded_at"], r["agency"]["id"], r["record_ref"]))
    return Corpus(v, g.fragments, g.truth)


def iter_mentions(corpus: Corpus) -> Iterator[tuple[int, int, MentionKey, str]]:
    """(fragment index, mention index, mention key, true person) for every mention."""
    for i, raw in enumerate(corpus.fragments):
        for j, m in enumerate(raw["people"]):
            key = (raw["agency"]["id"], raw["record_ref"], m["ref"])
            yield i, j, key, corpus.truth.mention_person[key]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Write a family corpus and its truth as JSON Lines / JSON.")
    ap.add_argument("out", help="fragments, one JSON object a line")
    ap.add_argument("--variant", default="main", choices=sorted(VARIANTS))
    ap.add_argument("--families", type=int, default=None)
    ap.add_argument("--truth", default=None, help="where to write the truth (JSON)")
    args = ap.parse_args(argv)
    corpus = generate_corpus(args.variant, args.families)
    with open(args.out, "w", encoding="utf-8") as fh:
        for raw in corpus.fragments:
            fh.write(json.dumps(raw) + "\n")
    if args.truth:
        with open(args.truth, "w", encoding="utf-8") as fh:
            json.dump(corpus.truth.as_json(), fh)
    print(f"{len(corpus.fragments)} fragments, {len(corpus.truth.mention_person)} mentions")


if __name__ == "__main__":
    main()
