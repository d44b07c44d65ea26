"""Fact or opinion: words in a record written as fact that read as opinion or hearsay.

The guidance asks practitioners to distinguish fact from opinion, and reviews find
worries recorded as facts ("appears to be neglected") and things a parent said recorded
as if seen ("mum said he was at his nan's"). ``opinion_markers`` is a pure function over
a narrative and its statement kind: when the record says ``fact`` and its words carry
markers of opinion or hearsay, each marker is returned so the author can confirm the
record is fact or correct it (a correction is a new version: ``supersedes``). For an
opinion, hearsay or allegation the words are what the kind says and nothing is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

# (kind, phrase pattern). Patterns match whole words, in any case.
_OPINION = [
    r"I (?:think|believe|feel|suspect|guess|assume)",
    r"we (?:think|believe|feel|suspect)",
    r"in my (?:view|opinion|professional opinion|judgement)",
    r"it (?:is|was) (?:felt|thought|believed|suspected)",
    r"(?:appears?|appeared|seems?|seemed) (?:to|that|as if|like)",
    r"(?:probably|possibly|presumably|likely|unlikely)",
    r"(?:may|might|could|must) have (?:been|had|caused|seen|known)",
    r"(?:I am|I'm|we are|staff are|I was) (?:worried|concerned) that",
    r"gut feeling",
    r"(?:looked|looks) (?:like|as if|as though)",
]
_HEARSAY = [
    r"(?:mum|mother|dad|father|parent|nan|gran|grandmother|grandfather|partner|step-?father|step-?mother|"
    r"neighbour|child|he|she|they|the child|school|police|caller) "
    r"(?:said|says|stated|states|told|reported|claimed|claims|disclosed)",
    r"(?:told|informed) (?:me|us|staff|the officer|the school)",
    r"(?:was|were|has been|had been) (?:told|informed|reported)",
    r"according to",
    r"(?:allegedly|apparently|reportedly|rumoured|supposedly)",
    r"it is (?:said|reported|alleged)",
    r"(?:heard|understood) (?:that|from)",
    r"(?:claims?|alleges?|alleged) that",
]


def _compile(patterns: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(rf"(?<![A-Za-z])(?:{p})(?![A-Za-z])" for p in patterns), re.IGNORECASE)


_RX = {"opinion": _compile(_OPINION), "hearsay": _compile(_HEARSAY)}


@dataclass(frozen=True)
class Marker:
    """Words in a fact that read as ``reads_as`` (opinion or hearsay), where they are."""

    field: str
    reads_as: Literal["opinion", "hearsay"]
    words: str
    start: int


def opinion_markers(text: str, kind: str, *, field: str = "event.narrative") -> list[Marker]:
    """Markers of opinion or hearsay in ``text`` when the record calls itself a fact.

    >>> text = "Mum said he was at his nan's. He appears to be underweight."
    >>> [(m.reads_as, m.words) for m in opinion_markers(text, "fact")]
    [('hearsay', 'Mum said'), ('opinion', 'appears to')]
    >>> opinion_markers("I think the home is cold.", "opinion")
    []
    """
    if kind != "fact" or not text:
        return []
    out = []
    for reads_as, rx in _RX.items():
        for m in rx.finditer(text):
            out.append(Marker(field, reads_as, m.group(0), m.start()))  # type: ignore[arg-type]
    return sorted(out, key=lambda m: (m.start, m.reads_as))


def fragment_markers(doc: Mapping[str, Any]) -> list[Marker]:
    """Opinion and hearsay markers in a fragment's summary and narrative (if it says fact)."""
    kind = str((doc.get("statement") or {}).get("kind", ""))
    ev = doc.get("event") or {}
    out: list[Marker] = []
    for key in ("summary", "narrative"):
        if isinstance(ev, Mapping) and ev.get(key):
            out += opinion_markers(str(ev[key]), kind, field=f"event.{key}")
    return out
