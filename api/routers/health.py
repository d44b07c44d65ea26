"""Liveness and readiness, for a load balancer or orchestrator. No token needed; they say
nothing about what the store holds."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StoreDep
from api.limits import JsonRoute
from api.problems import ApiProblem
from api.schemas import Status
from graph.errors import JigsawError

router = APIRouter(tags=["health"], route_class=JsonRoute)


@router.get("/health", response_model=Status, summary="The process is up")
def health() -> Status:
    return Status(status="ok")


@router.get(
    "/ready",
    response_model=Status,
    responses={503: {"description": "The store cannot be read"}},
    summary="The store is open and answering",
)
def ready(store: StoreDep) -> Status:
    try:
        store.fragment_count()
    except JigsawError:
        raise ApiProblem(503, "the store is not answering", headers={"Retry-After": "5"}, kind="not-ready") from None
    return Status(status="ready")
