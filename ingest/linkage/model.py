"""The Fellegi-Sunter model: how much each comparison level says for or against two
mentions being one person, and the thresholds that turn a score into a decision.

Each level has ``m`` (how often two mentions of the *same* person agree this way) and
``u`` (how often two *different* people do). Its match weight is ``log2(m / u)``; a
pair's score is the prior weight plus the sum of its levels' weights, and its match
probability ``2^w / (1 + 2^w)``. The null level (one side does not say) weighs nothing.

Settings live in a JSON file (``docs/linkage.md`` describes it). The shipped
``default_model.json`` is set by hand, level by level, from what agencies' records do;
EM on the project's own synthetic data learns the generator's habits (levels it never
produces get weights of -20), so it is not shipped. ``jigsaw resolve train`` learns a
model from a store's own mentions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from graph.resolution import FieldEvidence, dobs_compatible
from ingest.linkage.comparisons import COMPARISONS, forename_level, levels, surname_level
from ingest.linkage.features import Features


class Level(BaseModel):
    name: str
    m: float = Field(gt=0, le=1, description="P(this level | same person)")
    u: float = Field(gt=0, le=1, description="P(this level | different people)")


# Relational evidence, by the kind of relation two mentions have to one resolved person:
# a child has one mother and one father, a mother one partner at a time; a parent has a
# few children, whom their first names tell apart (and a sibling is no evidence at all).
RELATIONS = ("parent", "step_parent", "partner", "child")
_DEFAULT_RELATIONS = (
    ("parent", 0.6, 1e-6),
    ("step_parent", 0.3, 1e-6),
    ("partner", 0.4, 1e-6),
    ("child", 0.6, 3e-6),  # a parent has a few children: first names must tell them apart
)
# levels added to a comparison after model files were written: level, the level it goes
# before, and its shipped m and u
_ADDED_LEVELS = {"surname": ("previous", "close", 0.05, 0.0005), "dob": ("adjacent", "year", 0.01, 0.0005)}


class ModelSettings(BaseModel):
    """The model's settings file."""

    version: str = Field(min_length=1, description="Recorded with every decision the model makes.")
    prior: float = Field(gt=0, lt=1, description="P(two random mentions are one person)")
    upper: float = Field(gt=0, lt=1, description="Join automatically at or above this match probability.")
    lower: float = Field(gt=0, lt=1, description="Below this, keep apart; in between, ask a reviewer.")
    comparisons: dict[str, list[Level]]
    review_only: list[tuple[str, str]] = Field(
        default_factory=lambda: [("forename", "else")],
        description="Levels that stop an automatic join whatever the score: the pair goes to review at most. "
        "Twins and siblings share surname, date of birth or address; a different first name must not be outvoted.",
    )
    relations: list[Level] = Field(
        default_factory=lambda: [Level(name=n, m=m, u=u) for n, m, u in _DEFAULT_RELATIONS],
        description="Relational evidence: two mentions each recorded, in their own record, in this relation "
        "to the same resolved person (both parent of one child, both partner of one mother). Names must still "
        "be compatible (an initial against a full name, a first name alone, a previous surname).",
    )
    ambiguity_margin: float = Field(
        2.0,
        ge=0,
        description="A mention without a date of birth or identifier that fits two people joins the better only "
        "if its match weight is at least this many bits (2^margin times likelier) above the other's; otherwise "
        "it joins neither and goes to review.",
    )
    review_only_unless: list[tuple[str, str]] = Field(
        default_factory=lambda: [("nhs", "exact"), ("upn", "exact"), ("agency_person_id", "exact")],
        description="Levels that lift the review_only stop: the same identifier, exactly, outweighs a first name "
        "that was written differently. Only exact agreement: twins' NHS numbers are often consecutive.",
    )

    @field_validator("relations")
    @classmethod
    def _known_relations(cls, v: list[Level]) -> list[Level]:
        got = tuple(lv.name for lv in v)
        if got != RELATIONS:
            raise ValueError(f"relations: levels must be {list(RELATIONS)} in that order, got {list(got)}")
        return v

    @field_validator("comparisons", mode="before")
    @classmethod
    def _added_levels(cls, v: Any) -> Any:
        """A model file written before a level was added (``_ADDED_LEVELS``) gets the
        shipped weights for it, so a store's trained model keeps loading."""
        if not isinstance(v, dict):
            return v
        for name, (level, before, m, u) in _ADDED_LEVELS.items():
            lvls = v.get(name)
            if isinstance(lvls, list) and all(isinstance(x, dict) for x in lvls):
                names = [x.get("name") for x in lvls]
                if level not in names and before in names:
                    lvls.insert(names.index(before), {"name": level, "m": m, "u": u})
        return v

    @field_validator("comparisons")
    @classmethod
    def _known(cls, v: dict[str, list[Level]]) -> dict[str, list[Level]]:
        for name, lvls in v.items():
            if name not in COMPARISONS:
                raise ValueError(f"comparisons.{name}: not a known comparison ({', '.join(COMPARISONS)})")
            want = COMPARISONS[name][1][1:]
            got = tuple(lv.name for lv in lvls)
            if got != want:
                raise ValueError(f"comparisons.{name}: levels must be {list(want)} in that order, got {list(got)}")
        missing = set(COMPARISONS) - set(v)
        if missing:
            raise ValueError(f"comparisons: missing {sorted(missing)}")
        return v

    @model_validator(mode="after")
    def _thresholds(self) -> ModelSettings:
        if self.lower > self.upper:
            raise ValueError("lower: must not be above upper")
        return self


