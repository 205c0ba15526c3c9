"""The engine's services: one per domain, each built on one :class:`Workspace`.

The adapters (``cvm.api``, ``cvm.cli``, ``cvm.web``) reach the stages only through these, by way of
:class:`cvm.engine.Engine` (``engine.scoring.score(...)``); ``tests/unit/test_layering.py`` holds them to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.lazy import lazy_attribute

if TYPE_CHECKING:
    from cvm.services.access import AccessService
    from cvm.services.customers import CustomerService
    from cvm.services.delivery import DeliveryService
    from cvm.services.ingest import IngestService, Source
    from cvm.services.pilots import PilotService
    from cvm.services.plans import PlansService
    from cvm.services.policy import PolicyService
    from cvm.services.reports import ReportService
    from cvm.services.scoring import ScoringService
    from cvm.services.workspace import Audit, Unit, Workspace, audited, default_actor

_MODULES = {
    "AccessService": ".access",
    "Audit": ".workspace",
    "CustomerService": ".customers",
    "DeliveryService": ".delivery",
    "IngestService": ".ingest",
    "PilotService": ".pilots",
    "PlansService": ".plans",
    "PolicyService": ".policy",
    "ReportService": ".reports",
    "ScoringService": ".scoring",
    "Source": ".ingest",
    "Unit": ".workspace",
    "Workspace": ".workspace",
    "audited": ".workspace",
    "default_actor": ".workspace",
}


def __getattr__(name: str) -> Any:
    """Each service is imported when first asked for, so that importing one does not load them all."""
    return lazy_attribute(__name__, _MODULES, name)


__all__ = [
    "AccessService",
    "Audit",
    "CustomerService",
    "DeliveryService",
    "IngestService",
    "PilotService",
    "PlansService",
    "PolicyService",
    "ReportService",
    "ScoringService",
    "Source",
    "Unit",
    "Workspace",
    "audited",
    "default_actor",
]
