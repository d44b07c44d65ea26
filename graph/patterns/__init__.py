"""Patterns for analysts: the shapes serious case reviews find again and again.

``library`` holds the named patterns, ``facts`` what they look at (one child's case),
``engine`` runs them for one child or across the store and shows the results to a
reader without revealing what they may not see, and ``custom`` runs an analyst's own
pattern over the reader's view. docs/patterns.md is the guide.
"""

from graph.patterns.engine import EvidenceItem, Flag, PatternEngine, Selection, selection_of
from graph.patterns.library import PATTERNS, Finding, Pattern

__all__ = ["PATTERNS", "EvidenceItem", "Finding", "Flag", "Pattern", "PatternEngine", "Selection", "selection_of"]
