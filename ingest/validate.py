"""Validate one fragment as an agency sent it and turn it into its canonical form.

``check_fragment`` runs pydantic's structural checks, then the checks that need the
whole fragment, and fills in the normalised forms. It either returns the canonical JSON
document that the journal stores, or the list of every problem found, each naming the
field (``people[1].dob``) and the reason. Errors never quote the submitted value: the
value may be personal data, and error messages end up in logs and rejects files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from ingest.normalise import (
    DateParseError,
    clean_identifier,
    nhs_number_is_valid,
    normalise_postcode,
    resolve_when,
    split_name,
    upn_is_valid,
)
from ingest.schema import (
    Fragment,
    LawfulBasis,
    StatementKind,
    When,
)

CLOCK_SKEW = timedelta(minutes=10)
OLDEST_DOB_YEARS = 120


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: where (a dotted path) and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


def field_path(parts: tuple[int | str, ...]) -> str:
    """A pydantic location as a field path: ``("people", 1, "dob")`` -> ``people[1].dob``."""
    return _loc(parts)


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + p
    return out or "(fragment)"


def pydantic_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors as FieldErrors, without the submitted values."""
    return error_list(exc.errors(include_input=False, include_url=False))


def error_list(errors: Any, *, drop: int = 0, extra: str | None = None) -> list[FieldError]:
    """Pydantic-style error dicts as FieldErrors (``drop`` leading location parts, e.g.
    FastAPI's "body"). Only the location, the type and pydantic's own message are used:
    never the submitted input."""
    out = []
    for e in errors:
        loc = tuple(p for p in tuple(e["loc"])[drop:] if p not in ("function-after", "function-before"))
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = extra or "not a field of a fragment (check the spelling against `jigsaw schema`)"
        elif e.get("type") == "missing":
            msg = "required and missing"
        out.append(FieldError(_loc(loc), msg))
    return out


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def check_fragment(raw: Any, *, now: datetime | None = None) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """Validate ``raw`` (parsed JSON) and return ``(canonical, [])`` or ``(None, errors)``.

    ``now`` is the time of receipt, used to reject dates in the future.
    """
    if not isinstance(raw, dict):
        return None, [FieldError("(fragment)", "a fragment must be a JSON object")]
    try:
        frag = Fragment.model_validate(raw)
    except ValidationError as exc:
        return None, pydantic_errors(exc)
    return canonical(frag, now=now)


