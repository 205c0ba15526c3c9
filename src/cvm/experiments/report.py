"""The report of one pilot: arm sizes, SRM, lifts per outcome and segment, incremental value, a recommendation.

Every treatment arm is compared with the control arm, on the customers whose outcome window
has ended (``mature``). For each outcome (:mod:`cvm.experiments.outcomes`):

- Welch's test on the relative lift and the difference (:func:`cvm.experiments.stats.welch_lift`);
- the same after CUPED with the pre-period value of the outcome (:mod:`cvm.experiments.cuped`;
  a missing covariate, e.g. no survey before, takes the pooled mean, which keeps the customer
  and cannot bias the comparison);
- the always-valid interval of the difference (:mod:`cvm.experiments.sequential`), valid however
  often the pilot was looked at;
- the chance to win (:mod:`cvm.experiments.bayes`: Beta–Binomial for retention and conversion,
  normal otherwise).

**Segments**: the primary outcome per value of each ``segment_by`` column, with p-values
adjusted over all the segment tests of an arm by Holm (family-wise) or Benjamini–Hochberg (FDR).

**Incremental value** of an arm: the CUPED-adjusted difference per customer × the arm's mature
customers, for revenue and margin, with its interval; **net** = incremental margin − the cost of
the arm's actions (Σ of the action costs; the interval carries the margin's uncertainty only).

**Recommendation** (primary outcome, CUPED-adjusted): *stop* on a sample-ratio mismatch, when an
arm significantly hurts, or when even the upper end of its net value is negative; *roll out* the
best arm whose lift is significantly positive and whose net value is not negative; otherwise
*keep testing*, with the customers per arm needed to detect the observed difference at 80% power.
Whatever the verdict, it names every **significant harm on a secondary outcome** of the arm it is
about (of every treated arm when it is about none): an outcome other than the primary whose
difference is significantly negative at α (its interval entirely below zero, unadjusted, so that a
borderline harm such as NPS −6.4%, p = 0.049, is never silent); they are listed under ``harms``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from cvm.experiments.bayes import bayes_chance_to_win, beta_chance_to_win
from cvm.experiments.cuped import cuped
from cvm.experiments.outcomes import OUTCOMES
from cvm.experiments.sequential import sequential_ci
from cvm.experiments.srm import srm_check
from cvm.experiments.stats import adjust, sample_size, welch_lift
from cvm.experiments.verdicts import english

BINARY = ("retention", "conversion")
MIN_PER_ARM = 20


@dataclass(frozen=True)
class PilotSpec:
    """What the report needs to know about the pilot besides its outcomes."""

    name: str
    arms: Mapping[str, float]
    control: str
    holdout: Sequence[str] = ()
    primary: str = "revenue"
    window_days: int = 90
    alpha: float = 0.05
    correction: str = "holm"
    segment_by: Sequence[str] = ("kind",)
    description: str = ""
    plan: str | None = None
    step: str | None = None
    simulated: bool = False
    notes: Sequence[str] = field(default_factory=tuple)


def _finite(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x[np.isfinite(x)]
    return out


def _compare(frame: pl.DataFrame, outcome: str, control: str, arm: str, alpha: float) -> dict[str, Any] | None:
    """One outcome, one arm against the control: raw and CUPED tests, sequential interval, chance to win."""
    sub = frame.filter(pl.col("arm").is_in([control, arm]) & pl.col(outcome).is_not_null())
    y = sub[outcome].cast(pl.Float64).to_numpy()
    is_b = (sub["arm"] == arm).to_numpy()
    ya, yb = _finite(y[~is_b]), _finite(y[is_b])
    if ya.size < 2 or yb.size < 2:
        return None
    raw = welch_lift(ya.mean(), ya.var(ddof=1), ya.size, yb.mean(), yb.var(ddof=1), yb.size, alpha)
    x = sub[f"pre_{outcome}"].cast(pl.Float64).to_numpy()
    ok_x = np.isfinite(x)
    row: dict[str, Any] = {
        "outcome": outcome, "arm": arm, "control": control, "n_control": int(ya.size), "n_arm": int(yb.size),
        "control_mean": float(ya.mean()), "arm_mean": float(yb.mean()), **raw.to_dict(), "cuped": None,
    }  # fmt: skip
    adj = raw
    if ok_x.any() and np.nanvar(x) > 0:
        x = np.where(ok_x, x, x[ok_x].mean())
        c = cuped(y, x, np.where(is_b, "b", "a"), control="a")
        a, b = c.arms["a"], c.arms["b"]
        adj = welch_lift(a.mean, a.var, a.n, b.mean, b.var, b.n, alpha)
        row["cuped"] = {**adj.to_dict(), "theta": c.theta, "variance_reduction": c.variance_reduction}
    seq = sequential_ci(adj.diff, adj.se_diff**2, ya.size + yb.size, alpha)
    row["sequential"] = {"ci_low": seq.ci_low, "ci_high": seq.ci_high, "p_value": seq.p_value}
    if outcome in BINARY:
        win = beta_chance_to_win(int(ya.sum()), int(ya.size), int(yb.sum()), int(yb.size), alpha=alpha)
    else:
        win = bayes_chance_to_win(ya.mean(), ya.var(ddof=1), ya.size, yb.mean(), yb.var(ddof=1), yb.size, alpha)
    row["chance_to_win"] = win.chance_to_win
    return row


def _best(row: Mapping[str, Any]) -> Mapping[str, Any]:
    """The CUPED-adjusted result when there is one, else the raw one."""
    return row["cuped"] or row


def _segments(frame: pl.DataFrame, spec: PilotSpec, arm: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for col in spec.segment_by:
        if col not in frame.columns:
            continue
        for value in sorted(v for v in frame[col].unique().to_list() if v is not None):
            part = frame.filter(pl.col(col) == value)
            r = _compare(part, spec.primary, spec.control, arm, spec.alpha)
            if r is not None:
                keep = ("n_control", "n_arm", "control_mean", "arm_mean", "lift", "ci_low", "ci_high", "diff",
                        "diff_ci_low", "diff_ci_high", "diff_p_value")  # fmt: skip
                rows.append({"segment_by": col, "segment": value, "arm": arm, **{k: r[k] for k in keep}})
    adjusted = adjust([r["diff_p_value"] if r["diff_p_value"] is not None else math.nan for r in rows],
                      spec.correction)  # fmt: skip
    for r, p in zip(rows, adjusted, strict=True):
        r["p_adjusted"] = None if math.isnan(p) else p
        r["significant"] = bool(r["p_adjusted"] is not None and r["p_adjusted"] < spec.alpha)
    return rows


def _value(rows: Sequence[Mapping[str, Any]], arm: str, n_arm: int, cost: float) -> dict[str, Any]:
    by = {r["outcome"]: _best(r) for r in rows if r["arm"] == arm}
    out: dict[str, Any] = {"arm": arm, "customers": n_arm, "cost": round(cost, 2)}
    for outcome in ("revenue", "margin"):
        r = by.get(outcome)
        if r is None:
            out |= {f"incremental_{outcome}": None, f"{outcome}_ci_low": None, f"{outcome}_ci_high": None}
            continue
        out |= {
            f"incremental_{outcome}": r["diff"] * n_arm,
            f"{outcome}_ci_low": r["diff_ci_low"] * n_arm,
            f"{outcome}_ci_high": r["diff_ci_high"] * n_arm,
        }
    margin = out["incremental_margin"]
    out["net"] = None if margin is None else margin - cost
    out["net_ci_low"] = None if margin is None else out["margin_ci_low"] - cost
    out["net_ci_high"] = None if margin is None else out["margin_ci_high"] - cost
    return out


def _num(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return math.nan if value is None else float(value)


def _verdict(decision: str, arm: str | None, code: str, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A verdict as data (``code``, ``values``); its English ``reason`` is said once the harms are known."""
    return {"decision": decision, "arm": arm, "code": code, "values": dict(values or {})}


