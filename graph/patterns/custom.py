"""An analyst's own pattern: a function over the reader's graph, never the store's.

A custom pattern receives the networkx graph of one person *as the reader may see it*
(``ReaderView.network``: people, events, fragments, agencies and places, each with the
fragment ids that support it) and returns the fragment ids that fired it (or nothing).
It cannot see more than the reader: the graph it is given was built from the
fragments the reader may read, and only fragment ids in that graph are accepted as
evidence. On Neo4j the same contract holds for a Cypher pattern: it runs against the
backend's reader-filtered subgraph (docs/patterns.md).

This is a Python API for analysts' notebooks and scripts; the HTTP API never accepts
code. Code running in the same process could open the store itself, so access control
here protects against mistakes, not against someone who already holds the store file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import networkx as nx

from graph.patterns.engine import EvidenceItem, Flag

Finder = Callable[[nx.MultiDiGraph, str], Sequence[str] | bool | None]


@dataclass(frozen=True)
class CustomPattern:
    name: str
    description: str
    severity: str
    find: Finder
    radius: int = 2


def run_custom(store: Any, view: Any, person_id: str, pattern: CustomPattern) -> Flag | None:
    """Run ``pattern`` on ``person_id``'s graph as ``view``'s reader sees it: a flag, or
    None when it does not fire (or the reader cannot see the person). Audited."""
    if pattern.severity not in ("low", "medium", "high"):
        raise ValueError("severity must be low, medium or high")
    if view.person(person_id) is None:
        return None
    g = view.network(person_id, radius=pattern.radius)
    answer = pattern.find(g.copy(), person_id)
    store.audit_read(view, "read.patterns_custom", {"people": [person_id], "patterns": [pattern.name]})
    if not answer:
        return None
    fids = [] if answer is True else [f for f in answer if ("fragment", f) in g]
    items = []
    latest = 0
    for fid in sorted(set(fids)):
        data = g.nodes[("fragment", fid)]
        events = [b for _, b, k in g.out_edges(("fragment", fid), keys=True) if k == "reports"]
        start = min((g.nodes[e].get("start", 0) for e in events), default=0)
        kind = next((g.nodes[e].get("kind") for e in events), None)
        latest = max(latest, start)
        items.append(
            EvidenceItem(
                agency=str(data.get("agency", "")),
                when=date.fromordinal(start).isoformat() if start else "",
                fragment_id=fid,
                kind=kind,
            )
        )
    return Flag(
        pattern=pattern.name,
        title=pattern.name.replace("_", " ").capitalize(),
        severity=pattern.severity,
        description=pattern.description,
        explanation=pattern.description,
        child=person_id,
        pseudonymised=False,
        latest=date.fromordinal(latest).isoformat() if latest else "",
        evidence=items,
        contact=[],
    )
