"""The pilot statistics of each rung of the holdout ladder (``cvm pilot report global|plan:<name>|explore``).

Each rung is a randomised comparison that the existing pilot report analyses unchanged
(:func:`cvm.experiments.report.build_report`: CUPED, sequential intervals, SRM, value):

- ``global``: the global holdout (arm ``holdout``, the control) against the customers a marketing
  step reached (arm ``contacted``), from the ``assignments`` table (experiment ``global``);
- ``plan:<name>``: a plan's holdout against its treated customers (experiment ``plan:<name>``);
- ``explore``: exploration against exploitation, from the online ``decision_log``: each customer
  counts in the rung of their first logged marketing decision (intent to treat), from its time.
  Control is ``exploit``, so the lift reads as what randomising costs or earns.

Outcomes are those of pilots (:func:`cvm.experiments.outcomes.pilot_outcomes`), over 90 days,
primary outcome margin.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
import sqlalchemy as sa

from cvm.config import Settings
from cvm.experiments import records
from cvm.experiments.outcomes import pilot_outcomes
from cvm.experiments.report import PilotSpec, build_report
from cvm.store import OfflineStore, OnlineStore
from cvm.store.tables import decision_log

EXPLORE = "explore"
GLOBAL = "global"
PLAN = "plan:"
WINDOW_DAYS = 90


def rung_names(settings: Settings) -> list[str]:
    """The rungs the configuration has: ``global``, ``plan:<name>`` per plan holdout, ``explore``."""
    exp = settings.experiments
    names = [GLOBAL] if exp.holdout_share > 0 else []
    names += [f"{PLAN}{p}" for p, share in sorted(exp.ladder.plan_holdout.items()) if share > 0]
    return names + ([EXPLORE] if exp.ladder.exploration > 0 else [])


def is_rung(name: str) -> bool:
    """Whether ``name`` names a rung rather than a pilot (pilot names cannot hold ``:`` nor be ``global``)."""
    return name in (GLOBAL, EXPLORE) or name.startswith(PLAN)


def spec(name: str, settings: Settings) -> PilotSpec:
    """The report's view of one rung."""
    exp = settings.experiments
    if name == EXPLORE:
        eps = exp.ladder.exploration
        return PilotSpec(name, {"exploit": 1 - eps, EXPLORE: eps}, "exploit", (), "margin", WINDOW_DAYS,
                         description="Exploration against the policy's own choice (decision log).")  # fmt: skip
    share = exp.holdout_share if name == GLOBAL else exp.ladder.plan_holdout.get(name.removeprefix(PLAN), 0.0)
    plan = None if name == GLOBAL else name.removeprefix(PLAN)
    what = "all marketing" if plan is None else f"plan {plan}"
    return PilotSpec(name, {"holdout": share, "contacted": 1 - share}, "holdout", ("holdout",), "margin",
                     WINDOW_DAYS, description=f"Holdout of {what} against the customers it reached.",
                     plan=plan)  # fmt: skip


def _explore_assignments(conn: sa.Connection) -> pl.DataFrame:
    c = decision_log.c
    query = (
        sa.select(c.customer_id, c.rung, c.decided_at)
        .where(c.rung.in_(("explore", "exploit")), c.exploration > 0)
        .order_by(c.customer_id, c.decided_at, c.id)
    )
    first: dict[str, tuple[str, datetime]] = {}
    for cid, rung, at in conn.execute(query):
        first.setdefault(cid, (rung, at if at.tzinfo else at.replace(tzinfo=UTC)))
    rows = [(EXPLORE, cid, rung, 0, at, None, None) for cid, (rung, at) in first.items()]
    return pl.DataFrame(rows, schema=records.COLUMNS, orient="row")


def rung_report(
    offline: OfflineStore, online: OnlineStore, settings: Settings, name: str, now: datetime | None = None
) -> dict[str, Any]:
    """The pilot report of one rung as of ``now``."""
    now = now or datetime.now(UTC)
    with online.begin() as conn:
        records.sync_from_profiles(conn)
        asg = _explore_assignments(conn) if name == EXPLORE else records.frame(conn, name)
    s = spec(name, settings)
    outcomes = pilot_outcomes(offline, asg, WINDOW_DAYS, now, None, settings.scoring.margin_rate)
    report = build_report(s, outcomes, {}, "running", now.isoformat())
    report["rung"] = True
    return report


def counts(online: OnlineStore, settings: Settings) -> list[dict[str, Any]]:
    """One row per configured rung for the pilot list: name and arm sizes."""
    out = []
    with online.begin() as conn:
        for name in rung_names(settings):
            asg = _explore_assignments(conn) if name == EXPLORE else records.frame(conn, name)
            s = spec(name, settings)
            arms = {a: int((asg["arm"] == a).sum()) for a in s.arms}
            out.append({"name": name, "kind": "live", "status": "running", "plan": s.plan, "step": None,
                        "primary": s.primary, "description": s.description, "arms": arms, "recommendation": None,
                        "simulated": False})  # fmt: skip
    return out


def variant_posteriors(
    offline: OfflineStore, online: OnlineStore, settings: Settings, now: datetime | None = None
) -> dict[str, tuple[float, float]]:
    """Beta posteriors ``"<pilot>:<arm>" -> (α, β)`` of the variants of every pilot with ``allocation: thompson``.

    The outcome is binary: the pilot's primary outcome when it is ``retention`` or ``conversion``,
    else conversion; over the pilot's window, for customers whose window has ended (mature). The
    posterior is Beta(1 + successes, 1 + failures) under the flat prior; the decision reads it as
    ``Learned.variant_posteriors`` (:mod:`cvm.contracts.learned`), plain data passed by the caller.
    """
    now = now or datetime.now(UTC)
    out: dict[str, tuple[float, float]] = {}
    pilots = {n: p for n, p in settings.experiments.pilots.items() if p.allocation == "thompson" and p.enabled}
    if not pilots:
        return out
    with online.begin() as conn:
        records.sync_from_profiles(conn)
        frames = {name: records.frame(conn, name) for name in pilots}
    for name, pilot in pilots.items():
        asg = frames[name]
        if not asg.height:
            continue
        column = pilot.primary if pilot.primary in ("retention", "conversion") else "conversion"
        rows = pilot_outcomes(offline, asg, pilot.outcome_days, now, pilot.product, settings.scoring.margin_rate)
        mature = rows.filter(pl.col("mature"))
        for arm, cfg in pilot.arms.items():
            if cfg.holdout:
                continue
            values = mature.filter(pl.col("arm") == arm)[column].fill_null(0)
            wins = int((values > 0).sum())
            out[f"{name}:{arm}"] = (1.0 + wins, 1.0 + values.len() - wins)
    return out