@dataclass(frozen=True, slots=True)
class Score:
    weight: float
    probability: float
    levels: tuple[int, ...]


def probability(weight: float) -> float:
    if weight > 60:
        return 1.0
    if weight < -60:
        return 0.0
    b = 2.0**weight
    return b / (1 + b)


class Model:
    """A compiled ``ModelSettings``: weights as a table, scoring a pair in microseconds."""

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings
        self.version = settings.version
        self.upper = settings.upper
        self.lower = settings.lower
        self.prior_weight = math.log2(settings.prior / (1 - settings.prior))
        self.names = list(COMPARISONS)
        self.fns = [COMPARISONS[n][0] for n in self.names]
        # weights[k][level]; level 0 (null) weighs 0
        self.weights: list[list[float]] = [
            [0.0, *(math.log2(lv.m / lv.u) for lv in settings.comparisons[n])] for n in self.names
        ]
        self.upper_weight = math.log2(self.upper / (1 - self.upper))
        self.lower_weight = math.log2(self.lower / (1 - self.lower))
        # (comparison index, level) pairs that cap a score just under the upper threshold
        self.review_only = {
            (self.names.index(c), COMPARISONS[c][1].index(lv))
            for c, lv in settings.review_only
            if c in COMPARISONS and lv in COMPARISONS[c][1]
        }
        self.review_only_unless = {
            (self.names.index(c), COMPARISONS[c][1].index(lv))
            for c, lv in settings.review_only_unless
            if c in COMPARISONS and lv in COMPARISONS[c][1]
        }
        self._cap = self.upper_weight - 1e-6
        self._by_pattern: dict[tuple[int, ...], float] = {}
        self.relation_weights = {lv.name: math.log2(lv.m / lv.u) for lv in settings.relations}
        self.ambiguity_margin = settings.ambiguity_margin

    @classmethod
    def load(cls, path: str | Path | None = None) -> Model:
        """The model in a settings file, or the shipped default."""
        if path is None:
            text = resources.files("ingest.linkage").joinpath("default_model.json").read_text()
        else:
            text = Path(path).read_text()
        return cls(ModelSettings.model_validate_json(text))

    def weight(self, a: Features, b: Features) -> float:
        """The pair's match weight. Pairs fall into a few thousand patterns of levels,
        so the weight of each pattern is worked out once."""
        lv = levels(a, b)
        w = self._by_pattern.get(lv)
        if w is None:
            w = self._pattern_weight(lv)
            if len(self._by_pattern) < 1 << 16:
                self._by_pattern[lv] = w
        return w

    def _pattern_weight(self, lv: tuple[int, ...]) -> float:
        w = self.prior_weight + sum(ws[i] for ws, i in zip(self.weights, lv, strict=True))
        pairs = set(enumerate(lv))
        if pairs & self.review_only and not pairs & self.review_only_unless:
            w = min(w, self._cap)
        return w

    def score(self, a: Features, b: Features) -> Score:
        lv = levels(a, b)
        w = self._pattern_weight(lv)
        return Score(w, probability(w), lv)

    def relation_weight(self, a: Features, b: Features, relation: str) -> float | None:
        """The match weight of two mentions each in ``relation`` to one resolved person:
        their own weight plus the relation's, or None when their names or details cannot
        be one person's (``compatible``)."""
        if not compatible(a, b):
            return None
        return self.weight(a, b) + self.relation_weights[relation]

    def explain(self, lv: Iterable[int]) -> tuple[FieldEvidence, ...]:
        """Field-by-field evidence for a pair's levels (null levels left out)."""
        return tuple(
            FieldEvidence(name, COMPARISONS[name][1][i], round(ws[i], 3))
            for name, ws, i in zip(self.names, self.weights, lv, strict=True)
            if i
        )


