"""The embedded store's side of the pattern engine (``CaseSource``).

Children are the projection's person ids; cases come from the projection and the
journal (``facts.cases_from_projection``). What both backends decide alike (children,
cases, the mark and what changed since it, ids and pseudonyms) is
``graph.patterns.projection_source.ProjectionCases``; this module says where the embedded
store keeps each part: documents, ids and words in its SQLite journal, a full scan read
from the journal once in order.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

from graph.patterns.facts import Report, reports_from_rows
from graph.patterns.projection_source import ProjectionCases

if TYPE_CHECKING:
    from graph.embedded import EmbeddedStore
    from graph.projection import Projection


class EmbeddedCases(ProjectionCases):
    def __init__(self, store: EmbeddedStore, *, keep: int = 200_000) -> None:
        super().__init__(keep=keep)
        self.store = store

    def lock(self) -> threading.RLock:
        self.store._catch_up()
        return self.store._lock

    @property
    def _p(self) -> Projection:
        return self.store.projection

    def _load(self, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
        return self.store._load(seqs)

    def _all_reports(self) -> dict[int, Report]:
        # a full scan reads the journal once, in order (the caller holds the store's lock)
        return reports_from_rows(self._p, self.store._rows(0))

    def _decisions_at(self) -> Hashable:
        return self.store._decisions_at

    def _global_pid(self, person_id: str) -> int:
        return self.store.global_pid(person_id)

    def _fids(self, seqs: Sequence[int]) -> dict[int, str]:
        return self.store._fids(seqs)

    def _summaries(self, seqs: Sequence[int]) -> dict[int, str | None]:
        return {s: t.summary for s, t in self.store._details(seqs).items()}

    def _case_map(self) -> dict[int, frozenset[str]]:
        return self.store._case_map()

    def _pseudonym_key(self) -> bytes:
        self.store._load_access()
        return self.store._pseudonym_key
