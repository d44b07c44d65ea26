"""Blocking: which earlier mentions a new one is compared with at all.

A mention is compared only with mentions sharing at least one key (an OR of rules, as
Splink's blocking rules for prediction), so the work grows with the number of
candidates, not the square of the records. The rules are chosen so that each kind of
variation agencies make leaves at least one key intact:

- an identifier, as written (verified or not);
- surname sound + date of birth with day and month in either order (catches nicknames,
  swapped dates);
- given-name sound + the same date (catches a surname changed on marriage);
- given-name sound + surname sound, in either order, + the year of birth, and again +
  the day and month (catches a date of birth mistyped in one digit, and names written
  surname first);
- surname sound + postcode (catches initials, "Mrs L Walsh");
- given-name sound + postcode (catches a surname changed, or misspelt past sounding alike);
- date of birth + postcode (catches both names misspelt);
- a previous surname's sound + the same date, or + postcode (catches a maiden name).
"""

from __future__ import annotations

import sys

from ingest.linkage.features import Features, phonetic

_intern = sys.intern


def blocking_keys(f: Features) -> list[str]:
    keys: list[str] = []
    if f.nhs:
        keys.append("n" + f.nhs)
    if f.upn:
        keys.append("u" + f.upn)
    if f.apid:
        keys.append("a" + f.apid)
    if f.dob:
        y, mo, d = f.dob[:4], f.dob[5:7], f.dob[8:10]
        md = mo + d if mo <= d else d + mo
        when = y + md
        if f.family_sound:
            keys.append(f"s{f.family_sound}|{when}")
        if f.given_sound:
            keys.append(f"g{f.given_sound}|{when}")
    if f.given_sound and f.family_sound and f.dob:
        # names in either order, with the year or the day and month: a date mistyped in
        # one digit keeps one of the two. (Without a date of birth, names alone never
        # reach the join threshold; the postcode and identifier keys find those.)
        a, b = sorted((f.given_sound, f.family_sound))
        keys.append(f"f{a}|{b}|{f.dob[:4]}")
        keys.append(f"m{a}|{b}|{md}")
    if f.family_sound and f.postcode:
        keys.append(f"p{f.family_sound}|{f.postcode}")
    if f.given_sound and f.postcode:
        keys.append(f"q{f.given_sound}|{f.postcode}")
    if f.dob and f.postcode:
        keys.append(f"d{f.dob}|{f.postcode}")
    for prev in f.previous:
        # a previous (maiden) surname: where the other record still uses it
        sound = phonetic(prev)
        if f.dob:
            keys.append(f"s{sound}|{when}")
        if f.postcode:
            keys.append(f"p{sound}|{f.postcode}")
    return [_intern(k) for k in keys]
