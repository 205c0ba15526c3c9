"""Scoring: value and life-cycle scores, model training and the registry, monitoring, risk appetite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from cvm.errors import BadValueError
from cvm.features.persist import FeatureReport, write_features
from cvm.risk import apply_cutoff, scored_book, stored_early_warning
from cvm.scoring import ScoreReport
from cvm.scoring.lifecycle import TrainReport, compare, train
from cvm.scoring.monitor import MonitorReport, monitor
from cvm.scoring.registry import MODEL_NAMES, ModelRegistry, ModelVersion
from cvm.services.scoring_backend import write_early_warning_on, write_lifecycle_scores_on, write_value_scores_on
from cvm.services.workspace import Audit, Workspace, audited


def _scored(report: ScoreReport, call: Mapping[str, Any]) -> Audit:
    models = {m["role"]: m["version"] for m in report.models}
    return Audit("score.value", "scores", report.rows, {"as_of": str(call["as_of"]), "models": models})


def _features(report: FeatureReport, _call: Mapping[str, Any]) -> Audit:
    return Audit("features.build", "features", report.rows, {"as_of": str(report.as_of), "backend": report.backend})


def _trained(report: TrainReport, _call: Mapping[str, Any]) -> Audit:
    tags = [f"{m['name']}-{m['version']}" for m in report.models]
    return Audit("models.train", "models", len(tags), {"versions": tags, "notes": report.notes})


def _uplift(report: dict[str, Any], _call: Mapping[str, Any]) -> Audit:
    trained = (report.get("trained") or {}).get("version")
    detail = {"trained": trained, "model": report["scores"]["model"], "message": report["message"]}
    return Audit("models.uplift", "scores", report["scores"]["rows"], detail)


def _cutoff(path: Path, call: Mapping[str, Any]) -> Audit:
    return Audit("risk.cutoff", str(path), 1, {"cutoff": call["cutoff"]})


class ScoringService:
    """Score the base, train and promote the life-cycle models, watch them, set the risk appetite."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @property
    def backend(self) -> str:
        """The name of the offline backend that scores and trains (``store.offline``: duckdb or spark)."""
        return self.ws.backend.name

    def score(self, as_of: date | None = None, actor: str | None = None) -> ScoreReport:
        """Score every customer as of ``as_of`` (default today, UTC); re-scoring a date replaces it.

        Value scores always; life-cycle scores (churn, default, propensity) and early-warning flags
        when trained champions exist, else a note says they were skipped.
        """
        as_of = as_of or datetime.now(UTC).date()
        report = self._value(as_of, actor=actor)  # first: a backend that cannot value the base stops before any write
        write_features(self.ws.backend, as_of)  # the features table's partition of as_of (segments.columns read it)
        return replace(
            report, notes=[*report.notes, *self._lifecycle(as_of, actor=actor)], backend=self.ws.backend.name
        )

    @audited(_scored)
    def _value(self, as_of: date, *, actor: str | None = None) -> ScoreReport:
        settings = self.ws.settings
        return write_value_scores_on(self.ws.backend, settings, as_of, settings.plans.policy.channel_cost)

    def _lifecycle(self, as_of: date, *, actor: str | None = None) -> list[str]:
        """Life-cycle scores of the champions, then the early-warning flags; notes for the report."""
        with self.ws.unit(actor) as unit:
            info = write_lifecycle_scores_on(self.ws.backend, self.ws.root, self.ws.settings, as_of)
            if "skipped" in info:
                return [f"life-cycle scores skipped: {info['skipped']}"]
            has_default = "default" in info["models"]
            flagged = write_early_warning_on(self.ws.backend, self.ws.settings, as_of) if has_default else 0
            detail = {"as_of": str(as_of), "models": info["models"], "flagged": flagged}
            unit.record("score.lifecycle", "scores", info["rows"] + flagged, **detail)
        models = ", ".join(info["models"].values())
        note = f"life-cycle scores: {info['rows']:,} rows for {info['customers']:,} customers ({models})"
        return [f"{note}; early warning: {flagged:,} customers", *info["notes"]]

    @audited(_features)
    def build_features(self, as_of: date | None = None, actor: str | None = None) -> FeatureReport:
        """Store the features of every customer as of ``as_of`` (default today, UTC) in its partition."""
        return write_features(self.ws.backend, as_of or datetime.now(UTC).date())

    @audited(_trained)
    def train(self, as_of: date | None = None, actor: str | None = None) -> TrainReport:
        """Train churn, default and propensity models on the data before ``as_of`` and register them."""
        return train(self.ws.offline, self.ws.root, self.ws.settings, as_of, backend=self.ws.backend)

    @audited(_uplift)
    def uplift(self, now: datetime | None = None, actor: str | None = None) -> dict[str, Any]:
        """The uplift loop: outcomes of the logged decisions, a new uplift model when the data allow, its scores."""
        from cvm.services.uplift import uplift_loop

        return uplift_loop(self.ws, now or datetime.now(UTC))

    def _registry(self) -> ModelRegistry:
        return ModelRegistry(self.ws.root)

    def models(self) -> list[ModelVersion]:
        """Every registered version."""
        return self._registry().list()

    def model(self, name: str, version: str | None = None) -> ModelVersion:
        """One version of ``name``: ``version``, else the champion, else the latest."""
        registry = self._registry()
        versions = registry.versions(name)
        if not versions:
            raise BadValueError(f"no model {name!r}; models: {', '.join(registry.names()) or 'none'}")
        return registry.get(name, version) if version else (registry.champion(name) or versions[-1])

    def champions(self) -> list[str]:
        """Names of the life-cycle models that have a champion in this workspace's registry."""
        return sorted(n for n in self._registry().champions() if n in MODEL_NAMES)

    def promote(self, name: str, version: str, force: bool = False, actor: str | None = None) -> ModelVersion:
        """Make a challenger the champion after comparing both on the latest labelled window."""
        registry = self._registry()
        entry, current = registry.get(name, version), registry.champion(name)
        with self.ws.unit(actor) as unit:
            comparison = (
                compare(self.ws.offline, self.ws.settings, current, entry)
                if current and current != entry and name in MODEL_NAMES
                else None
            )
            promoted = registry.promote(name, version, force=force, comparison=comparison)
            unit.record("models.promote", promoted.tag, 1, force=force, comparison=comparison)
        return promoted

    def monitor(self, as_of: date | None = None) -> MonitorReport:
        """PSI and AUC checks of the champions (see :mod:`cvm.scoring.monitor`)."""
        return monitor(self.ws.backend, self.ws.root, self.ws.settings, as_of)

    @audited(_cutoff)
    def set_cutoff(self, cutoff: float | None, actor: str | None = None) -> Path:
        """Write the acceptance cut-off into cvm.yaml and reload the settings."""
        path = apply_cutoff(self.ws.root, cutoff)
        self.ws.reload()
        return path

    def book(self, as_of: date | None = None) -> tuple[date, pd.DataFrame]:
        """The scored book (scorecard points and probability of default per customer) for cut-off work."""
        return scored_book(self.ws.offline, as_of)

    def early_warning(self, as_of: date | None = None) -> tuple[date | None, pl.DataFrame]:
        """The stored early-warning flags as of ``as_of`` (default: the latest), worst first."""
        return stored_early_warning(self.ws.offline, as_of)

    def history(self, customer_id: str, score: str | None = None) -> list[dict[str, Any]]:
        """Every stored score of one customer (optionally one score), newest first."""
        scan = self.ws.offline.scan("scores").filter(pl.col("customer_id") == customer_id)
        if score is not None:
            scan = scan.filter(pl.col("score") == score)
        rows: list[dict[str, Any]] = scan.sort(["as_of", "score"], descending=[True, False]).collect().to_dicts()
        return rows