def _interval(b: Mapping[str, Any]) -> dict[str, Any]:
    return {k: b.get(k) for k in ("lift", "ci_low", "ci_high", "p_value")}


def _keep_testing(rows: Sequence[Mapping[str, Any]], spec: PilotSpec) -> dict[str, Any]:
    """No verdict yet: how many customers per arm would detect the observed difference at 80% power."""
    r = max(rows, key=lambda r: abs(_num(_best(r), "diff")))
    b = _best(r)
    var = _num(b, "se_diff") ** 2 / (1 / r["n_control"] + 1 / r["n_arm"])
    need = sample_size(var, var, _num(b, "diff"), spec.alpha)
    values = {"outcome": spec.primary, **_interval(b)}
    if math.isfinite(need):
        return _verdict("keep testing", None, "no_difference_yet", {**values, "need": math.ceil(need)})
    return _verdict("keep testing", None, "no_difference_tiny", values)


def harms(report: Mapping[str, Any], spec: PilotSpec, arm: str | None) -> list[dict[str, Any]]:
    """The secondary outcomes an arm (or any treated arm) significantly lowers, worst lift first."""
    found = []
    for r in report["outcomes"]:
        b = _best(r)
        if r["outcome"] != spec.primary and (arm is None or r["arm"] == arm) and _num(b, "diff_ci_high") < 0:
            found.append({"arm": r["arm"], "outcome": r["outcome"], "lift": b["lift"], "ci_low": b["ci_low"],
                          "ci_high": b["ci_high"], "p_value": b["diff_p_value"], "diff": b["diff"]})  # fmt: skip
    return sorted(found, key=lambda h: _num(h, "lift"))