def canonical(frag: Fragment, *, now: datetime | None = None) -> tuple[dict[str, Any] | None, list[FieldError]]:
    """The canonical document of a fragment pydantic has already validated (the HTTP API
    receives it so), or the problems only the whole fragment shows."""
    doc = frag.model_dump(mode="json", exclude_none=True)
    errors = normalise(frag, doc, now=now or datetime.now(UTC))
    if errors:
        return None, errors
    return doc, []


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def normalise(frag: Fragment, doc: dict[str, Any], *, now: datetime) -> list[FieldError]:
    """Check what needs the whole fragment; write the normalised forms into ``doc``.

    Reads the validated model ``frag`` and writes only the plain ``doc`` (its JSON
    dump): setting attributes on pydantic models is several times slower, and this runs
    once per fragment on the bulk import path.
    """
    errs: list[FieldError] = []
    now = _aware(now)
    stamps: list[datetime] = []
    for name in ("recorded_at", "shared_at"):
        try:
            stamps.append(_aware(getattr(frag, name)))
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before the first instant UTC can hold
            errs.append(FieldError(name, "is out of range: give a time between the years 1 and 9999 in UTC"))
    if errs:
        return errs
    recorded_at, shared_at = stamps
    doc["recorded_at"], doc["shared_at"] = _iso(recorded_at), _iso(shared_at)
    if recorded_at > now + CLOCK_SKEW:
        errs.append(FieldError("recorded_at", "is in the future"))
    if shared_at > now + CLOCK_SKEW:
        errs.append(FieldError("shared_at", "is in the future"))
    if recorded_at - shared_at > CLOCK_SKEW:
        errs.append(FieldError("shared_at", "is before recorded_at: a record cannot be shared before it is made"))
    recorded_day = recorded_at.date()

    if frag.event is None and not (frag.supersedes and frag.supersedes.retract):
        errs.append(FieldError("event", "required and missing (only a retraction may leave it out)"))

    refs: set[str] = set()
    child_dobs: list[tuple[int, date]] = []
    for i, (m, md) in enumerate(zip(frag.people, doc.get("people", ()), strict=True)):
        here = f"people[{i}]"
        if m.ref in refs:
            errs.append(FieldError(f"{here}.ref", "is used by another person in this fragment"))
        refs.add(m.ref)
        if m.name is None and not m.description:
            errs.append(FieldError(f"{here}.name", "give a name or a description of who this is"))
        md.pop("norm", None)  # filled in here, never taken from the sender
        if m.name is not None:
            parts = split_name(m.name.full, m.name.given, m.name.family)
            if not parts.given and not parts.family:
                errs.append(FieldError(f"{here}.name", "has no letters in it"))
            norm: dict[str, Any] = {"given": list(parts.given)}
            if parts.family is not None:
                norm["family"] = parts.family
            if parts.title is not None:
                norm["title"] = parts.title
            previous = sorted(
                {
                    fam
                    for pn in m.previous_names or ()
                    if (fam := split_name(pn.full, pn.given, pn.family).family) and fam != parts.family
                }
            )
            if previous:
                norm["previous_family"] = previous
            md["norm"] = norm
        if m.dob is not None:
            if m.dob > recorded_day:
                errs.append(FieldError(f"{here}.dob", "is after the date the record was made"))
            elif m.dob.year < recorded_day.year - OLDEST_DOB_YEARS:
                errs.append(FieldError(f"{here}.dob", f"is more than {OLDEST_DOB_YEARS} years before the record"))
            elif m.role == "child":
                child_dobs.append((i, m.dob))
        for ident in md.get("identifiers", ()):
            value = ident["value"] = clean_identifier(ident["value"])
            scheme = ident["scheme"]
            if scheme == "nhs":
                ident["verified"] = nhs_number_is_valid(value)
            elif scheme == "upn":
                ident["verified"] = upn_is_valid(value)
            else:
                # An agency vouches only for its own person ids: one naming another
                # agency as issuer is kept but never matched on.
                issuer = ident.setdefault("issuer", frag.agency.id)
                ident["verified"] = issuer == frag.agency.id
        for addr in md.get("addresses", ()):
            if "postcode" in addr:
                addr["postcode"] = normalise_postcode(addr["postcode"]) or addr["postcode"].upper()

    for i, r in enumerate(frag.relationships):
        for side in ("subject", "object"):
            if getattr(r, side) not in refs:
                errs.append(FieldError(f"relationships[{i}].{side}", "names no person in this fragment's people"))
        if r.subject == r.object:
            errs.append(FieldError(f"relationships[{i}]", "relates a person to themselves"))

    ev = frag.event
    if ev is not None:
        evd = doc["event"]
        pc = evd.get("place", {}).get("address", {}).get("postcode")
        if pc:
            evd["place"]["address"]["postcode"] = normalise_postcode(pc) or pc.upper()
        errs.extend(_normalise_when(ev.when, evd["when"], recorded_day, child_dobs))

    st = frag.statement
    if st.kind == StatementKind.opinion and not st.whose:
        errs.append(FieldError("statement.whose", "an opinion must say whose opinion it is"))
    if st.kind == StatementKind.hearsay and not st.reported_by:
        errs.append(FieldError("statement.reported_by", "hearsay must say who reported it"))

    sh = frag.sharing
    if sh.lawful_basis == LawfulBasis.consent and sh.consent is None:
        errs.append(FieldError("sharing.consent", "the lawful basis is consent: say who gave it and its scope"))
    if sh.consent is not None and sh.consent.given_on is not None and sh.consent.given_on > recorded_day:
        errs.append(FieldError("sharing.consent.given_on", "is after the date the record was made"))
    if sh.special_category and sh.special_category_condition is None:
        errs.append(
            FieldError(
                "sharing.special_category_condition", "special-category data needs the condition it is shared under"
            )
        )
    if not sh.family_told and not sh.family_not_told_reason:
        errs.append(FieldError("sharing.family_not_told_reason", "the family was not told: record why"))

    mk = frag.markings
    if mk.audience == "named_agencies" and not mk.agencies:
        errs.append(FieldError("markings.agencies", "audience is named_agencies: name at least one agency"))
    if "share_with_conditions" in mk.handling and not mk.conditions:
        errs.append(FieldError("markings.conditions", "share_with_conditions: say what the conditions are"))
    return errs


def _normalise_when(
    w: When, wd: dict[str, Any], recorded_day: date, child_dobs: list[tuple[int, date]]
) -> list[FieldError]:
    """Fill in start, end, precision and relative for ``event.when`` (into ``wd``)."""
    errs: list[FieldError] = []
    start, end = w.start, w.end
    wd["relative"] = False  # set below only when worked out from words, never taken from the sender
    res = None
    if w.text is not None:
        # The words, when they can be read, decide; so validating a canonical fragment
        # again gives the same fragment. Words we cannot read need an explicit span.
        try:
            res = resolve_when(w.text, recorded_day)
        except DateParseError as exc:
            if start is None:
                return [FieldError("event.when", str(exc))]
        except (ValueError, OverflowError):  # worked out from a record made in the year 1 (or 9999)
            return [FieldError("event.when", "works out to a date before the year 1 or after the year 9999")]
    if res is not None:
        start, end = res.start, res.end
        precision = res.precision
        if w.approximate and precision in ("day", "exact"):
            precision = "approximate"
        wd["precision"], wd["relative"] = precision, res.relative
        if res.at and not w.at:
            wd["at"] = res.at
    elif start is not None:
        end = end or start
        if end < start:
            errs.append(FieldError("event.when.end", "is before event.when.start"))
        if w.approximate:
            wd["precision"] = "approximate"
        elif end != start:
            wd["precision"] = "range"
        else:
            wd["precision"] = "exact" if w.at else "day"
    else:
        return [FieldError("event.when", "give the date as text or as start (and end)")]
    assert start is not None and end is not None
    if start <= recorded_day < end and wd["precision"] in ("month", "year", "approximate"):
        end = recorded_day  # "November 2026", recorded on the 19th, happened by the 19th
    wd["start"], wd["end"] = start.isoformat(), end.isoformat()
    if start > recorded_day:
        errs.append(FieldError("event.when", "is after the date the record was made"))
    for i, dob in child_dobs:
        if end < dob:
            errs.append(FieldError("event.when", f"is before the date of birth of people[{i}]"))
    return errs
