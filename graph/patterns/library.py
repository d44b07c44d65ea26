"""The named patterns serious case reviews keep finding, each a small object.

A pattern has a name, a plain-English description, parameters with defaults (a frozen
dataclass: what an analyst may change, each with its meaning), a severity, and
``evaluate(case, params)``, which looks at one child's ``ChildCase`` and returns the
findings: which reports fired it (the evidence, by fragment) and why, in words that
name no one. Patterns are pure functions of the case: no store, no clock (a pattern
that needs "now" takes it as a parameter), so the same case always gives the same
findings, which is what lets the engine cache them per child.

Every threshold below is a parameter, not a finding of fact: the defaults are a
starting point for a partnership's analysts to tune (docs/patterns.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from graph.patterns.facts import ADULT_ROLES, ChildCase, Report, incidents_of

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
SIGNIFICANCE_RANK = {"low": 1, "medium": 2, "high": 3}

# What counts as children's social care taking the concern on: its front door and
# statutory work. A referral from another agency arrives as one of these in social
# care's own records, or as a "referral" event recorded by social care.
SOCIAL_CARE_KINDS = frozenset(
    {"referral", "contact", "assessment", "strategy_discussion", "section47_enquiry", "child_protection_conference"}
)
PROTECTIVE_KINDS = frozenset({"strategy_discussion", "section47_enquiry", "child_protection_conference"})


def _fmt(day: int) -> str:
    """A date in a finding's words, as a token: shown as a day or a month by who reads it."""
    return f"[[{day}]]"


@dataclass(frozen=True)
class Finding:
    """One firing of a pattern for one child: why, and the reports it rests on."""

    pattern: str
    severity: str
    explanation: str  # names no one: agencies, kinds, counts, dates
    evidence: tuple[int, ...]  # fragment seqs, in date order
    latest: int  # day number of the latest evidence: recency, for ranking
    # agencies whose records are evidence (whom to contact)
    agencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Params:
    """Base of every pattern's parameters."""


