"""Normalisation of what agencies write: identifiers with check digits, names, and dates
with their precision (including relative wording such as "six months previously").

Pure functions, no I/O. The schema (``ingest.schema``) calls them while validating, so
every stored fragment carries both what the agency wrote and the normalised form that
matching and the chronology use.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from graph.text import clean_identifier as clean_identifier  # one definition, in graph.text
from graph.text import fold as fold

# --------------------------------------------------------------------------- identifiers

_NHS_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
# The UPN check letter alphabet: 23 letters, I, O and S left out (DfE UPN guidance).
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def nhs_number_is_valid(value: str) -> bool:
    """Check a ten-digit NHS number by its modulus 11 check digit.

    >>> nhs_number_is_valid("943 476 5919")
    True
    >>> nhs_number_is_valid("9434765918")
    False
    """
    digits = clean_identifier(value)
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def upn_check_letter(body: str) -> str | None:
    """The check letter for the last twelve characters of a Unique Pupil Number.

    Characters 2 to 13 are weighted 2 to 13; the sum modulo 23 indexes the 23-letter
    alphabet. A temporary UPN ends in a letter, which counts as its alphabet position.
    """
    if len(body) != 12 or not body[:11].isdigit():
        return None
    last = body[11]
    if last.isdigit():
        values = [int(c) for c in body]
    elif last in _UPN_LETTERS:
        values = [int(c) for c in body[:11]] + [_UPN_LETTERS.index(last)]
    else:
        return None
    total = sum(v * w for v, w in zip(values, range(2, 14), strict=True))
    return _UPN_LETTERS[total % 23]


def upn_is_valid(value: str) -> bool:
    """Check a 13-character UPN by its check letter.

    >>> upn_is_valid(make_upn("82012340012"[:11] + "5"))
    True
    """
    upn = clean_identifier(value)
    if len(upn) != 13:
        return False
    expected = upn_check_letter(upn[1:])
    return expected is not None and upn[0] == expected


def make_upn(body: str) -> str:
    """Build a valid UPN from its twelve-character body (used by the synthetic generator)."""
    letter = upn_check_letter(body)
    if letter is None:
        raise ValueError("a UPN body is 11 digits then a digit or check-alphabet letter")
    return letter + body


def make_nhs_number(first_nine: str) -> str | None:
    """Complete nine digits into a valid NHS number, or None when no check digit fits."""
    total = sum(int(d) * w for d, w in zip(first_nine, _NHS_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return None
    return first_nine + str(check)


# --------------------------------------------------------------------------- names

_TITLES = frozenset(["mr", "mrs", "ms", "miss", "mx", "dr", "master", "sir", "dame", "rev", "prof"])
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class NameParts:
    """A name split into the parts matching needs, all folded."""

    given: tuple[str, ...]
    family: str | None
    title: str | None

    @property
    def first(self) -> str | None:
        return self.given[0] if self.given else None

    @property
    def first_is_initial(self) -> bool:
        return self.first is not None and len(self.first) == 1


@lru_cache(maxsize=1 << 16)
def split_name(full: str | None, given: str | None = None, family: str | None = None) -> NameParts:
    """Split a name into folded given names, family name and title.

    Structured ``given``/``family`` win over the free-text ``full``. In free text the last
    word is the family name, a leading title is kept apart.

    >>> split_name("Mrs L. Walsh")
    NameParts(given=('l',), family='walsh', title='mrs')
    """
    title = None
    if given is not None or family is not None:
        g = tuple(fold(given or "").split())
        f = fold(family or "") or None
        # a title is taken off only when a name is left: "Mrs" + "Walsh", not a given
        # name that happens to be spelt like one with nothing beside it
        if g and g[0] in _TITLES and (len(g) > 1 or f):
            title, g = g[0], g[1:]
        return NameParts(g, f, title)
    if full and full.count(",") == 1:
        # "WALSH, Leanne": the family name first, as police and health exports write it
        fam, giv = full.split(",")
        if fam.strip() and giv.strip():
            return split_name(None, giv, fam)
    words = fold(full or "").split()
    if len(words) > 1 and words[0] in _TITLES:
        title, words = words[0], words[1:]
    if not words:
        return NameParts((), None, title)
    if len(words) == 1:
        # After a title, one word is the family name ("Mrs Walsh"); alone ("Craig") it
        # is a given name as written, family unknown.
        return NameParts((), words[0], title) if title else NameParts((words[0],), None, title)
    return NameParts(tuple(words[:-1]), words[-1], title)


# --------------------------------------------------------------------------- dates


class DateParseError(ValueError):
    """A date or relative wording that cannot be understood."""


@dataclass(frozen=True, slots=True)
class ResolvedWhen:
    """When something happened: a span [start, end] with its precision.

    ``precision`` is one of exact, day, month, year, approximate, range. ``at`` holds a
    time of day for exact times. ``relative`` is True when the span was worked out from
    words such as "six months previously" against the recorded date.
    """

    precision: str
    start: date
    end: date
    at: str | None = None
    relative: bool = False


_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple of": 2,
    "a couple of": 2,
    "few": 3,
    "a few": 3,
    "several": 3,
}
_APPROX = r"(?:about|around|approximately|approx\.?|roughly|some|c\.|circa|nearly|almost|over)"
_UNIT = r"(day|week|fortnight|month|year)s?(?:'s|’s)?"
_NUM = r"(\d+|" + "|".join(sorted((re.escape(k) for k in _NUMBER_WORDS), key=len, reverse=True)) + r")"
_AGO = r"(?:ago|previously|before|earlier|prior|back)"
_RELATIVE = re.compile(
    rf"^(?P<approx>{_APPROX}\s+)?{_NUM}\s+{_UNIT}\s+{_AGO}$",
)
_LAST = re.compile(rf"^(?P<approx>{_APPROX}\s+)?(?:last|the previous|the last|previous)\s+(week|month|year|fortnight)$")


def add_months(d: date, months: int) -> date:
    """``d`` moved by whole months, the day clamped to the month's length."""
    m = d.month - 1 + months
    y = d.year + m // 12
    m = m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def _month_end(y: int, m: int) -> date:
    return date(y, m, calendar.monthrange(y, m)[1])


