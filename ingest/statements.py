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


# The slow, obviously right matchers: every pattern tried at every place in the text.
_RX = {"opinion": _compile(_OPINION), "hearsay": _compile(_HEARSAY)}
# The fast path: try the patterns only where a word that can begin one of them begins
# (tests check it finds exactly what the slow matchers find).
_AT = {k: re.compile("(?:" + "|".join(ps) + r")(?![A-Za-z])", re.IGNORECASE) for k, ps in
       (("opinion", _OPINION), ("hearsay", _HEARSAY))}  # fmt: skip
_FIRST_WORDS = (
    "i we in it appear appears appeared seem seems seemed probably possibly presumably likely unlikely "
    "may might could must staff gut looked looks mum mother dad father parent nan gran grandmother "
    "grandfather partner stepfather stepmother step neighbour child he she they the "
    "school police caller told informed was were has had according allegedly apparently reportedly "
    "rumoured supposedly heard understood claim claims alleges alleged "
)
_FIRST = frozenset(_FIRST_WORDS.split())
_WORD = re.compile(r"[A-Za-z]+")


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
    for w in _WORD.finditer(text):
        word = w.group(0).lower()
        if word not in _FIRST:
            continue
        for reads_as, rx in _AT.items():
            m = rx.match(text, w.start())
            if m is not None:
                out.append(Marker(field, reads_as, m.group(0), m.start()))  # type: ignore[arg-type]
    return _no_overlap(out)


def slow_markers(text: str, kind: str, *, field: str = "event.narrative") -> list[Marker]:
    """The same as ``opinion_markers`` by the slow matchers (every place in the text): the
    reference the fast path is tested against."""
    if kind != "fact" or not text:
        return []
    out = []
    for reads_as, rx in _RX.items():
        for m in rx.finditer(text):
            out.append(Marker(field, reads_as, m.group(0), m.start()))  # type: ignore[arg-type]
    return _no_overlap(out)


def _no_overlap(found: list[Marker]) -> list[Marker]:
    """In order of place; of markers of one kind that overlap, the first."""
    out: list[Marker] = []
    end: dict[str, int] = {}
    for m in sorted(found, key=lambda m: (m.start, m.reads_as)):
        if m.start < end.get(m.reads_as, -1):
            continue
        end[m.reads_as] = m.start + len(m.words)
        out.append(m)
    return out


def fragment_markers(doc: Mapping[str, Any]) -> list[Marker]:
    """Opinion and hearsay markers in a fragment's summary and narrative (if it says fact)."""
    kind = str((doc.get("statement") or {}).get("kind", ""))
    ev = doc.get("event") or {}
    out: list[Marker] = []
    for key in ("summary", "narrative"):
        if isinstance(ev, Mapping) and ev.get(key):
            out += opinion_markers(str(ev[key]), kind, field=f"event.{key}")
    return out
