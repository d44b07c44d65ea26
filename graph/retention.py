"""Retention: how long a fragment is kept before it must be reviewed, and what erasure leaves.

Every fragment gets a retention class and a review date when it is accepted. The
defaults below follow the common shape of UK local-authority schedules for children's
safeguarding records (keep until the child is 25; records with no child whose date of
birth is known are reviewed after six years), and a deployment should replace them with
its own records-management schedule (``RetentionPolicy``). A review date is a prompt for
a person to decide, not an automatic deletion: ``jigsaw retention due`` lists what is due
and ``jigsaw erase`` removes a record when the decision is made (or a court orders it).

Erasure is the one exception to "fragments are immutable": the content is removed, a
tombstone keeps the fragment's id, agency, reference and dates so that the chronology's
history and the audit still make sense, and the erasure is itself audited. The body's
hash stays, so the same record re-sent later is recognised and not silently restored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from graph.registry import InvalidRecord

ERASURE_AUTHORITIES = ("retention_review", "court_order", "data_subject_request")


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


ERASED = "erased"  # the retention class of a tombstone: nothing left to review


@dataclass(frozen=True)
class RetentionPolicy:
    """Years to keep, by class. ``child_record``: from the youngest child's birth;
    ``other``: from the day the fragment was recorded."""

    child_record_years: int = 25
    other_years: int = 6

    def classify(self, doc: dict[str, Any]) -> tuple[str, str]:
        """(retention class, review date as YYYY-MM-DD) for a canonical fragment.

        >>> RetentionPolicy().classify({"recorded_at": "2026-05-14T09:00:00Z",
        ...     "people": [{"role": "child", "dob": "2019-03-14"}, {"role": "child", "dob": "2021-07-02"}]})
        ('child_record', '2046-07-02')
        >>> RetentionPolicy().classify({"recorded_at": "2026-05-14T09:00:00Z", "people": [{"role": "parent"}]})
        ('other', '2032-05-14')

        A tombstone (an erased fragment, kept or brought from another store) has
        nothing left to review:

        >>> RetentionPolicy().classify({"recorded_at": "2026-05-14T09:00:00Z", "people": [],
        ...     "erased": {"at": "2026-12-01T10:00:00Z", "authority": "court_order"}})
        ('erased', '')
        """
        if "erased" in doc:
            return ERASED, ""
        dobs = [m["dob"] for m in doc.get("people", ()) if m.get("role") == "child" and m.get("dob")]
        if dobs:
            youngest = date.fromisoformat(max(dobs)[:10])
            return "child_record", _add_years(youngest, self.child_record_years).isoformat()
        recorded = date.fromisoformat(doc["recorded_at"][:10])
        return "other", _add_years(recorded, self.other_years).isoformat()


def when_erased(doc: dict[str, Any]) -> str | None:
    """When a tombstone's record was erased; None for a fragment that is not one."""
    erased = doc.get("erased")
    return str(erased["at"]) if erased else None


def tombstone(doc: dict[str, Any], *, erased_at: str, authority: str) -> dict[str, Any]:
    """What is kept of an erased fragment: who shared it, its reference and dates, its
    markings (so access to the tombstone follows the original's), and why it went."""
    return {
        "schema_version": doc.get("schema_version", 1),
        "erased": {"at": erased_at, "authority": authority},
        "agency": doc["agency"],
        "author": {"role": "(erased)", "id": "(erased)"},
        "record_ref": doc["record_ref"],
        "recorded_at": doc["recorded_at"],
        "shared_at": doc["shared_at"],
        "people": [],
        "relationships": [],
        "statement": {"kind": "fact"},
        "significance": "low",
        "sharing": {"lawful_basis": doc.get("sharing", {}).get("lawful_basis", "public_task"), "family_told": True},
        "markings": doc.get("markings", {"audience": "case_team"}),
        **({"supersedes": doc["supersedes"]} if doc.get("supersedes") else {}),
    }


def check_erasure(authority: str, reason: str) -> None:
    """An erasure names its authority and says why in a short line (every backend)."""
    if authority not in ERASURE_AUTHORITIES:
        raise InvalidRecord(f"use one of: {', '.join(ERASURE_AUTHORITIES)}", field="authority")
    if not reason.strip() or len(reason) > 200:
        raise InvalidRecord("say why in a short line (at most 200 characters)", field="reason")


def tombstones(
    versions: Iterable[tuple[int, str, dict[str, Any]]], *, erased_at: str, authority: str
) -> list[tuple[int, str, dict[str, Any]]]:
    """(seq, fragment id, tombstone) for each version of a record (seq, id, document)
    that still has its content, in journal order: what an erasure writes. A version
    erased before is left as it is."""
    return [
        (seq, fid, tombstone(doc, erased_at=erased_at, authority=authority))
        for seq, fid, doc in sorted(versions, key=lambda v: v[0])
        if "erased" not in doc
    ]


def erasure_detail(erased: list[str], *, authority: str, reason: str) -> dict[str, Any]:
    """The ``fragment.erase`` audit entry's detail: ids, authority and reason, no content."""
    return {"fragments": erased, "authority": authority, "reason": reason}
