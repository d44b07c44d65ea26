"""Dependencies every route uses: the store, the caller, and what the caller may do here."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, authenticate
from api.problems import ApiProblem
from api.settings import Settings
from graph.access import Purpose, Role
from graph.store import Store

bearer = HTTPBearer(
    auto_error=False,
    description="A token from `jigsaw tokens issue`, or an access token from your identity provider.",
)

UNAUTHORISED = {"WWW-Authenticate": 'Bearer realm="jigsaw"'}


# Cheap dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in the
# thread pool, a thread hop of its own for every request. Anything that touches the store
# stays plain ``def`` so that it never blocks the event loop.


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[Store, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def principal(
    request: Request,
    store: StoreDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    purpose_header: Annotated[
        Purpose | None,
        Header(
            alias="X-Jigsaw-Purpose",
            description="Why you are asking; checked against your role and share grants, and audited.",
        ),
    ] = None,
    purpose_query: Annotated[
        Purpose | None, Query(alias="purpose", description="The purpose, if you cannot send the header.")
    ] = None,
) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise ApiProblem(401, "send Authorization: Bearer <token>", headers=UNAUTHORISED, kind="unauthenticated")
    reader = authenticate(store, request.app.state.oidc, creds.credentials)
    if reader is None:
        raise ApiProblem(
            401, "the token is not valid, has expired or was revoked", headers=UNAUTHORISED, kind="unauthenticated"
        )
    purpose = purpose_header or purpose_query
    if purpose is None:
        raise ApiProblem(
            422,
            "declare why you are asking: the X-Jigsaw-Purpose header or ?purpose= "
            f"({', '.join(p.value for p in Purpose)})",
            field="X-Jigsaw-Purpose",
            kind="no-purpose",
        )
    return Principal(reader, purpose)


CASE_WORK = frozenset({Purpose.safeguarding, Purpose.meeting})
CONTENT = frozenset({Purpose.safeguarding, Purpose.meeting, Purpose.analysis})
PRACTITIONERS = frozenset(
    {
        Role.practitioner,
        Role.designated_safeguarding_lead,
        Role.social_worker,
        Role.mash_worker,
        Role.police_officer,
        Role.health_professional,
        Role.meeting_chair,
    }
)


def allow(
    purposes: frozenset[Purpose], roles: frozenset[Role] | None = None
) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency: the caller, if their declared purpose and their roles fit this route."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.purpose not in purposes:
            raise ApiProblem(
                403,
                f"this is not for the purpose {who.purpose.value}; declare one of: "
                f"{', '.join(sorted(p.value for p in purposes))}",
                field="X-Jigsaw-Purpose",
                kind="wrong-purpose",
            )
        if roles is not None and not (who.reader.roles & roles):
            raise ApiProblem(
                403,
                f"your roles do not include one this needs: {', '.join(sorted(r.value for r in roles))}",
                kind="forbidden",
            )
        return who

    return check


Reading = Annotated[Principal, Depends(allow(CONTENT))]
Writing = Annotated[Principal, Depends(allow(CASE_WORK, PRACTITIONERS))]
Sharing = Writing  # asking and deciding are case work, as adding records is
Auditing = Annotated[Principal, Depends(allow(frozenset({Purpose.audit}), frozenset({Role.data_protection_officer})))]
Administering = Annotated[
    Principal, Depends(allow(frozenset({Purpose.administration}), frozenset({Role.administrator})))
]


@dataclass(frozen=True)
class PageAsked:
    """Offset pagination parameters, the same on every list."""

    limit: int
    offset: int


async def page(
    limit: Annotated[int, Query(ge=1, le=500, description="How many items.")] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")] = 0,
) -> PageAsked:
    return PageAsked(limit, offset)


PageDep = Annotated[PageAsked, Depends(page)]
