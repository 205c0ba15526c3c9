"""Routes for pilots: the list, and one pilot's report (analyst and admin keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from cvm.api import errors
from cvm.api.deps import EngineDep, Reader
from cvm.api.errors import KEYED
from cvm.experiments.service import UnknownPilotError

router = APIRouter(tags=["pilots"])


class PilotSummary(BaseModel):
    name: str
    kind: str
    status: str
    plan: str | None
    step: str | None
    primary: str | None
    description: str
    arms: dict[str, int]
    recommendation: str | None
    simulated: bool


class PilotList(BaseModel):
    data: list[PilotSummary]
    count: int


class PilotReport(BaseModel):
    """A pilot's report; the fields are described in ``cvm.experiments.report``."""

    name: str
    status: str
    primary: str
    simulated: bool
    notes: list[str]
    arms: list[dict[str, Any]]
    srm: dict[str, Any]
    outcomes: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    value: list[dict[str, Any]]
    recommendation: dict[str, Any]
    model_config = {"extra": "allow"}


@router.get("/pilots", response_model=PilotList, responses=errors.responses(*KEYED))
def list_pilots(engine: EngineDep, _: Reader) -> dict[str, Any]:
    pilots = engine.pilots.pilots()
    return {"data": pilots, "count": len(pilots)}


@router.get(
    "/pilots/{name}", response_model=PilotReport, responses=errors.responses(*KEYED, 404, 422, e404="Unknown pilot.")
)
def pilot_report(name: str, engine: EngineDep, _: Reader) -> dict[str, Any]:
    try:
        return engine.pilots.pilot_report(name)
    except UnknownPilotError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