def recommend(report: Mapping[str, Any], spec: PilotSpec) -> dict[str, Any]:
    """``roll out``, ``stop`` or ``keep testing``, for which arm, why, and its secondary ``harms`` (see above).

    ``code`` and ``values`` say why as data; ``reason`` says it in English (:mod:`cvm.experiments.verdicts`).
    """
    verdict = _decide(report, spec)
    verdict["harms"] = harms(report, spec, verdict["arm"])
    verdict["reason"] = english(verdict)
    return verdict


def _decide(report: Mapping[str, Any], spec: PilotSpec) -> dict[str, Any]:
    """The verdict on the primary outcome alone."""
    srm = report["srm"]
    if srm["mismatch"]:
        return _verdict("stop", None, "srm_mismatch", {"p_value": srm["p_value"]})
    rows = [r for r in report["outcomes"] if r["outcome"] == spec.primary]
    mature = {a["arm"]: a["mature"] for a in report["arms"]}
    if not rows or any(n < MIN_PER_ARM for n in mature.values()):
        return _verdict("keep testing", None, "too_few_mature", {"window_days": spec.window_days, "mature": mature})
    values = {v["arm"]: v for v in report["value"]}
    for r in rows:
        if _num(_best(r), "diff_ci_high") < 0:
            said = {"arm": r["arm"], "outcome": spec.primary, **_interval(_best(r))}
            return _verdict("stop", r["arm"], "primary_harm", said)
    winners = sorted((r for r in rows if _num(_best(r), "diff_ci_low") > 0), key=lambda r: -_num(_best(r), "diff"))
    for r in winners:
        net = values.get(r["arm"], {}).get("net")
        if net is None or net >= 0:
            said = {"arm": r["arm"], "outcome": spec.primary, **_interval(_best(r))}
            if net is None:
                return _verdict("roll out", r["arm"], "primary_gain", said)
            cost = values.get(r["arm"], {}).get("cost", 0.0)
            return _verdict("roll out", r["arm"], "primary_gain_net", {**said, "net": net, "cost": cost})
    if values and all(_num(v, "net_ci_high") < 0 for v in values.values()):
        return _verdict("stop", None, "costs_not_covered")
    return _keep_testing(rows, spec)


def build_report(
    spec: PilotSpec,
    outcomes: pl.DataFrame,
    costs: Mapping[str, float] | None = None,
    status: str = "running",
    as_of: str | None = None,
) -> dict[str, Any]:
    """The whole report of a pilot as a JSON-friendly dict (see the module docstring).

    Parameters
    ----------
    spec
        The pilot: arms and shares, control, primary outcome, window, α, adjustment, segments.
    outcomes
        One row per assigned customer (:func:`cvm.experiments.outcomes.pilot_outcomes`).
    costs
        Arm → total cost of the actions sent to its customers.
    """
    costs = costs or {}
    mature = outcomes.filter(pl.col("mature")) if "mature" in outcomes.columns else outcomes
    names = list(spec.arms)
    counts = {a: int((outcomes["arm"] == a).sum()) for a in names}
    done = {a: int((mature["arm"] == a).sum()) for a in names}
    srm = srm_check([counts[a] for a in names], [spec.arms[a] for a in names])
    treated = [a for a in names if a != spec.control]
    rows = [r for a in treated for o in OUTCOMES if (r := _compare(mature, o, spec.control, a, spec.alpha))]
    report: dict[str, Any] = {
        "name": spec.name, "description": spec.description, "plan": spec.plan, "step": spec.step, "status": status,
        "as_of": as_of, "simulated": spec.simulated, "notes": list(spec.notes), "primary": spec.primary,
        "window_days": spec.window_days, "alpha": spec.alpha, "correction": spec.correction, "control": spec.control,
        "arms": [{"arm": a, "share": spec.arms[a], "holdout": a in spec.holdout, "assigned": counts[a],
                  "mature": done[a], "cost": round(costs.get(a, 0.0), 2)} for a in names],
        "srm": srm.to_dict(),
        "outcomes": rows,
        "segments": [s for a in treated for s in _segments(mature, spec, a)],
        "value": [_value(rows, a, done[a], costs.get(a, 0.0)) for a in treated],
    }  # fmt: skip
    report["recommendation"] = recommend(report, spec)
    return report
