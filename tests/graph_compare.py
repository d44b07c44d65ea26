"""A canonical, comparable form of a projection, shared by the replay and crash tests.

Two projections are "the same graph" when these forms are equal: the networkx export
(every node with its attributes, every edge with its key and attributes, in sorted
node-link form), the export of current versions only, every person's chronology as
dicts, every person's recorded values with their supporting fragments, the
relationships, and what the projection remembers of each fragment. Person and event
ids are compared as they are: a replay of the same journal must number them the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import networkx as nx

from graph.chronology import chronology
from graph.projection import Projection

PERSON_FIELDS = ("name", "dob", "sex", "identifier", "description", "address", "identity_protected")


def _everything(seq: int) -> bool:
    return True


def _seqs(v: int | Iterable[int]) -> tuple[int, ...]:
    """Supporting seqs, whether held as one int or a list."""
    return (v,) if isinstance(v, int) else tuple(v)


def _items(d: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(d.items()))


def graph_data(g: nx.MultiDiGraph) -> dict[str, Any]:
    """Sorted node-link data: nodes with attributes, edges with keys and attributes."""
    data = nx.node_link_data(g, edges="edges")
    return {
        "directed": data["directed"],
        "multigraph": data["multigraph"],
        "nodes": sorted((_items(n) for n in data["nodes"]), key=repr),
        "edges": sorted((_items(e) for e in data["edges"]), key=repr),
    }


def canonical(p: Projection, *, chronology_as_dicts: bool = True) -> dict[str, Any]:
    """Everything a reader could get out of ``p``, in a form that compares with ==.

    Chronology lines are compared as dicts (``as_dict``) or, with ``chronology_as_dicts``
    false, as the frozen dataclasses themselves: the same field-by-field equality at
    half the cost on a large journal.
    """
    lines = {pid: chronology(p, pid, p.is_current) for pid in sorted(p.people)}
    return {
        "last_seq": p.last_seq,
        "graph": graph_data(p.to_networkx()),
        "current_graph": graph_data(p.to_networkx(p.is_current)),
        "chronologies": {
            pid: [ln.as_dict() for ln in person_lines] if chronology_as_dicts else person_lines
            for pid, person_lines in lines.items()
        },
        "people": {
            pid: {
                "mentions": list(person.mentions),
                "events": sorted(person.events),
                "keys": sorted(person.keys, key=repr),
                "values": {f: p.person_values(pid, f, _everything) for f in PERSON_FIELDS},
            }
            for pid, person in sorted(p.people.items())
        },
        "events": {
            eid: (ev.kind, ev.start, ev.end, ev.precision, ev.at, _seqs(ev.sources), tuple(ev.people), tuple(ev.place))
            for eid, ev in sorted(p.events.items())
        },
        "relationships": sorted((k, _seqs(v)) for k, v in p.relationships.items()),
        "fragments": {
            seq: (m.agency, m.event, m.supersedes, m.superseded_by, m.retracted, p.is_current(seq))
            for seq, m in sorted(p.fragments.items())
        },
    }


def first_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A short description of where two canonical forms differ (for assertion messages)."""
    for section in a.keys() | b.keys():
        x, y = a.get(section), b.get(section)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(x.keys() | y.keys(), key=repr):
                if x.get(k) != y.get(k):
                    return f"{section}[{k!r}]: {x.get(k)!r} != {y.get(k)!r}"
        if isinstance(x, list) and isinstance(y, list):
            for i, (u, v) in enumerate(zip(x, y, strict=False)):
                if u != v:
                    return f"{section}[{i}]: {u!r} != {v!r}"
            return f"{section}: lengths {len(x)} != {len(y)}"
        return f"{section}: {x!r} != {y!r}"
    return "no difference"