class Pattern:
    """A named, parameterised pattern (subclass, set the class attributes, write ``find``)."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    severity: ClassVar[str]
    Params: ClassVar[type[Any]] = Params

    def params(self, given: dict[str, Any] | None = None) -> Any:
        """Parameters with defaults, overridden by ``given`` (names and types checked)."""
        fields = {f.name: f for f in dataclasses.fields(self.Params)}
        given = dict(given or {})
        for key, value in given.items():
            f = fields.get(key)
            if f is None:
                raise ValueError(f"{self.name}: no parameter '{key}' (it has: {', '.join(fields) or 'none'})")
            want = (
                f.type
                if isinstance(f.type, type)
                else {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), object)
            )
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                given[key] = value = float(value)
            if want is not object and (not isinstance(value, want) or (want is int and isinstance(value, bool))):
                raise ValueError(f"{self.name}: parameter '{key}' must be {want.__name__}")
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{self.name}: parameter '{key}' must not be negative")
        params = self.Params(**given)
        self.check(params)
        return params

    def check(self, params: Any) -> None:
        """Refuse parameter values a type cannot (a pattern with such parameters overrides)."""

    def parameters(self) -> list[dict[str, Any]]:
        """Each parameter's name, type, default and meaning, for lists and forms."""
        out = []
        for f in dataclasses.fields(self.Params):
            out.append(
                {
                    "name": f.name,
                    "type": f.type if isinstance(f.type, str) else f.type.__name__,
                    "default": f.default,
                    "description": f.metadata.get("help", ""),
                }
            )
        return out

    def evaluate(self, case: ChildCase, params: Any = None) -> list[Finding]:
        return self.find(case, params if params is not None else self.Params())

    def find(self, case: ChildCase, params: Any) -> list[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    def finding(self, explanation: str, evidence: Iterable[Report], severity: str | None = None) -> Finding:
        ev = sorted({r.seq: r for r in evidence}.values(), key=lambda r: (r.start, r.seq))
        return Finding(
            pattern=self.name,
            severity=severity or self.severity,
            explanation=explanation,
            evidence=tuple(r.seq for r in ev),
            latest=max((r.end for r in ev), default=0),
            agencies=tuple(sorted({r.agency for r in ev})),
        )


def p(default: Any, help: str) -> Any:
    """A parameter with a default and a meaning."""
    return field(default=default, metadata={"help": help})


def _concern(r: Report, min_significance: str = "low") -> bool:
    return bool(r.concerns) and SIGNIFICANCE_RANK.get(r.significance, 0) >= SIGNIFICANCE_RANK[min_significance]


def _social_care_involved(r: Report) -> bool:
    return r.agency_type == "social_care" and r.kind in SOCIAL_CARE_KINDS


def _household_evidence(case: ChildCase) -> list[Report]:
    """The records that make up the child's household (who lives with whom)."""
    h = case.household
    if h is None:
        return []
    return case.reports_of(sorted({s for m in h.members.values() for s in m.seqs}))


# --------------------------------------------------------------------------- 1


class MultiAgency(Pattern):
    name = "multi_agency_concerns"
    title = "Several agencies worried, no referral"
    description = (
        "Concerns about one child from several different agencies within a short window, "
        "with no referral to (or work by) children's social care in that window: each agency "
        "holds one low-level worry and nobody has put them together."
    )
    severity = "high"

    @dataclass(frozen=True)
    class Params(Params):
        min_agencies: int = p(3, "How many different agencies must have raised a concern.")
        window_days: int = p(90, "The window, in days, the concerns fall within.")
        response_days: int = p(14, "Social care involved up to this many days after the last concern counts too.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        concerns = [r for r in case.reports if _concern(r)]
        # any record by children's social care in the window: they know
        social = [r for r in case.reports if r.agency_type == "social_care"]
        best: list[Report] | None = None
        j = 0
        for i, last in enumerate(concerns):
            while concerns[j].start < last.start - params.window_days:
                j += 1
            window = concerns[j : i + 1]
            if len({r.agency for r in window}) < params.min_agencies:
                continue
            lo, hi = window[0].start, last.end + params.response_days
            if any(s.start <= hi and s.end >= lo for s in social):
                continue
            best = window  # the latest window that fires
        if best is None:
            return []
        agencies = sorted({r.agency for r in best})
        return [
            self.finding(
                f"Concerns from {len(agencies)} agencies ({', '.join(agencies)}) between "
                f"{_fmt(best[0].start)} and {_fmt(best[-1].end)}, with no referral to children's social care "
                "in that time.",
                best,
            )
        ]


# --------------------------------------------------------------------------- 2


class RuleOfOptimism(Pattern):
    name = "repeat_after_closure"
    title = "Concern repeated after closure"
    description = (
        "A concern closed as malicious, unfounded or with no further action, and then raised "
        "again: the 'rule of optimism', where the first explanation is accepted and the "
        "repeat is read on its own."
    )
    severity = "high"

    @dataclass(frozen=True)
    class Params(Params):
        min_gap_days: int = p(7, "A repeat is at least this many days after the closure (not the same incident).")
        within_days: int = p(548, "A repeat is at most this many days after the closure.")
        lookback_days: int = p(30, "The concern that was closed: concerns up to this many days before the closure.")
        same_concern: bool = p(True, "The repeat must share a concern category with the closed one.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        closures = [r for r in case.reports if r.closure]
        if not closures:
            return []
        concerns = [r for r in case.reports if _concern(r)]
        out: list[Finding] = []
        used: set[int] = set()
        for c in closures:
            before = [r for r in concerns if c.start - params.lookback_days <= r.start <= c.end and r.seq != c.seq]
            closed = set(c.concerns).union(*(r.concerns for r in before))
            repeats = [
                r
                for r in concerns
                if c.end + params.min_gap_days <= r.start <= c.end + params.within_days
                and (not params.same_concern or not closed or closed & set(r.concerns))
            ]
            if not repeats or c.seq in used:
                continue
            # several records of one closure (a contact saying 'malicious', the closure
            # itself) make one finding
            group = [x for x in closures if abs(x.start - c.start) <= params.lookback_days]
            used.update(x.seq for x in group)
            words = sorted({x.closure or "" for x in group})
            cats = sorted(closed & set().union(*(r.concerns for r in repeats))) if params.same_concern else []
            anchor = next((x for x in group if x.kind == "case_closed"), c)
            out.append(
                self.finding(
                    f"Closed on {_fmt(anchor.start)} as {' / '.join(w.replace('_', ' ') for w in words)}; "
                    f"{len(repeats)} concern record(s) followed from {_fmt(repeats[0].start)}"
                    + (f" about the same concern ({', '.join(cats)})." if cats else "."),
                    [*before, *group, *repeats],
                )
            )
        return out


# --------------------------------------------------------------------------- 3


class AdultAcrossHouseholds(Pattern):
    name = "adult_across_households"
    title = "Adult linked to concerns in more than one household"
    description = (
        "An adult around this child is named in concerns about children in more than one "
        "household or local authority: a risk that moves with the adult, not the address."
    )
    severity = "high"

    @dataclass(frozen=True)
    class Params(Params):
        min_households: int = p(2, "How many different households (or local authorities).")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        # written out: this runs for every child in a scan
        adults = {
            m.person
            for r in case.reports
            if r.concerns
            for m in r.mentions
            if m.role in ADULT_ROLES and not m.protected
        }
        if not adults:
            return []
        of_adult: dict[int, list[Report]] = {}
        for r in case.all_reports():
            if r.concerns:
                for m in r.mentions:
                    if m.person in adults and m.role in ADULT_ROLES and not m.protected:
                        rs = of_adult.setdefault(m.person, [])
                        if not rs or rs[-1] is not r:  # an adult named twice in one report
                            rs.append(r)
        out = []
        grouped: dict[frozenset[int], list[set[int]]] = {}
        for adult in sorted(adults):
            reports = of_adult.get(adult, [])
            kids: dict[int, list[Report]] = {}
            for r in reports:
                for m in r.mentions:
                    if m.role == "child":
                        kids.setdefault(m.person, []).append(r)
            if len(kids) < params.min_households:  # one child is one household
                continue
            key = frozenset(kids)
            households = grouped.get(key)
            if households is None:  # the adults of one family share their children
                households = grouped[key] = _households(case, list(kids))
            if len(households) < params.min_households:
                continue
            las = set().union(*(case.local_authorities.get(k, frozenset()) for k in kids))
            across = f" across {len(las)} local authorities" if len(las) > 1 else ""
            ev = [r for rs in kids.values() for r in rs]
            # the records that put the children in different homes are evidence too
            homes = [case.households[k] for k in kids if k in case.households]
            ev += case.reports_of(sorted({s for h in homes for per in h.periods for s in per.seqs}))
            out.append(
                self.finding(
                    f"An adult named in this child's records is named in concerns about children in "
                    f"{len(households)} households{across}, between {_fmt(min(r.start for r in ev))} and "
                    f"{_fmt(max(r.end for r in ev))}.",
                    ev,
                )
            )
        return out


def _households(case: ChildCase, kids: Sequence[int]) -> list[set[int]]:
    """Group children into households: children who share an address, a parent, or are
    recorded as siblings are one household; a child with no address known joins none."""
    parent = {k: k for k in kids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    for i, a in enumerate(kids):
        for b in kids[i + 1 :]:
            pa, pb = case.places.get(a, frozenset()), case.places.get(b, frozenset())
            same_place = bool(pa & pb)
            la, lb = case.local_authorities.get(a, frozenset()), case.local_authorities.get(b, frozenset())
            known = bool(pa and pb) or bool(la and lb)
            siblings = (a == case.child and b in case.siblings) or (b == case.child and a in case.siblings)
            shared_parent = any(a in ks and b in ks for ks in case.parent_of.values())
            # one household (graph/household.py): living together, whatever the addresses say
            together = b in case.household_children(a, distinct=False) or a in case.household_children(
                b, distinct=False
            )
            if same_place or siblings or shared_parent or together or not known:
                union(a, b)
    groups: dict[int, set[int]] = {}
    for k in kids:
        groups.setdefault(find(k), set()).add(k)
    return list(groups.values())


# --------------------------------------------------------------------------- 4


class MovedAuthority(Pattern):
    name = "moved_authority"
    title = "Moved local authority; records left behind"
    description = (
        "A child who moved between local authorities, with concern records held by agencies "
        "of the authority they left that no agency of the new authority holds: the records "
        "that did not follow the child."
    )
    severity = "medium"

    @dataclass(frozen=True)
    class Params(Params):
        min_records: int = p(1, "How many concern records left behind.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        # the authorities the child lived in, in the order their addresses appear
        first: dict[str, int] = {}
        for r in case.reports:
            m = r.of(case.child)
            for la in m.local_authorities if m else ():
                first[la] = min(first.get(la, r.start), r.start)
        # and the household's: a child's own records rarely give an address
        home: dict[str, list[int]] = {}
        if (h := case.household) is not None:
            for la, day, seqs in h.authority_moves():
                if day <= first.get(la, day):
                    first[la] = day
                    home[la] = seqs
        if len(first) < 2:
            return []
        order = sorted(first, key=lambda la: (first[la], la))
        new = order[-1]
        moved = first[new]
        left = [
            r
            for r in case.reports
            if _concern(r) and r.local_authority and r.local_authority != new and r.start <= moved
        ]
        # history that followed: records an agency of the new authority holds about the
        # time before the move (a transfer, information shared); what is older than the
        # latest of those did not follow
        followed = max((r.end for r in case.reports if r.local_authority == new and r.start < moved), default=None)
        if followed is not None:
            left = [r for r in left if r.start > followed]
        if len(left) < params.min_records:
            return []
        move = [r for r in case.reports if (m := r.of(case.child)) and new in m.local_authorities and r.start == moved]
        if not move:  # the household's records that put it in the new authority
            move = [r for r in case.reports_of(home.get(new, ())) if r.start == moved]
        old = sorted({r.local_authority or "" for r in left})
        return [
            self.finding(
                f"Moved to {new} around {_fmt(moved)}; {len(left)} concern record(s) held by agencies in "
                f"{', '.join(old)} that no agency in {new} holds.",
                [*left, *move[:1]],
            )
        ]


# --------------------------------------------------------------------------- 5


class RepeatedInjuries(Pattern):
    name = "repeated_injuries"
    title = "Repeated injuries, explanations accepted"
    description = (
        "Injuries recorded again and again, each time without a protective response "
        "(strategy discussion, section 47 enquiry, conference or a referral to children's "
        "social care) soon after: the explanation was accepted each time."
    )
    severity = "high"

    @dataclass(frozen=True)
    class Params(Params):
        min_injuries: int = p(2, "How many injuries.")
        window_days: int = p(365, "Within this many days.")
        response_days: int = p(14, "A protective response within this many days means it was not simply accepted.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        injuries = [
            r
            for r in case.reports
            if r.kind == "injury"
            or (r.kind == "hospital_attendance" and {"physical_abuse", "neglect"} & set(r.concerns))
        ]
        responses = [r for r in case.reports if r.kind in PROTECTIVE_KINDS or _social_care_involved(r)]
        accepted = [
            i
            for i in injuries
            if not any(i.start <= s.start <= i.end + params.response_days and s.seq != i.seq for s in responses)
        ]
        # one injury reported by two agencies (school and hospital the same day, or one
        # corroborated event: graph/incidents.py) is one injury
        by_day: dict[int, list[Report]] = {}
        for g in incidents_of(accepted):
            by_day.setdefault(g[0].start, []).extend(g)
        days = sorted(by_day)
        best: list[int] = []
        j = 0
        for i in range(len(days)):
            while days[j] < days[i] - params.window_days:
                j += 1
            if i - j + 1 >= params.min_injuries:
                best = days[j : i + 1]
        if not best:
            return []
        ev = [r for d in best for r in by_day[d]]
        return [
            self.finding(
                f"{len(best)} injuries between {_fmt(best[0])} and {_fmt(best[-1])}, none followed within "
                f"{params.response_days} days by a strategy discussion, enquiry or referral.",
                ev,
            )
        ]


# --------------------------------------------------------------------------- 6


class HealthAndSchool(Pattern):
    name = "missed_health_and_falling_attendance"
    title = "Missed health appointments and falling attendance"
    description = (
        "Health appointments missed (the child not brought) while school attendance falls: "
        "two agencies each seeing one sign of neglect."
    )
    severity = "medium"

    @dataclass(frozen=True)
    class Params(Params):
        min_missed: int = p(1, "How many missed appointments.")
        window_days: int = p(180, "Missed appointments and the fall within this many days of each other.")
        below_percent: float = p(90.0, "Attendance below this is a concern (persistent absence is under 90%).")
        min_drop: float = p(5.0, "Or a fall of at least this many percentage points between two readings.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        missed = [r for r in case.reports if r.kind == "missed_appointment"]
        # a younger child of the same household not brought: the same household's neglect
        household = case.household_children()
        if household:
            missed += [
                r
                for r in case.others
                if r.kind == "missed_appointment" and any(m.person in household for m in r.mentions)
            ]
            missed.sort(key=lambda r: (r.start, r.seq))
        if len(missed) < params.min_missed:
            return []
        readings = []
        for r in case.reports:
            if r.kind != "school_attendance":
                continue
            m = r.of(case.child)
            if m and m.attendance is not None:
                readings.append((r, m.attendance))
        falling: list[Report] = []
        for k, (r, pct) in enumerate(readings):
            dropped = any(pct <= prev - params.min_drop for _, prev in readings[:k])
            if pct < params.below_percent or dropped:
                falling.append(r)
        # an attendance record raised as a concern with no figure in it counts too
        falling += [
            r
            for r in case.reports
            if r.kind == "school_attendance"
            and "school_attendance" in r.concerns
            and r.of(case.child)
            and r.of(case.child).attendance is None  # type: ignore[union-attr]
        ]
        pairs = [(m, f) for m in missed for f in falling if abs(m.middle - f.middle) <= params.window_days]
        if not pairs:
            return []
        ms = sorted({m.seq: m for m, _ in pairs}.values(), key=lambda r: r.start)
        fs = sorted({f.seq: f for _, f in pairs}.values(), key=lambda r: r.start)
        if len(ms) < params.min_missed:
            return []
        prior = [r for r, _ in readings if r.start < fs[0].start]
        # a sibling's missed appointment counts through the household: its records are evidence
        home = _household_evidence(case) if any(not r.mentions_person(case.child) for r in ms) else []
        return [
            self.finding(
                f"{len(ms)} missed health appointment(s) and {len(fs)} attendance record(s) showing low or "
                f"falling attendance within {params.window_days} days, between "
                f"{_fmt(min(ms[0].start, fs[0].start))} and {_fmt(max(ms[-1].end, fs[-1].end))}.",
                [*ms, *fs, *prior[-1:], *home],
            )
        ]


# --------------------------------------------------------------------------- 7


class Escalation(Pattern):
    name = "escalation"
    title = "Concerns escalating"
    description = (
        "Concerns becoming more frequent or more serious: more concern records in the "
        "latest period than the one before, or more serious ones."
    )
    severity = "medium"

    @dataclass(frozen=True)
    class Params(Params):
        period_days: int = p(180, "Compare the latest period of this many days with the one before.")
        min_recent: int = p(3, "At least this many concern records in the latest period.")
        ratio: float = p(2.0, "More frequent: the latest period has at least this many times as many.")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        # one incident told by two agencies is one concern, not two (graph/incidents.py)
        concerns = incidents_of(r for r in case.reports if _concern(r))
        if len(concerns) < params.min_recent:
            return []
        end = max(g[0].start for g in concerns)
        recent = [g for g in concerns if g[0].start > end - params.period_days]
        before = [g for g in concerns if end - 2 * params.period_days < g[0].start <= end - params.period_days]
        if len(recent) < params.min_recent or not before:
            return []

        def mean(gs: list[list[Report]]) -> float:
            return sum(max(SIGNIFICANCE_RANK[r.significance] for r in g) for g in gs) / len(gs)

        frequent = len(recent) >= params.ratio * len(before)
        serious = mean(recent) >= mean(before) + 0.5
        if not (frequent or serious):
            return []
        how = " and ".join(x for x, ok in (("more frequent", frequent), ("more serious", serious)) if ok)
        return [
            self.finding(
                f"Concerns {how}: {len(recent)} in the {params.period_days} days to {_fmt(end)} against "
                f"{len(before)} in the {params.period_days} days before.",
                [r for g in [*before, *recent] for r in g],
            )
        ]


# --------------------------------------------------------------------------- 8


class SiblingsNotConsidered(Pattern):
    name = "siblings_not_considered"
    title = "Siblings not considered"
    description = (
        "A concern about this child with no record of their brothers and sisters being "
        "considered: the sibling is not named in it and nothing is recorded about them "
        "around that time."
    )
    severity = "medium"

    @dataclass(frozen=True)
    class Params(Params):
        min_significance: str = p("medium", "Only concerns at least this significant (low, medium, high).")
        window_days: int = p(30, "A record about the sibling within this many days counts as considered.")

    def check(self, params: Any) -> None:
        if params.min_significance not in SIGNIFICANCE_RANK:
            raise ValueError(f"{self.name}: parameter 'min_significance' must be low, medium or high")

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        # brothers and sisters by relationship, and the other children of the household
        household = case.household_children()
        siblings = case.siblings | household
        if not siblings:
            return []
        sib_days: dict[int, list[int]] = {s: [] for s in siblings}
        for r in case.all_reports():
            for m in r.mentions:
                if m.person in sib_days:
                    sib_days[m.person].append(r.start)
        missed = []
        for r in case.reports:
            if not _concern(r, params.min_significance):
                continue
            for s in siblings:
                if r.mentions_person(s):
                    continue
                if not any(r.start - params.window_days <= d <= r.end + params.window_days for d in sib_days[s]):
                    missed.append(r)
                    break
        if not missed:
            return []
        # a child of the household who is not a sibling by relationship: the records that
        # put them in it are evidence
        home = _household_evidence(case) if household - case.siblings else []
        return [
            self.finding(
                f"{len(missed)} concern record(s) about this child with no record of a brother or sister "
                f"being considered within {params.window_days} days; the latest on {_fmt(missed[-1].start)}.",
                [*missed, *home],
            )
        ]


# --------------------------------------------------------------------------- 9


class LongSilence(Pattern):
    name = "long_silence"
    title = "Long silence"
    description = (
        "A child known to agencies through a concern, then no contact with any agency for a "
        "long period: not seen is not safe."
    )
    severity = "low"

    @dataclass(frozen=True)
    class Params(Params):
        days: int = p(180, "A silence is at least this many days with no record from any agency.")
        as_of: str = p("", "Measure the final silence to this date (YYYY-MM-DD); empty: only gaps between records.")

    def check(self, params: Any) -> None:
        if params.as_of:
            try:
                date.fromisoformat(params.as_of)
            except ValueError:
                raise ValueError(f"{self.name}: parameter 'as_of' must be a date, YYYY-MM-DD") from None

    def find(self, case: ChildCase, params: Any) -> list[Finding]:
        if not case.reports:
            return []
        as_of = date.fromisoformat(params.as_of).toordinal() if params.as_of else None
        known_from = min((r.start for r in case.reports if _concern(r)), default=None)
        if known_from is None:
            return []
        ordered = sorted(case.reports, key=lambda r: (r.end, r.seq))
        longest: tuple[int, Report, Report | None] | None = None
        last_end = None
        prev: Report | None = None
        for r in ordered:
            if prev is not None and last_end is not None and prev.start >= known_from:
                gap = r.start - last_end
                if gap >= params.days and (longest is None or gap > longest[0]):
                    longest = (gap, prev, r)
            if last_end is None or r.end > last_end:
                last_end, prev = r.end, r
        if as_of is not None and prev is not None and last_end is not None and as_of - last_end >= params.days:
            gap = as_of - last_end
            if longest is None or gap > longest[0]:
                longest = (gap, prev, None)
        if longest is None:
            return []
        gap, before, after = longest
        until = _fmt(after.start) if after else f"{_fmt(as_of or 0)} (no record since)"
        return [
            self.finding(
                f"No record from any agency for {gap} days, from {_fmt(before.end)} to {until}, after "
                "concerns had been raised.",
                [before] + ([after] if after else []),
            )
        ]


PATTERNS: dict[str, Pattern] = {
    pat.name: pat
    for pat in (
        MultiAgency(),
        RuleOfOptimism(),
        AdultAcrossHouseholds(),
        MovedAuthority(),
        RepeatedInjuries(),
        HealthAndSchool(),
        Escalation(),
        SiblingsNotConsidered(),
        LongSilence(),
    )
}


def get(name: str) -> Pattern:
    try:
        return PATTERNS[name]
    except KeyError:
        raise ValueError(f"no pattern '{name}' (there are: {', '.join(PATTERNS)})") from None


Evaluate = Callable[[ChildCase, Any], list[Finding]]
