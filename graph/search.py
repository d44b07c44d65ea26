"""Finding people by name or identifier, through the caller's ``visible`` predicate.

The projection keeps token and identifier indexes of everything ever asserted; a hit is
only returned when a fragment the caller may see asserts the matching name or
identifier, so search never reveals a name or a join that rests on hidden evidence.
"""

from __future__ import annotations

from graph.projection import Projection, Visible, index_get
from graph.text import clean_identifier, fold


def match_people(p: Projection, query: str, visible: Visible, *, limit: int = 20) -> list[int]:
    """Person ids matching every word of ``query`` (a name) or equal to an identifier."""
    out: list[int] = []
    ident = clean_identifier(query)
    if ident and sum(c.isdigit() for c in ident) >= 6:
        for pid in sorted(index_get(p.ident_index, ident)):
            if any(v[1] == ident for v, _ in p.person_values(pid, "identifier", visible)):
                out.append(pid)
    tokens = fold(query).split()
    if tokens:
        candidates = set.intersection(*(p.name_index.get(t, set()) for t in tokens))
        for pid in sorted(candidates):
            if pid in out:
                continue
            for name, _ in p.person_values(pid, "name", visible):
                words = set(fold(name).split())
                if all(t in words for t in tokens):
                    out.append(pid)
                    break
    return out[:limit]
