"""Warnings for the author of a fragment: terms that may be read differently, and words
that make a fact read as opinion or hearsay.

These never stop a record going in (a practitioner's record is theirs to word); they come
back with the receipt (the HTTP API) and in the import summary (``jigsaw ingest``) so the
author can say what they meant before others read it. ``warnings_for`` is pure and
derives everything from the fragment, so the flags can be recomputed at any time; what
is kept durably is the author's answer (graph: an acknowledgement of kind
``confirmed_fact``, or a correction).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ingest.glossary import Glossary, find_terms, fragment_texts, names_in, plain_words
from ingest.statements import fragment_markers

Code = Literal["ambiguous_term", "unknown_term", "reads_as_opinion", "reads_as_hearsay"]


@dataclass(frozen=True)
class Warning:
    """One thing for the author to check: the field, what kind of check, the words."""

    field: str
    code: Code
    words: str
    message: str


class _Names:
    """The fragment's names and ids (``names_in``), read only if a capitalised word needs them."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self._names: list[str] | None = None

    def __iter__(self) -> Iterator[str]:
        if self._names is None:
            self._names = names_in(self.doc)
        return iter(self._names)


def warnings_for(doc: Mapping[str, Any], glossary: Glossary | None = None) -> list[Warning]:
    """Every warning for one fragment (canonical or raw), in field order."""
    out: list[Warning] = []
    ignore = _Names(doc)
    for field, text in fragment_texts(doc):
        seen: set[str] = set()
        for h in find_terms(text, glossary, ignore=ignore):
            if h.kind == "known" or h.term in seen:
                continue
            seen.add(h.term)
            if h.kind == "ambiguous":
                out.append(
                    Warning(
                        field,
                        "ambiguous_term",
                        h.term,
                        f"{h.term} can be read more than one way. {plain_words(h)} Write it out in full.",
                    )
                )
            else:
                out.append(
                    Warning(
                        field,
                        "unknown_term",
                        h.term,
                        f"{h.term} is not in the glossary: write it out in full, or ask for it to be added.",
                    )
                )
    for m in fragment_markers(doc):
        out.append(
            Warning(
                m.field,
                "reads_as_opinion" if m.reads_as == "opinion" else "reads_as_hearsay",
                m.words,
                f"recorded as fact, but '{m.words}' reads as {m.reads_as}: confirm it is fact, "
                f"or correct the record's statement kind to {m.reads_as}",
            )
        )
    return out
