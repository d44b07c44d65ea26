"""Entity resolution: recognising the same person across agencies' records.

``Linker`` is the matcher the store uses (``graph.resolution.Matcher``): features of a
mention (``features``), blocking keys (``blocking``), field comparisons
(``comparisons``) and the Fellegi-Sunter model (``model``) with weights learnt by
expectation-maximisation (``train``). ``docs/linkage.md`` explains the model, its
settings file and the review workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graph.resolution import PairEvidence
from ingest.linkage.blocking import blocking_keys
from ingest.linkage.features import Features, features_of
from ingest.linkage.model import Model, compatible, probability


class Linker:
    """A Fellegi-Sunter matcher over mentions, for a store or a batch of records."""

    def __init__(self, model: Model | None = None) -> None:
        self.model = model or Model.load()
        self.version = self.model.version
        self.upper_weight = self.model.upper_weight
        self.lower_weight = self.model.lower_weight
        self.ambiguity_margin = self.model.ambiguity_margin

    @classmethod
    def from_file(cls, path: str | Path | None) -> Linker:
        return cls(Model.load(path))

    def features(self, mention: Mapping[str, Any]) -> Features:
        return features_of(mention)

    def keys(self, features: Features) -> list[str]:
        return blocking_keys(features)

    def weight(self, a: Features, b: Features) -> float:
        return self.model.weight(a, b)

    def relation_weight(self, a: Features, b: Features, relation: str) -> float | None:
        return self.model.relation_weight(a, b, relation)

    def compatible(self, a: Features, b: Features) -> bool:
        return compatible(a, b)

    def explain(self, a: Features, b: Features) -> PairEvidence:
        s = self.model.score(a, b)
        return PairEvidence(round(s.weight, 3), probability(s.weight), self.model.explain(s.levels), self.version)


__all__ = ["Features", "Linker", "Model"]
