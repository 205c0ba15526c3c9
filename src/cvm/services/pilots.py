"""Pilots: the configured and finished pilots, their reports, a new pilot, the demo's pilot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvm.experiments import service
from cvm.services.workspace import Audit, Workspace, audited


def _created(_pilot: dict[str, Any], call: Mapping[str, Any]) -> Audit:
    return Audit("pilot.create", call["name"], None, {"plan": call["pilot"].get("plan")})


def _demo(report: dict[str, Any], _call: Mapping[str, Any]) -> Audit:
    return Audit("pilot.demo", report["name"], sum(a["assigned"] for a in report["arms"]))


class PilotService:
    """List, report on and create pilots (holdout experiments of a plan)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def pilots(self) -> list[dict[str, Any]]:
        """Configured pilots with their arm sizes, then finished ones with their verdict."""
        return service.list_pilots(self.ws.root, self.ws.online, self.ws.settings)

    def pilot_report(self, name: str) -> dict[str, Any]:
        """A pilot's report: arms, SRM, lifts per outcome and segment, incremental value, recommendation."""
        return service.report(self.ws.root, self.ws.offline, self.ws.online, self.ws.settings, name)

    @audited(_created)
    def create_pilot(self, name: str, pilot: dict[str, Any], actor: str | None = None) -> dict[str, Any]:
        """Add a pilot to ``cvm.yaml`` (validated, comments kept) and use it from now on."""
        self.ws.settings = service.create_pilot(self.ws.root, name, pilot)
        created: dict[str, Any] = self.ws.settings.experiments.pilots[name].model_dump(mode="json")
        return created

    @audited(_demo)
    def demo_pilot(self, truth: Path, actor: str | None = None) -> dict[str, Any]:
        """The demo's retrospective win-back pilot, its effect simulated from ``truth`` (ground truth)."""
        return service.run_demo_pilot(self.ws.root, self.ws.offline, self.ws.online, self.ws.settings, Path(truth))

    def demo_replay(self, data: Path, months: int) -> dict[str, Any]:
        """SIMULATED months of decisions with exploration over the demo data (issue 18): the log for learning."""
        from cvm.services.demo_replay import replay_demo

        return replay_demo(self.ws.offline, self.ws.settings, Path(data), months).summary()
