"""An analyst's own pattern: a query over the reader's view of one person, never the store's.

Two forms, one contract: the pattern is run for one person as one reader may see them,
and the only thing taken from it is a list of fragment ids; only ids of fragments in the
reader's graph of that person (fragments the reader may read) are accepted as evidence,
and what is shown is built from the reader's graph, never from the query's answer.

* ``CustomPattern`` (both backends): a Python function given the networkx graph of the
  person *as the reader may see it* (``ReaderView.network``: people, events, fragments,
  agencies and places, each with the fragment ids that support it). It cannot see more
  than the reader: the graph was built from the fragments the reader may read.
* ``CustomCypherPattern`` (the Neo4j backend only): a Cypher query run in a READ
  transaction on the Neo4j database, given ``$visible`` (the ids of the fragments in the
  reader's graph of the person, at ``radius``) and ``$person`` (the key of the store's
  ``(:Person)`` node for them), returning fragment ids in a column named ``fid``.

What the Cypher form does NOT prevent: the query runs against the whole database, with
the store's own credentials. It can read nodes the reader may not see (other agencies'
fragments, identity-protected people) and let them decide *which* visible ids it returns
— so whoever writes the query can learn about hidden records through their choice of
visible evidence. The read transaction stops it writing; the filter stops it returning
anything but visible fragment ids. That is the same trust model as the Python form: code
running in the same process could open the store itself, so access control here protects
the reader from mistakes, not the records from someone who already holds the store file
or the database's credentials. The HTTP API never accepts either form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import networkx as nx

from graph.errors import StoreError
from graph.patterns.engine import EvidenceItem, Flag

Finder = Callable[[nx.MultiDiGraph, str], Sequence[str] | bool | None]


@dataclass(frozen=True)
class CustomPattern:
    name: str
    description: str
    severity: str
    find: Finder
    radius: int = 2


@dataclass(frozen=True)
class CustomCypherPattern:
    """A custom pattern as a Cypher query (Neo4j backend only; module docstring).

    The query may use ``$visible`` (list of fragment ids the reader may read around the
    person) and ``$person`` (the ``key`` of the person's ``(:Person)`` node), and must
    ``RETURN`` the fragment ids that fired it as ``fid`` (one per row, or a list).
    ``timeout`` is the transaction's limit in seconds.
    """

    name: str
    description: str
    severity: str
    query: str
    radius: int = 2
    timeout: float = 30.0


# A worked example (docs/patterns.md): missed health appointments of the person that the
# reader may read. tests/test_cypher.py parses it with Neo4j's parser against the schema.
EXAMPLE_MISSED_APPOINTMENTS = """
MATCH (p:Person {key: $person})-[:INVOLVED_IN]->(e:Event)-[:RECORDED_IN]->(f:Fragment)
WHERE f.fid IN $visible AND e.kind = 'missed_appointment'
RETURN DISTINCT f.fid AS fid
"""

# And one that walks further: a police record about an adult in the person's records,
# within 30 days of a record about the person (day numbers are Event.start).
EXAMPLE_ADULT_POLICE_NEAR = """
MATCH (p:Person {key: $person})-[:INVOLVED_IN]->(e:Event)<-[:INVOLVED_IN]-(a:Person)
MATCH (a)-[:INVOLVED_IN]->(e2:Event)-[:RECORDED_IN]->(f2:Fragment)
MATCH (e)-[:RECORDED_IN]->(f:Fragment)
WHERE f.fid IN $visible AND f2.fid IN $visible AND f2.agency ENDS WITH 'police'
  AND abs(e2.start - e.start) <= 30 AND a <> p
RETURN DISTINCT [f.fid, f2.fid] AS fid
"""

EXAMPLES = {"missed_appointments": EXAMPLE_MISSED_APPOINTMENTS, "adult_police_near": EXAMPLE_ADULT_POLICE_NEAR}


def run_custom(store: Any, view: Any, person_id: str, pattern: CustomPattern | CustomCypherPattern) -> Flag | None:
    """Run ``pattern`` on ``person_id``'s graph as ``view``'s reader sees it: a flag, or
    None when it does not fire (or the reader cannot see the person). Audited, with the
    fragment ids shown (and, for Cypher, a digest of the query)."""
    if pattern.severity not in ("low", "medium", "high"):
        raise ValueError("severity must be low, medium or high")
    cypher = isinstance(pattern, CustomCypherPattern)
    run_query = getattr(store, "run_pattern_query", None) if cypher else None
    if cypher and run_query is None:
        raise StoreError(
            f"a Cypher pattern runs on the Neo4j backend only; this store is {type(store).__name__} "
            "(the embedded backend): write it as a CustomPattern over the reader's networkx graph instead",
            field="pattern",
        )
    if view.person(person_id) is None:
        return None
    g = view.network(person_id, radius=pattern.radius)
    visible = sorted(n[1] for n in g if n[0] == "fragment")
    detail: dict[str, Any] = {"people": [person_id], "patterns": [pattern.name]}
    answer: Sequence[str] | bool | None
    if isinstance(pattern, CustomCypherPattern):
        assert run_query is not None
        key = store.person_key(store.global_pid(person_id))
        answer = run_query(pattern.query, visible=visible, person=key, timeout=pattern.timeout)
        detail["query_sha256"] = hashlib.sha256(pattern.query.encode()).hexdigest()
    else:
        answer = pattern.find(g.copy(), person_id)
    # only fragments in the reader's graph: anything else the answer names is dropped
    # unseen, and an answer naming none of them has not fired for this reader
    fired = answer is True
    fids: list[str] = []
    if answer and answer is not True:
        fids = sorted({f for f in answer if ("fragment", f) in g})
        fired = bool(fids)
    detail["fragments"] = fids
    store.audit_read(view, "read.patterns_custom", detail)
    if not fired:
        return None
    items = []
    latest = 0
    for fid in fids:
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
