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

from graph.resolution import FieldEvidence
from ingest.linkage.comparisons import COMPARISONS, levels
from ingest.linkage.features import Features


class Level(BaseModel):
    name: str
    m: float = Field(gt=0, le=1, description="P(this level | same person)")
    u: float = Field(gt=0, le=1, description="P(this level | different people)")


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
    review_only_unless: list[tuple[str, str]] = Field(
        default_factory=lambda: [("nhs", "exact"), ("upn", "exact"), ("agency_person_id", "exact")],
        description="Levels that lift the review_only stop: the same identifier, exactly, outweighs a first name "
        "that was written differently. Only exact agreement: twins' NHS numbers are often consecutive.",
    )

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

    def explain(self, lv: Iterable[int]) -> tuple[FieldEvidence, ...]:
        """Field-by-field evidence for a pair's levels (null levels left out)."""
        return tuple(
            FieldEvidence(name, COMPARISONS[name][1][i], round(ws[i], 3))
            for name, ws, i in zip(self.names, self.weights, lv, strict=True)
            if i
        )


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
