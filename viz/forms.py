"""The chronology filter form: its fields, reading them from a query string, writing them back.

The pages' filters are a plain GET form, so the address of a filtered page can be shared
in the room and the meeting pack carries the same filters. The names are the HTTP API's
(``from``, ``to``, ``agency``, ``concern``, ``significance``, ``statement``), so a URL
means the same on both. A bad value is refused with the field named and the reason, never
the value itself (it may be personal data), and never silently dropped: a filter the
room thinks is on but is not would mislead it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from urllib.parse import urlencode

from graph.chronology import ChronologyFilters
from ingest.schema import Concern, Significance, StatementKind

FILTER_FIELDS = ("from", "to", "agency", "concern", "significance", "statement")
MAX_VALUES = 50
_AGENCY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_CHOICES: dict[str, frozenset[str]] = {
    "concern": frozenset(c.value for c in Concern),
    "significance": frozenset(s.value for s in Significance),
    "statement": frozenset(s.value for s in StatementKind),
}


class FilterError(ValueError):
    """A filter value that cannot be used: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(field, reason)
        self.field = field
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def _one_date(values: list[str], name: str) -> date | None:
    values = [v for v in values if v.strip()]
    if not values:
        return None
    if len(values) > 1:
        raise FilterError(name, "give one date only")
    try:
        return date.fromisoformat(values[0].strip())
    except ValueError:
        raise FilterError(name, "is not a date: use YYYY-MM-DD, e.g. 2026-11-04") from None


def parse_filters(items: Iterable[tuple[str, str]]) -> ChronologyFilters:
    """Filters from query-string pairs; other keys are left to the page.

    >>> parse_filters([("from", "2026-05-01"), ("statement", "hearsay")]).statements
    frozenset({'hearsay'})
    >>> parse_filters([("concern", "nonsense")])
    Traceback (most recent call last):
    ...
    viz.forms.FilterError: concern: is not one of the choices offered
    """
    got: dict[str, list[str]] = {k: [] for k in FILTER_FIELDS}
    for key, value in items:
        if key in got:
            got[key].append(value)
    for key in ("agency", "concern", "significance", "statement"):
        values = [v.strip() for v in got[key] if v.strip()]
        if len(values) > MAX_VALUES:
            raise FilterError(key, f"at most {MAX_VALUES} choices")
        for v in values:
            ok = _AGENCY.match(v) if key == "agency" else v in _CHOICES[key]
            if not ok:
                raise FilterError(
                    key, "is not an agency id" if key == "agency" else "is not one of the choices offered"
                )
        got[key] = values
    date_from = _one_date(got["from"], "from")
    date_to = _one_date(got["to"], "to")
    if date_from and date_to and date_from > date_to:
        raise FilterError("from", "is after 'to'")
    return ChronologyFilters(
        date_from=date_from,
        date_to=date_to,
        agencies=frozenset(got["agency"]),
        concerns=frozenset(got["concern"]),
        significance=frozenset(got["significance"]),
        statements=frozenset(got["statement"]),
    )


def filter_pairs(f: ChronologyFilters) -> list[tuple[str, str]]:
    """The query-string pairs that give ``f`` back, in a stable order."""
    out: list[tuple[str, str]] = []
    if f.date_from:
        out.append(("from", f.date_from.isoformat()))
    if f.date_to:
        out.append(("to", f.date_to.isoformat()))
    for key, values in (
        ("agency", f.agencies),
        ("concern", f.concerns),
        ("significance", f.significance),
        ("statement", f.statements),
    ):
        out.extend((key, v) for v in sorted(values))
    return out


def query_string(f: ChronologyFilters) -> str:
    """``?from=...&agency=...`` for links that keep the filters, or empty.

    >>> query_string(ChronologyFilters(agencies=frozenset({"northshire-police"})))
    '?agency=northshire-police'
    """
    pairs = filter_pairs(f)
    return "?" + urlencode(pairs) if pairs else ""


def is_filtered(f: ChronologyFilters) -> bool:
    return bool(filter_pairs(f))


def audit_filters(f: ChronologyFilters) -> dict[str, object]:
    """The filters as the audit keeps them (ids and codes only)."""
    out: dict[str, object] = {}
    for key, value in filter_pairs(f):
        if key in ("from", "to"):
            out[key] = value
        else:
            cur = out.setdefault(key, [])
            assert isinstance(cur, list)
            cur.append(value)
    return out