_AGREE_FORENAME = frozenset({1, 2, 3, 4, 5})  # exact, nickname, close, sounds alike, initial
_AGREE_SURNAME = frozenset({1, 2, 3, 4})  # exact, part, previous, close


def compatible(a: Features, b: Features) -> bool:
    """Can two mentions be one person, read as a practitioner reads names? Neither side
    contradicts the other (a title or sex, a first name or initial, a surname unless
    one is the other's previous name, a date of birth that cannot be one date mistyped,
    identifiers of one scheme that differ) and at least one part of the name agrees:
    "Mrs L Walsh" and "Leanne Walsh", "Dean" and "Dean Price", "Leanne Doyle" and
    "Leanne Walsh" (née Doyle). A description alone is never enough."""
    if a.sex is not None and b.sex is not None and a.sex != b.sex:
        return False
    fore = forename_level(a, b)
    sur = surname_level(a, b)
    if fore not in (0, *_AGREE_FORENAME) or sur not in (0, *_AGREE_SURNAME):
        return False
    if not (fore in _AGREE_FORENAME or sur in _AGREE_SURNAME):
        return False
    if a.dob and b.dob and not dobs_compatible(a.dob, b.dob):
        return False
    if a.nhs_verified and b.nhs_verified and a.nhs != b.nhs:
        return False
    if a.upn_verified and b.upn_verified and a.upn != b.upn:
        return False
    return not (a.apid_verified and b.apid_verified and a.apid_issuer == b.apid_issuer and a.apid != b.apid)


def settings_json(settings: ModelSettings) -> str:
    return json.dumps(settings.model_dump(), indent=2) + "\n"


def settings_from(
    version: str,
    prior: float,
    upper: float,
    lower: float,
    m: dict[str, list[float]],
    u: dict[str, list[float]],
) -> ModelSettings:
    """Settings from m and u per comparison (non-null levels, in order)."""
    comps: dict[str, Any] = {}
    for name in COMPARISONS:
        names = COMPARISONS[name][1][1:]
        comps[name] = [
            {"name": n, "m": min(max(mv, 1e-6), 1.0), "u": min(max(uv, 1e-6), 1.0)}
            for n, mv, uv in zip(names, m[name], u[name], strict=True)
        ]
    return ModelSettings.model_validate(
        {"version": version, "prior": prior, "upper": upper, "lower": lower, "comparisons": comps}
    )
