"""What the routers share: a reader's view per request, and audited reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from fastapi import Request

from api.auth import Principal
from api.deps import PageAsked
from graph.chronology import ChronologyLine
from graph.store import Store
from graph.view import ReaderView

T = TypeVar("T")


def view_of(store: Store, who: Principal) -> ReaderView:
    """The caller's view for their declared purpose: entitlements read now."""
    return store.view(who.reader.id, who.purpose.value)


def audit(store: Store, view: ReaderView, action: str, detail: dict[str, Any]) -> None:
    """Write the read to the audit, durably, before the answer leaves."""
    store.audit_read(view, action, detail)


def chronology_audit(person_id: str, lines: list[ChronologyLine]) -> dict[str, object]:
    """What a chronology read puts in the audit: the person and fragment ids shown."""
    return {
        "people": [person_id],
        "fragments": sorted({src.fragment_id for ln in lines for src in ln.sources}),
        "held_back": sum(1 for ln in lines if ln.held_back),
    }


def fragment_problem_status(field: str | None) -> int:
    """A record reference reused for different content is a conflict; the rest is invalid."""
    return 409 if field == "record_ref" else 422


def next_url(request: Request, offset: int, limit: int, more: bool) -> str | None:
    if not more:
        return None
    return str(request.url.include_query_params(offset=offset + limit, limit=limit))


def paged(request: Request, found: Sequence[T], page: PageAsked) -> dict[str, Any]:
    """One page of a list the route has whole: items, total, and the next page's URL."""
    end = page.offset + page.limit
    return {
        "items": list(found[page.offset : end]),
        "total": len(found),
        "limit": page.limit,
        "offset": page.offset,
        "next": next_url(request, page.offset, page.limit, len(found) > end),
    }
