"""Folding text for comparison: the one definition both matching (ingest) and search use."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
_ID_NOISE = re.compile(r"[\s\-.]")


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Lower-case, strip accents, drop hyphens and apostrophes, collapse spaces.

    Cached: agencies write the same few thousand names again and again.

    Hyphens and apostrophes are dropped, not spaced, so "Lee-Anne" and "LeeAnne" fold
    alike, as do "O'Brien" and "OBrien". ("Leanne" does not: that is a spelling variant,
    for entity resolution's fuzzy comparisons, not for exact keys.)

    >>> fold("  Lee-Anne  O'Brien ")
    'leeanne obrien'
    """
    if text.isascii():
        t = text.lower()
    else:
        t = unicodedata.normalize("NFKD", text)
        t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = t.replace("-", "").replace("'", "").replace("\u2019", "")
    t = _NON_ALNUM.sub(" ", t)
    return _SPACES.sub(" ", t).strip()


def clean_identifier(value: str) -> str:
    """Strip spaces, hyphens and dots and upper-case: ``"943 476 5919"`` -> ``"9434765919"``."""
    return _ID_NOISE.sub("", value).upper()
