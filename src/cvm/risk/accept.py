"""Accept or decline an applicant against the acceptance policy with the champion scorecard.

The applicant's features are those of :func:`cvm.features.build_features`; characteristics the
scorecard uses but the applicant lacks count as missing (the scorecard's missing bin). The
decision is ``accepted`` when there is no cut-off or the points reach it.

Imports from a sibling stage: :mod:`cvm.scoring.registry`, the one reader and writer of model
files: the champion scorecard is loaded from it, never from a path of its own.

Examples
--------
>>> d = accept({"late_share_365d": 0.0, "rating_score": 80.0}, workspace="ws")  # doctest: +SKIP
>>> d.accepted, d.band  # doctest: +SKIP
(True, '640-660')

Also :mod:`cvm.scoring.reasons`: an acceptance decision gives its reasons as sentences, as every
score does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvm.config import load_settings
from cvm.config.settings import RiskSettings
from cvm.errors import BadValueError
from cvm.risk.cutoffs import band_of
from cvm.scoring.reasons import sentence
from cvm.scoring.registry import ModelRegistry


@dataclass(frozen=True)
class Decision:
    """The outcome for one applicant."""

    accepted: bool
    score: float
    points: float
    band: str
    reasons: list[str]
    cutoff: float | None = None
    model_version: str = ""
    reasons_text: list[str] = field(default_factory=list)
    """The reasons as sentences with the applicant's values, in the current language (:mod:`cvm.scoring.reasons`)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Acceptor:
    """The champion scorecard and the acceptance policy of one workspace, loaded once."""

    def __init__(self, card: Any, risk: RiskSettings, model_version: str) -> None:
        self.card = card
        self.risk = risk
        self.model_version = model_version

    @classmethod
    def open(cls, workspace: Path | str) -> Acceptor:
        """Load the policy from ``cvm.yaml`` and the champion ``default`` scorecard."""
        champion = ModelRegistry(workspace).champion("default")
        if champion is None:
            raise BadValueError("no champion default scorecard: run `cvm train` first")
        return cls(champion.load(), load_settings(Path(workspace)).risk, champion.tag)

    def decide_many(self, applicants: pd.DataFrame) -> list[Decision]:
        """A decision per row of ``applicants``."""
        frame = applicants.copy()
        for column in self.card.schema_.columns:
            if column not in frame.columns:
                frame[column] = np.nan
        points = self.card.scores(frame)
        p_bad = self.card.scaling.probability_of_score(points)
        reasons = self.card.reasons(frame, top=3)
        cut = self.risk.acceptance.cutoff
        return [
            Decision(
                accepted=cut is None or bool(pt >= cut),
                score=float(p),
                points=float(pt),
                band=band_of(float(pt), self.risk.band_width),
                reasons=list(r),
                cutoff=cut,
                model_version=self.model_version,
                reasons_text=[sentence(code, {str(k): v for k, v in values.items()}) for code in r],
            )
            for pt, p, r, values in zip(points, p_bad, reasons, frame.to_dict("records"), strict=True)
        ]

    def decide(self, applicant: Mapping[str, Any]) -> Decision:
        """The decision for one applicant."""
        return self.decide_many(pd.DataFrame([dict(applicant)]))[0]


def accept(applicant_features: Mapping[str, Any], workspace: Path | str = ".") -> Decision:
    """Decide one applicant with the workspace's champion scorecard and acceptance cut-off."""
    return Acceptor.open(workspace).decide(applicant_features)
