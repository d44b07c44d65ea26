"""What matching reads from a mention, worked out once when the mention arrives.

A ``Features`` record holds the folded, phonetic and nickname forms of a mention's name,
its date of birth, identifiers, postcode and address: everything the comparisons need,
so that scoring a pair of mentions does no parsing. Records are small (slotted, with
interned strings) because the projection keeps one per mention of every fragment.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jellyfish
from nicknames import NickNamer

from graph.text import clean_identifier, fold

_intern = sys.intern
_PARTS = re.compile(r"[\s\-]+")
_NICKNAMER: NickNamer | None = None
_TITLE_SEX = {"mrs": "female", "ms": "female", "miss": "female", "mr": "male", "master": "male"}


def _nicknamer() -> NickNamer:
    global _NICKNAMER
    if _NICKNAMER is None:
        _NICKNAMER = NickNamer()
    return _NICKNAMER


@lru_cache(maxsize=1 << 16)
def name_family(given: str) -> frozenset[str]:
    """The given name with every name the curated list relates it to, either way:
    its nicknames and diminutives and the formal names it is short for.

    >>> sorted(name_family("tom"))
    ['thom', 'thomas', 'tom', 'tommy']
    """
    nn = _nicknamer()
    return frozenset({given, *nn.nicknames_of(given), *nn.canonicals_of(given)})


@lru_cache(maxsize=1 << 16)
def phonetic(word: str) -> str:
    """A phonetic code (Metaphone, from jellyfish): "Walsh" and "Welsh" share one."""
    return _intern(jellyfish.metaphone(word)) if word else ""


@lru_cache(maxsize=1 << 16)
def _family_parts(raw: str) -> tuple[str, ...]:
    parts = tuple(_intern(p) for p in (fold(x) for x in _PARTS.split(raw)) if p)
    return parts if len(parts) > 1 else ()


def postcode_parts(value: str | None) -> tuple[str | None, str | None]:
    """A postcode without spaces, upper case, and its outward code (the district):
    ``"ns4 7ab"`` -> ``("NS47AB", "NS4")``. A code without the UK inward part (three
    characters, digit first) is its own district."""
    if not value:
        return None, None
    pc = clean_identifier(value)
    if not pc:
        return None, None
    district = pc[:-3] if len(pc) >= 5 and pc[-3].isdigit() else pc
    return _intern(pc), _intern(district)


class Features:
    """The comparable parts of one mention."""

    __slots__ = (
        "_hash",
        "address",
        "apid",
        "apid_issuer",
        "apid_verified",
        "district",
        "dob",
        "family",
        "family_parts",
        "family_sound",
        "given",
        "given_sound",
        "initial",
        "nhs",
        "nhs_verified",
        "postcode",
        "previous",
        "sex",
        "upn",
        "upn_verified",
    )

    def __init__(self) -> None:
        self._hash: int | None = None  # set on first use as a key; the fields are final by then
        self.given: str | None = None  # first given name, folded; None when only an initial
        self.initial: str | None = None
        self.given_sound = ""
        self.family: str | None = None
        self.family_parts: tuple[str, ...] = ()  # the parts of a double-barrelled surname
        self.family_sound = ""
        self.dob: str | None = None
        self.sex: str | None = None
        self.nhs: str | None = None
        self.nhs_verified = False
        self.upn: str | None = None
        self.upn_verified = False
        self.apid: str | None = None  # "issuer:value"
        self.apid_issuer: str | None = None
        self.apid_verified = False
        self.postcode: str | None = None
        self.district: str | None = None
        self.address: str | None = None
        self.previous: tuple[str, ...] = ()  # earlier family names (a maiden name), folded

    @property
    def has_strong(self) -> bool:
        """A date of birth or a verified identifier: something beyond name and place."""
        return bool(self.dob or self.nhs_verified or self.upn_verified or self.apid)

    @property
    def too_little(self) -> bool:
        """Too little to go on for an automatic join: first name only, an initial and a
        surname without a date of birth or identifier, or a description."""
        if self.has_strong:
            return not (self.family or self.given or self.nhs_verified or self.upn_verified or self.apid)
        return not (self.given and self.family)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self.__slots__[1:])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Features) and self._values() == other._values()

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(self._values())
        return h


def features_of(m: Mapping[str, Any]) -> Features:
    """The features of a mention as stored (canonical fragment form, ``norm`` filled in)."""
    f = Features()
    norm = m.get("norm") or {}
    given = norm.get("given") or []
    if given:
        first = given[0]
        f.initial = _intern(first[0])
        if len(first) > 1:
            f.given = _intern(first)
            f.given_sound = phonetic(first)
    family = norm.get("family")
    if family:
        f.family = _intern(family.replace(" ", ""))
        f.family_sound = phonetic(f.family)
        raw = (m.get("name") or {}).get("family")
        if raw is None:
            full = (m.get("name") or {}).get("full") or ""
            raw = full.split(",")[0] if "," in full else (full.split()[-1] if full.split() else "")
        f.family_parts = _family_parts(raw) or _family_parts(family)
    if m.get("dob"):
        f.dob = _intern(m["dob"])
    previous = norm.get("previous_family")
    if previous:
        f.previous = tuple(_intern(x.replace(" ", "")) for x in previous)
    if m.get("sex") in ("female", "male"):
        f.sex = _intern(m["sex"])
    elif norm.get("title") in _TITLE_SEX:
        # "Mrs L Walsh": the title is the only word on sex most records give
        f.sex = _TITLE_SEX[norm["title"]]
    for ident in m.get("identifiers", ()):
        value = clean_identifier(ident["value"])
        scheme = ident["scheme"]
        verified = bool(ident.get("verified"))
        if scheme == "nhs" and (f.nhs is None or (verified and not f.nhs_verified)):
            f.nhs, f.nhs_verified = _intern(value), verified
        elif scheme == "upn" and (f.upn is None or (verified and not f.upn_verified)):
            f.upn, f.upn_verified = _intern(value), verified
        elif scheme == "agency_person_id" and (f.apid is None or (verified and not f.apid_verified)):
            issuer = ident.get("issuer") or ""
            f.apid, f.apid_issuer, f.apid_verified = _intern(f"{issuer}:{value}"), _intern(issuer), verified
    for addr in m.get("addresses", ()):
        pc, district = postcode_parts(addr.get("postcode"))
        if pc:
            f.postcode, f.district = pc, district
        if addr.get("text"):
            f.address = _intern(fold(addr["text"]))
        if pc or f.address:
            break
    return f
