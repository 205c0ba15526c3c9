"""The uplift loop of ``cvm run`` and ``cvm train --uplift``, composed from three stages.

1. :mod:`cvm.experiments.decision_outcomes`: read the exported decision log; append the outcomes of the
   decisions whose horizon has elapsed to ``decision_outcomes``;
2. :mod:`cvm.scoring.uplift`: train, gate and register an uplift model when the randomised decisions allow;
3. the same module scores the champion on the attribute base of :mod:`cvm.segments` (what plans read), so
   the ``uplift_<action>`` scores reach ``decide`` as attributes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from cvm.experiments.decision_outcomes import refresh_outcomes
from cvm.scoring.uplift import run_uplift
from cvm.segments.refresh import segment_base
from cvm.services.features import features_for_segments
from cvm.services.workspace import Workspace
from cvm.store import decision_log

MAX_PROBLEMS = 5


def attribute_frame(ws: Workspace, as_of: date) -> pd.DataFrame:
    """Every customer's attribute base as of ``as_of`` (the columns plans read), as pandas."""
    features_for_segments(ws, as_of)
    con = ws.offline.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        segment_base(con, ws.settings.segments, as_of)
        frame: pd.DataFrame = con.sql("SELECT * FROM segmented").df()
    finally:
        con.close()
    return frame


def uplift_loop(ws: Workspace, now: datetime) -> dict[str, Any]:
    """Log → outcomes → train if enough → gate → score; the report of :func:`cvm.scoring.uplift.run_uplift`."""
    s = ws.settings
    problems: list[str] = []
    records = decision_log.records(ws.offline, problems)
    outcomes = refresh_outcomes(ws.offline, records, s.plans.uplift.horizon_days, s.scoring.margin_rate, now)
    report = run_uplift(ws.offline, ws.root, s, now, records, lambda day: attribute_frame(ws, day))
    report["outcomes"] = outcomes
    report["notes"] = problems[:MAX_PROBLEMS] + report["notes"]
    return report