def _shift(anchor: date, n: int, unit: str) -> tuple[date, date, str]:
    """The span meant by "n units before anchor", with its precision."""
    if unit == "fortnight":
        n, unit = n * 2, "week"
    if unit == "day":
        d = anchor - timedelta(days=n)
        return d, d, "day"
    if unit == "week":
        mid = anchor - timedelta(weeks=n)
        return mid - timedelta(days=3), mid + timedelta(days=3), "approximate"
    if unit == "month":
        mid = add_months(anchor, -n)
        return mid - timedelta(days=15), mid + timedelta(days=15), "approximate"
    mid = date(anchor.year - n, anchor.month, min(anchor.day, 28))
    return mid - timedelta(days=182), mid + timedelta(days=182), "approximate"


def _widen(start: date, end: date) -> tuple[date, date]:
    """Widen a span by half its length each side (for "about", "around")."""
    half = max(1, (end - start).days // 2)
    return start - timedelta(days=half), end + timedelta(days=half)


def resolve_relative(text: str, anchor: date) -> ResolvedWhen:
    """Resolve relative wording against ``anchor`` (the date the record was made).

    >>> resolve_relative("six month's previously", date(2026, 11, 19)).precision
    'approximate'
    >>> resolve_relative("yesterday", date(2026, 11, 19)).start
    datetime.date(2026, 11, 18)
    """
    t = _SPACES.sub(" ", text.replace("\u2019", "'").lower()).strip().rstrip(".")
    if t in ("today", "this morning", "this afternoon", "this evening", "earlier today"):
        return ResolvedWhen("day", anchor, anchor, relative=True)
    if t in ("yesterday", "last night"):
        d = anchor - timedelta(days=1)
        return ResolvedWhen("day", d, d, relative=True)
    m = _LAST.match(t)
    if m:
        unit = m.group(2)
        if unit == "week":
            monday = anchor - timedelta(days=anchor.weekday() + 7)
            start, end = monday, monday + timedelta(days=6)
        elif unit == "fortnight":
            start, end = anchor - timedelta(days=14), anchor - timedelta(days=1)
        elif unit == "month":
            prev = add_months(anchor.replace(day=1), -1)
            start, end = prev, _month_end(prev.year, prev.month)
        else:
            start, end = date(anchor.year - 1, 1, 1), date(anchor.year - 1, 12, 31)
        if m.group("approx"):
            start, end = _widen(start, end)
        return ResolvedWhen("approximate", start, end, relative=True)
    m = _RELATIVE.match(t)
    if m:
        raw = m.group(2)
        n = int(raw) if raw.isdigit() else _NUMBER_WORDS[raw]
        if n > 100:
            raise DateParseError(f"{n} {m.group(3)}s is too far back to place")
        start, end, precision = _shift(anchor, n, m.group(3))
        if m.group("approx"):
            start, end = _widen(start, end)
            precision = "approximate"
        return ResolvedWhen(precision, start, end, relative=True)
    raise DateParseError(
        "not a date (YYYY-MM-DD, YYYY-MM, YYYY, or a time) and not relative wording "
        "this system understands (e.g. 'six months previously', 'last week', "
        "'about three weeks ago')"
    )


_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_ISO_YEAR = re.compile(r"^(\d{4})$")
_ISO_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_UK_DAY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_UK_TIME = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})$")


