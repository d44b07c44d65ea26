"""The embedded store's side of the pattern engine (``CaseSource``).

Children are the projection's person ids; cases come from the projection and the
journal (``facts.cases_from_projection``). What both backends decide alike (children,
cases, the mark and what changed since it, ids and pseudonyms) is
``graph.patterns.projection_source.ProjectionCases``; this module says where the embedded
store keeps each part: documents, ids and words in its SQLite journal, and the pattern
facts a scan reads in its ``pattern_facts`` table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from graph.patterns.projection_source import ProjectionCases

if TYPE_CHECKING:
    from graph.embedded import EmbeddedStore


class EmbeddedCases(ProjectionCases):
    store: EmbeddedStore

    def __init__(self, store: EmbeddedStore, *, keep: int = 200_000, batch: int = 20_000) -> None:
        super().__init__(store, keep=keep, batch=batch)

    def _journal(self, first: int, last: int) -> Iterator[tuple[int, dict[str, Any]]]:
        for seq, _fid, doc, _sup in self.store._rows(first - 1, until=last):
            yield seq, doc

    def _kept_facts(self, seqs: Sequence[int] | None = None) -> dict[int, bytes]:
        # the store's pattern_facts table: a cache, filled by scans, emptied on erasure
        return self.store._pattern_facts(seqs)

    def _keep_facts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        self.store._keep_pattern_facts(rows)

    def _case_map(self) -> dict[int, frozenset[str]]:
        return self.store._case_map()

    def _pseudonym_key(self) -> bytes:
        self.store._load_access()
        return self.store._pseudonym_key
