"""What a scoring run reports (kept free of model imports, so the facade loads fast)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cvm.errors import ConflictError


class ScoringError(ConflictError, ValueError):
    """The models cannot score this data; the message says why."""


class NotEnoughDataError(ScoringError):
    """Too few customers (or no churn, no repeat buyers) to fit a model."""


@dataclass(frozen=True)
class ScoreReport:
    """What a scoring run did: rows written, models fitted, customers per grade."""

    as_of: date
    customers: int = 0
    rows: int = 0
    models: list[dict[str, Any]] = field(default_factory=list)
    grades: dict[str, int] = field(default_factory=dict)
    grading: str = ""
    totals: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    backend: str = "duckdb"  # the offline backend that ran the scoring (store.offline)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "customers": self.customers,
            "rows": self.rows,
            "models": self.models,
            "grades": self.grades,
            "grading": self.grading,
            "totals": self.totals,
            "notes": self.notes,
            "skipped": self.skipped,
            "backend": self.backend,
        }
