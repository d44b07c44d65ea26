"""Folding text for comparison: the one definition both matching (ingest) and search use."""

from __future__ import annotations

import re
import unicodedata

_NON_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip accents, drop hyphens and apostrophes, collapse spaces.

    Hyphens and apostrophes are dropped, not spaced, so "Lee-Anne" and "Leanne" fold
    alike, as do "O'Brien" and "OBrien".

    >>> fold("  Lee-Anne  O'Brien ")
    'leeanne obrien'
    """
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = t.replace("-", "").replace("'", "").replace("\u2019", "")
    t = _NON_ALNUM.sub(" ", t)
    return _SPACES.sub(" ", t).strip()


def clean_identifier(value: str) -> str:
    """Strip spaces, hyphens and dots and upper-case: ``"943 476 5919"`` -> ``"9434765919"``."""
    return re.sub(r"[\s\-.]", "", value).upper()