def _mkdate(y: int, m: int, d: int) -> date:
    try:
        return date(y, m, d)
    except ValueError as exc:
        raise DateParseError(f"not a real calendar date ({exc})") from None


def _exact(y: int, mo: int, d: int, hh: int, mm: int) -> ResolvedWhen:
    day = _mkdate(y, mo, d)
    if hh > 23 or mm > 59:
        raise DateParseError("not a real time of day")
    return ResolvedWhen("exact", day, day, at=f"{hh:02d}:{mm:02d}")


def resolve_when(text: str, anchor: date) -> ResolvedWhen:
    """Parse an absolute date at its precision, or relative wording against ``anchor``.

    Accepted: ``2026-11-19``, ``19/11/2026`` (UK order), ``2026-11-19T09:30``,
    ``19/11/2026 09:30``, ``2026-11`` (a month), ``2026`` (a year), and the relative
    wordings :func:`resolve_relative` knows.

    >>> r = resolve_when("2026-05", date(2026, 11, 19))
    >>> (r.precision, r.start.isoformat(), r.end.isoformat())
    ('month', '2026-05-01', '2026-05-31')
    """
    s = text.strip()
    if m := _ISO_TIME.match(s):
        y, mo, d, hh, mm = (int(m.group(i)) for i in range(1, 6))
        return _exact(y, mo, d, hh, mm)
    if m := _UK_TIME.match(s):
        d, mo, y, hh, mm = (int(m.group(i)) for i in range(1, 6))
        return _exact(y, mo, d, hh, mm)
    if m := _ISO_DAY.match(s):
        day = _mkdate(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return ResolvedWhen("day", day, day)
    if m := _UK_DAY.match(s):
        day = _mkdate(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        return ResolvedWhen("day", day, day)
    if m := _ISO_MONTH.match(s):
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise DateParseError("month must be 01 to 12")
        return ResolvedWhen("month", date(y, mo, 1), _month_end(y, mo))
    if m := _ISO_YEAR.match(s):
        y = int(m.group(1))
        if y < 1900:
            raise DateParseError("year is before 1900")
        return ResolvedWhen("year", date(y, 1, 1), date(y, 12, 31))
    return resolve_relative(s, anchor)


def parse_day(text: str) -> date:
    """A calendar day in ISO (``2019-03-04``) or UK (``04/03/2019``) order."""
    s = text.strip()
    if m := _ISO_DAY.match(s):
        return _mkdate(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if m := _UK_DAY.match(s):
        return _mkdate(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    raise DateParseError("not a day: write YYYY-MM-DD or DD/MM/YYYY")


UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")


def normalise_postcode(value: str) -> str | None:
    """A UK postcode in its standard spacing, or None when it is not one."""
    compact = _SPACES.sub("", value.upper())
    m = UK_POSTCODE.match(compact[:-3] + " " + compact[-3:]) if len(compact) >= 5 else None
    if not m:
        return None
    return f"{m.group(1)} {m.group(2)}"
