from __future__ import annotations

from datetime import date

import pytest

from ingest.normalise import (
    DateParseError,
    make_nhs_number,
    make_upn,
    nhs_number_is_valid,
    normalise_postcode,
    resolve_when,
    split_name,
    upn_is_valid,
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765918", False),  # wrong check digit
        ("943476591", False),  # nine digits
        ("94347659190", False),
        ("943476591X", False),
    ],
)
def test_nhs_number_check_digit(value: str, ok: bool) -> None:
    assert nhs_number_is_valid(value) is ok


def test_nhs_number_whose_check_would_be_ten_is_invalid() -> None:
    # find nine digits whose check digit would be 10: such numbers are never issued
    nine = next(f"{n:09d}" for n in range(900000000, 900001000) if make_nhs_number(f"{n:09d}") is None)
    assert all(not nhs_number_is_valid(nine + str(d)) for d in range(10))


def test_every_made_nhs_number_is_valid_and_one_digit_typos_are_not() -> None:
    made = [x for n in range(900000100, 900000400) if (x := make_nhs_number(str(n)))]
    assert len(made) > 200
    for good in made:
        assert nhs_number_is_valid(good)
        typo = good[:3] + str((int(good[3]) + 1) % 10) + good[4:]
        assert not nhs_number_is_valid(typo)


def test_upn_check_letter() -> None:
    upn = make_upn("820123400125")
    assert upn_is_valid(upn)
    assert upn_is_valid(upn.lower())
    other = "A" if upn[0] != "A" else "B"
    assert not upn_is_valid(other + upn[1:])
    assert not upn_is_valid(upn[:-1])
    # a temporary UPN ends in a letter and still carries a check letter
    temp = make_upn("82012340012A")
    assert upn_is_valid(temp)
    # letters I, O and S are never check letters
    assert all(make_upn(f"8201234{n:05d}")[0] not in "IOS" for n in range(300))


@pytest.mark.parametrize(
    ("text", "given", "family", "title"),
    [
        ("Mrs L Walsh", ("l",), "walsh", "mrs"),
        ("Lee-Anne Walsh", ("leeanne",), "walsh", None),
        ("LeeAnne Walsh", ("leeanne",), "walsh", None),
        ("Leanne WALSH", ("leanne",), "walsh", None),
        ("Craig", ("craig",), None, None),
        ("Zoë O'Brien-Smith", ("zoe",), "obriensmith", None),
        ("Amy Louise Walsh", ("amy", "louise"), "walsh", None),
    ],
)
def test_split_name(text: str, given: tuple[str, ...], family: str | None, title: str | None) -> None:
    parts = split_name(text)
    assert (parts.given, parts.family, parts.title) == (given, family, title)


def test_structured_name_wins_over_free_text() -> None:
    parts = split_name("ignored", given="Lee-Anne", family="Walsh")
    assert parts.given == ("leeanne",) and parts.family == "walsh"


ANCHOR = date(2026, 11, 19)  # a Thursday


@pytest.mark.parametrize(
    ("text", "precision", "start", "end"),
    [
        ("2026-11-19", "day", date(2026, 11, 19), date(2026, 11, 19)),
        ("19/11/2026", "day", date(2026, 11, 19), date(2026, 11, 19)),
        ("2026-05", "month", date(2026, 5, 1), date(2026, 5, 31)),
        ("2025", "year", date(2025, 1, 1), date(2025, 12, 31)),
        ("2026-11-19T09:30", "exact", date(2026, 11, 19), date(2026, 11, 19)),
        ("yesterday", "day", date(2026, 11, 18), date(2026, 11, 18)),
        ("last week", "approximate", date(2026, 11, 9), date(2026, 11, 15)),
        ("six months previously", "approximate", date(2026, 5, 4), date(2026, 6, 3)),
        ("Six month's previously", "approximate", date(2026, 5, 4), date(2026, 6, 3)),
        ("3 days ago", "day", date(2026, 11, 16), date(2026, 11, 16)),
        ("about three weeks ago", "approximate", date(2026, 10, 23), date(2026, 11, 4)),
    ],
)
def test_resolve_when(text: str, precision: str, start: date, end: date) -> None:
    r = resolve_when(text, ANCHOR)
    assert (r.precision, r.start, r.end) == (precision, start, end)


def test_relative_wording_is_marked_relative_and_absolute_is_not() -> None:
    assert resolve_when("last week", ANCHOR).relative
    assert not resolve_when("2026-11-01", ANCHOR).relative


def test_about_widens_the_span() -> None:
    plain = resolve_when("three weeks ago", ANCHOR)
    about = resolve_when("about three weeks ago", ANCHOR)
    assert about.start < plain.start and about.end > plain.end


@pytest.mark.parametrize("text", ["31/02/2026", "2026-13", "next week", "soonish", "2026-11-19T25:00", "500 years ago"])
def test_unreadable_dates_raise(text: str) -> None:
    with pytest.raises(DateParseError):
        resolve_when(text, ANCHOR)


def test_postcodes() -> None:
    assert normalise_postcode("nt42qp") == "NT4 2QP"
    assert normalise_postcode(" NT4  2QP ") == "NT4 2QP"
    assert normalise_postcode("not a postcode") is None


def test_family_name_first_with_a_comma() -> None:
    parts = split_name("WALSH, Leanne")
    assert (parts.given, parts.family) == (("leanne",), "walsh")
