"""The Neo4j store's side of the pattern engine (``CaseSource``).

Each replica of the Neo4j backend keeps the same projection of the journal as the
embedded store (``graph.neo4j_store``), so children, cases, the mark and what changed,
the id a reader knows a child by and the pseudonym are the shared code of
``graph.patterns.projection_source.ProjectionCases``. What this module says is where the
Neo4j store keeps the rest, all read through named statements of ``graph.cypher``:

* documents by seq for one child's case: ``FRAGMENT_BODIES`` (the store's own loader,
  never a reader's);
* pattern facts are kept on each ``:Fragment`` node (``KEPT_FACTS``, ``KEEP_FACTS``),
  written by the first scan of any replica, so later scans, on every replica, read
  them instead of the bodies; what is not kept yet is made from the journal, read in
  seq order a page at a time (``FRAGMENTS_AFTER``, as the replica's catch-up does); a
  fragment another replica commits meanwhile is left for the next refresh, which the
  mark then says to evaluate;
* fragment ids from the projection, summaries from ``FRAGMENT_TEXT``, the case map from
  ``CASES`` (cached per journal head), the pseudonym key from the journal's Meta node;
* the mark's decisions: the count of resolution decisions on the journal's head. A new
  decision makes the replica rebuild its projection, so a new projection object is
  "evaluate everything", exactly as an erasure is on the embedded store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from graph.patterns.projection_source import ProjectionCases

if TYPE_CHECKING:
    from graph.neo4j_store import Neo4jStore


class Neo4jCases(ProjectionCases):
    store: Neo4jStore

    def __init__(self, store: Neo4jStore, *, keep: int = 200_000) -> None:
        super().__init__(store, keep=keep)

    def _journal(self, first: int, last: int) -> Iterator[tuple[int, dict[str, Any]]]:
        # FRAGMENTS_AFTER a page at a time, stopping at ``last``
        for seq, _fid, doc, _sup in self.store._rows(first - 1):
            if seq > last:
                return
            yield seq, doc

    def _kept_facts(self, seqs: Sequence[int] | None = None) -> dict[int, bytes]:
        # on each :Fragment node (KEPT_FACTS): a cache, filled by scans, removed on erasure
        return self.store._pattern_facts(seqs)

    def _keep_facts(self, rows: Sequence[tuple[int, bytes]]) -> None:
        self.store._keep_pattern_facts(rows)

    def _case_map(self) -> dict[int, frozenset[str]]:
        return self.store._cases()[1]

    def _pseudonym_key(self) -> bytes:
        return self.store._pseudonym_key
