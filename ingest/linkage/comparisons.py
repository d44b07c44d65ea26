"""Field comparisons, each a list of levels as Splink declares them: null (one side does
not say), then from the closest agreement to none. A comparison returns the index of
the first level that holds; the model turns levels into evidence (match weights).

String similarity is rapidfuzz's (Jaro-Winkler, optimal string alignment distance);
phonetic codes and nicknames are worked out once per mention (``features.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from rapidfuzz.distance import OSA, JaroWinkler

from graph.resolution import adjacent_days
from ingest.linkage.features import Features, name_family

NULL = 0


def _forename(a: Features, b: Features) -> int:
    if a.initial is None or b.initial is None:
        return NULL
    ga, gb = a.given, b.given
    if ga is None or gb is None:
        return 5 if a.initial == b.initial else 7  # initial, else
    if ga == gb:
        return 1
    short, long_ = (ga, gb) if len(ga) < len(gb) else (gb, ga)
    if (len(short) >= 3 and long_.startswith(short)) or gb in name_family(ga) or ga in name_family(gb):
        return 2  # nickname or diminutive: Kay / Kayleigh, Tom / Thomas, Bill / William
    if JaroWinkler.similarity(ga, gb) >= 0.88:
        return 3  # a spelling variant: Leanne / Lee-Anne
    if a.given_sound == b.given_sound:
        return 4  # sounds alike
    if _swapped(a, b):
        return 6
    return 7


def _swapped(a: Features, b: Features) -> bool:
    """Given name and surname written the other way round (one side or both)."""
    ga, gb, fa, fb = a.given, b.given, a.family, b.family
    if not (ga and gb and fa and fb):
        return False
    return JaroWinkler.similarity(ga, fb) >= 0.9 and JaroWinkler.similarity(fa, gb) >= 0.9


def _surname(a: Features, b: Features) -> int:
    fa, fb = a.family, b.family
    if fa is None or fb is None:
        return NULL
    if fa == fb:
        return 1
    if (a.family_parts and fb in a.family_parts) or (b.family_parts and fa in b.family_parts):
        return 2  # one part of a double-barrelled name: Smith-Jones / Jones
    if a.family_parts and b.family_parts and set(a.family_parts) & set(b.family_parts):
        return 2
    if fa in b.previous or fb in a.previous or set(a.previous) & set(b.previous):
        return 3  # a previous (maiden) name of one is the other's name
    if JaroWinkler.similarity(fa, fb) >= 0.9 or a.family_sound == b.family_sound:
        return 4
    if _swapped(a, b):
        return 5
    return 6


def _dob(a: Features, b: Features) -> int:
    da, db = a.dob, b.dob
    if da is None or db is None:
        return NULL
    if da == db:
        return 1
    if da[:4] == db[:4] and da[5:7] == db[8:10] and da[8:10] == db[5:7]:
        return 2  # day and month swapped
    if OSA.distance(da, db) <= 1:
        return 3  # one digit wrong or two adjacent digits transposed
    if adjacent_days(da, db):
        return 4  # a day out, even across a month or year: 31/03 and 01/04
    if da[:4] == db[:4]:
        return 5  # the same year
    return 6


def _identifier(va: str | None, vb: str | None) -> int:
    if va is None or vb is None:
        return NULL
    if va == vb:
        return 1
    if len(va) == len(vb) and OSA.distance(va, vb) <= 1:
        return 2  # one digit mistyped or two transposed (unverified: fails the check digit)
    return 3


def _nhs(a: Features, b: Features) -> int:
    return _identifier(a.nhs, b.nhs)


def _upn(a: Features, b: Features) -> int:
    return _identifier(a.upn, b.upn)


def _apid(a: Features, b: Features) -> int:
    if a.apid is None or b.apid is None or a.apid_issuer != b.apid_issuer:
        return NULL  # person ids mean something only within the issuing agency
    return _identifier(a.apid, b.apid)


def _postcode(a: Features, b: Features) -> int:
    if a.postcode is None or b.postcode is None:
        return NULL
    if a.postcode == b.postcode:
        return 1
    if OSA.distance(a.postcode, b.postcode) <= 1:
        return 2
    if a.district == b.district:
        return 3
    return 4


def _address(a: Features, b: Features) -> int:
    if a.address is None or b.address is None:
        return NULL
    if a.address == b.address:
        return 1
    if JaroWinkler.similarity(a.address, b.address) >= 0.9:
        return 2
    return 3


def _sex(a: Features, b: Features) -> int:
    if a.sex is None or b.sex is None:
        return NULL
    return 1 if a.sex == b.sex else 2


Compare = Callable[[Features, Features], int]
# the name comparisons' levels, for judging whether two names can be one person's
forename_level: Compare = _forename
surname_level: Compare = _surname

# name -> (function, level names); level 0 is always "null".
COMPARISONS: dict[str, tuple[Compare, tuple[str, ...]]] = {
    "forename": (_forename, ("null", "exact", "nickname", "close", "sounds_alike", "initial", "swapped", "else")),
    "surname": (_surname, ("null", "exact", "part", "previous", "close", "swapped", "else")),
    "dob": (_dob, ("null", "exact", "swapped", "typo", "adjacent", "year", "else")),
    "nhs": (_nhs, ("null", "exact", "typo", "else")),
    "upn": (_upn, ("null", "exact", "typo", "else")),
    "agency_person_id": (_apid, ("null", "exact", "typo", "else")),
    "postcode": (_postcode, ("null", "exact", "typo", "district", "else")),
    "address": (_address, ("null", "exact", "close", "else")),
    "sex": (_sex, ("null", "exact", "else")),
}


def levels(a: Features, b: Features) -> tuple[int, ...]:
    """The level of every comparison, in ``COMPARISONS`` order (spelt out: this runs for
    every candidate pair, and a loop over the table costs as much as the comparisons)."""
    return (
        _forename(a, b),
        _surname(a, b),
        _dob(a, b),
        _nhs(a, b),
        _upn(a, b),
        _apid(a, b),
        _postcode(a, b),
        _address(a, b),
        _sex(a, b),
    )
