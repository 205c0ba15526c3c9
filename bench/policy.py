"""Benchmark (issue 18): deciding by incremental value against deciding by propensity, on the demo's ground truth.

All values are SIMULATED: the demo company's hidden treatment effects (``cvm.demo.effects``) give the true
incremental margin of any action, so the true value of any policy is known (``cvm.demo.oracle``). Uses the
workspace at ``--workspace`` when its store's ``decision_log`` holds the demo's replay, otherwise runs
``cvm demo`` there. The decisions are split by customer: the uplift models (of ``plans.uplift.outcome``, or
``--outcome components|margin``: ``ComponentUplift`` of the outcome's events valued per customer, or
``MultiUplift`` of the margin) learn from the randomised decisions of 70% of the customers; every figure below is
measured on the decisions of the other 30%. ``--gated`` scores only the actions ``cvm run``'s gate passes.
Prints one table per question:

1. true incremental margin and contacts per 1,000 eligible decisions: no action, the propensity policy, the
   incremental policy with the LEARNED uplift and with the TRUE uplift (oracle); target: learned incremental
   ≥ 1.3 × propensity with fewer contacts; next to each, the doubly robust off-policy estimate from the log;
2. coverage of the off-policy 95% intervals over 200 replications (``bench/ope_coverage.py``; target 92-98%);
3. uplift ranking of the learned model on held-out randomised logs: Qini coefficient per action, and the share
   of sleeping dogs in its top decile against their share in the base (target: under a tenth);
4. real-time decide latency p50 / p99 with the uplift attributes on (target p99 ≤ 25 ms), with the load.

5. the same comparison over ``--replays`` replays (the stored one and new ones with other seeds and dates): mean and
   spread of the propensity, learned and oracle policies' true value and the worst sleeping-dog ratio;
6. the issue's done-when, as a user sees it: what ``cvm policy compare`` itself concludes on the workspace's own log
   (its uplift champion, its held-out decisions), for both rewards: the paired DR difference "incremental minus
   propensity" with its 95% interval and verdict, the TRUE difference, and the contacts saved.

    python bench/policy.py [--workspace /tmp/policyws] [--customers 5000] [--replications 200] [--replays 5]
                           [--outcome components|margin] [--gated] [--only-replays] [--uplift KEY=VALUE ...]

``--uplift pessimism=0 --uplift pool_by=none --uplift shrink_effects=false`` measures the components uplift
without the three rules that keep a rarely randomised action's guesses out of the decision (docs/uplift.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from cvm.config.settings import Settings
from cvm.config.uplift import UpliftConfig
from cvm.contracts.decisionlog import NO_ACTION, DecisionOutcome, DecisionRecord, uplift_attribute
from cvm.demo.effects import SLEEPING_DOG
from cvm.demo.oracle import DemoTruth, oracle_choice, policy_value, truth_provider
from cvm.engine import Engine
from cvm.experiments import ope
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import greedy
from cvm.experiments.uplift import qini_coefficient
from cvm.models.uplift_components import ComponentUplift
from cvm.models.uplift_multi import MultiUplift
from cvm.plans.explore import uniform
from cvm.scoring.uplift import outcome_values
from cvm.scoring.uplift_replay import predicted, with_uplift
from cvm.scoring.uplift_train import fit_gated, new_model, training_data
from cvm.scoring.uplift_values import (
    component_outcomes,
    evaluation_values,
    predict_uplift,
    value_frame,
    weighted_outcome,
)

sys.path.insert(0, str(Path(__file__).parent))
from ope_coverage import rows as coverage_rows

HELD_OUT = 0.3
Choice = Callable[[DecisionRecord], str]


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def _workspace(path: Path, customers: int) -> None:
    if (path / "cvm.yaml").exists() and read_log(Engine.open(path).ws.offline)[1]:
        return
    cmd = [sys.executable, "-m", "cvm.cli.main", "demo", "-n", str(customers), "-w", str(path)]
    print(f"running {' '.join(cmd[2:])} ...", flush=True)
    subprocess.run(cmd, check=True, capture_output=True)


# -- the learned uplift -------------------------------------------------------------------------------
def learn(
    train: Sequence[DecisionRecord], outcomes: Mapping[str, DecisionOutcome], cfg: UpliftConfig,
    values: Mapping[str, str] | None = None, gated: bool = False,
) -> tuple[MultiUplift | ComponentUplift, list[str]]:  # fmt: skip
    """The uplift model fitted on the randomised training decisions (``plans.uplift``), of the margin or of the
    outcome's events valued with ``values`` (the ``components`` outcome), and the actions it may score: every action
    it learned from all of them, or with ``gated`` as ``cvm run`` does (only actions with ``min_randomised``
    decisions, trained on the oldest, scored only when their held-out gate passed)."""
    frame = pl.DataFrame([asdict(o) for o in outcomes.values()])
    data = training_data(train, frame, cfg.features, values)
    if not gated:
        model = new_model(data, cfg)
        return model, list(model.actions_)
    model, _metrics, gate = fit_gated(data, cfg)
    return model, [a for a, v in gate["actions"].items() if v["passed"]]


# -- 1. true value and the DR estimate per 1,000 eligible decisions ---------------------------------------
def values(truth: DemoTruth, held: list[DecisionRecord], outcomes: Mapping[str, DecisionOutcome],
           learned: Mapping[str, list[DecisionRecord]], reward: str) -> None:  # fmt: skip
    """``reward``: what the DR estimate counts (``margin``, or ``components`` as ``cvm policy --outcome``)."""
    data, kept = ope.bandit_from_log(held, outcomes)
    by_id = {name: {r.decision_id: r for r in recs} for name, recs in learned.items()}
    q = ope.cross_fit_rewards(data)
    gain = ope.true_gains(truth, kept, data)
    oracle = oracle_choice(truth)
    policies: list[tuple[str, Choice]] = [
        ("no action", lambda r: NO_ACTION),
        ("propensity", lambda r: greedy(r, "propensity")),
        *((f"incremental, learned uplift ({name})", _learned(by_id[name])) for name in learned),
        ("incremental, TRUE uplift (oracle)", oracle),
    ]
    rows: list[list[Any]] = []
    got = {}
    for name, choose in policies:
        v = policy_value(truth, kept, name, choose)
        target = ope.target_matrix(lambda r, c=choose: {c(r): 1.0}, kept, data.actions)
        dr = ope.evaluate(data, target, q).incremental["dr"].scaled(1000)
        got[name] = v
        rows.append([name, v.value_per_1000, 1000 * ope.true_incremental(gain, target), v.contacts_per_1000,
                     dr.value, f"[{dr.ci_low:,.0f}, {dr.ci_high:,.0f}]",
                     "yes" if dr.ci_low <= v.value_per_1000 <= dr.ci_high else "no"])  # fmt: skip
    _table(f"Held-out customers: true incremental margin per 1,000 eligible decisions (SIMULATED; {data.n:,} "
           f"decisions) and the doubly robust estimate from the log (reward: {reward})",
           ["policy", "true / 1,000", "true (OPE gains)", "contacts / 1,000", "DR estimate", "DR 95% CI", "covers"],
           rows)  # fmt: skip
    prop = got["propensity"]
    for name in learned:
        v = got[f"incremental, learned uplift ({name})"]
        ratio = v.value_per_1000 / prop.value_per_1000 if prop.value_per_1000 > 0 else float("nan")
        better = ratio >= 1.3 if prop.value_per_1000 > 0 else v.value_per_1000 > max(prop.value_per_1000, 0.0)
        ok = better and v.contacts_per_1000 < prop.contacts_per_1000
        verdict = "MET" if ok else "NOT MET"
        times = f"{ratio:.2f}x" if prop.value_per_1000 > 0 else "propensity loses"
        print(f"learned incremental ({name}) {v.value_per_1000:,.0f} vs propensity {prop.value_per_1000:,.0f} = "
              f"{times} (target >= 1.3x, or positive when propensity loses); contacts "
              f"{v.contacts_per_1000:,.0f} vs {prop.contacts_per_1000:,.0f} per 1,000: {verdict}")  # fmt: skip
    best = got["incremental, TRUE uplift (oracle)"]
    if prop.value_per_1000 > 0:
        print(f"oracle incremental / propensity = {best.value_per_1000 / prop.value_per_1000:.2f}x (the ceiling)")


def _learned(records: Mapping[str, DecisionRecord]) -> Choice:
    return lambda r: greedy(records[r.decision_id], "incremental")


# -- 2. coverage ---------------------------------------------------------------------------------------------
def coverage(reps: int) -> None:
    rows = coverage_rows(reps)
    _table(f"Coverage of the off-policy 95% intervals over {reps} replications (cvm.experiments.ope_sim logs with a "
           "known value; bench/ope_coverage.py)",
           ["estimator", "policy", "coverage", "mean estimate", "truth", "92-98%"],
           [[r["estimator"], r["policy"], f"{r['coverage']:.1%}", f"{r['mean_estimate']:.3f}",
             f"{r['true_value']:.3f}", "ok" if r["ok"] else "MISSED"] for r in rows])  # fmt: skip


# -- 3. uplift ranking -----------------------------------------------------------------------------------------
def ranking(truth: DemoTruth, held: list[DecisionRecord], pred: pd.DataFrame,
            outcomes: Mapping[str, DecisionOutcome], values: Mapping[str, str] | None = None) -> None:  # fmt: skip
    """Qini on what the model ranks: the margin, or with ``values`` the value-weighted events Σₑ 1[e] × vₑ."""
    pos = {c: k for k, c in enumerate(truth.truth.customer_id)}
    dog = np.array([truth.truth.type[pos[r.customer_id]] == SLEEPING_DOG for r in held])
    if values is None:
        y = np.array([outcomes[r.decision_id].margin for r in held])
    else:
        flags = pd.DataFrame([{e: float(getattr(outcomes[r.decision_id], e)) for e in values} for r in held])
        y = weighted_outcome(flags, value_frame(values, [r.context for r in held]))
    rows: list[list[Any]] = []
    for action in pred.columns:
        ok = np.array([r.rung == "explore" and r.chosen in (action, NO_ACTION)
                       and any(c.action == action and c.eligible for c in r.candidates) for r in held])  # fmt: skip
        treated = np.array([r.chosen == action for r in held])
        score = pred[action].to_numpy()
        if ok.sum() < 20 or not treated[ok].any() or treated[ok].all():
            continue
        eligible = np.array([any(c.action == action and c.eligible for c in r.candidates) for r in held])
        s = score[eligible]
        top = s >= np.quantile(s, 0.9)
        share, base = dog[eligible][top].mean(), dog[eligible].mean()
        rows.append([action, int(ok.sum()), f"{qini_coefficient(y[ok], treated[ok], score[ok]):.3f}",
                     f"{share:.1%}", f"{base:.1%}", f"{share / base:.2f}" if base else "n/a"])  # fmt: skip
    _table("Learned uplift on held-out customers: Qini on their explore-rung decisions; sleeping dogs in the model's "
           "top decile (SIMULATED; target ratio < 0.10)",
           ["action", "explore decisions", "Qini", "dogs in top decile", "in the base", "ratio"], rows)  # fmt: skip


# -- 5. over several replays -------------------------------------------------------------------------------------
def split_log(records: Sequence[DecisionRecord], salt: str) -> tuple[list[DecisionRecord], list[DecisionRecord]]:
    """Training decisions (70% of the customers) and the held-out eligible decisions of the others."""
    out = {r.customer_id: uniform(salt, r.customer_id, "") < HELD_OUT for r in records}
    train = [r for r in records if not out[r.customer_id]]
    held = [r for r in records if out[r.customer_id] and r.rung != "global_holdout"]
    return train, [r for r in held if any(c.eligible for c in r.candidates)]


def dog_ratio(truth: DemoTruth, held: Sequence[DecisionRecord], pred: pd.DataFrame, least: int = 200) -> float:
    """Worst (highest) ratio of the sleeping dogs' share in the model's top decile to their share among the held-out
    decisions where the action is eligible, over the actions eligible in at least ``least`` of them."""
    pos = {c: k for k, c in enumerate(truth.truth.customer_id)}
    dog = np.array([truth.truth.type[pos[r.customer_id]] == SLEEPING_DOG for r in held])
    worst = float("nan")
    for action in pred.columns:
        eligible = np.array([any(c.action == action and c.eligible for c in r.candidates) for r in held])
        if eligible.sum() < least or not dog[eligible].any():
            continue
        s = pred[action].to_numpy()[eligible]
        ratio = float(dog[eligible][s >= np.quantile(s, 0.9)].mean() / dog[eligible].mean())
        worst = ratio if np.isnan(worst) else max(worst, ratio)
    return worst


def values_of(s: Settings, outcome: str | None) -> dict[str, str] | None:
    """The event values of the uplift outcome ``outcome`` (default: the workspace's ``plans.uplift.outcome``)."""
    if outcome is not None:
        uplift = s.plans.uplift.model_copy(update={"outcome": outcome})
        s = s.model_copy(update={"plans": s.plans.model_copy(update={"uplift": uplift})})
    return outcome_values(s)


def reward_outcomes(s: Settings, held: Sequence[DecisionRecord], outcomes: Mapping[str, DecisionOutcome],
                    reward: str) -> Mapping[str, DecisionOutcome]:  # fmt: skip
    """The outcomes as the off-policy estimate counts them: as logged, or with the value-weighted events."""
    if reward != "components":
        return outcomes
    return component_outcomes(held, outcomes, evaluation_values(s.plans, s.scoring.cost_to_serve.complaint))


def uplift_settings(s: Settings, pairs: Sequence[str] = ()) -> UpliftConfig:
    """``plans.uplift`` with each ``KEY=VALUE`` of ``pairs`` set (the value read as JSON, else as text), validated."""
    update: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--uplift {pair!r}: expected KEY=VALUE")
        try:
            update[key] = json.loads(text)
        except ValueError:
            update[key] = text
    try:
        return UpliftConfig.model_validate({**s.plans.uplift.model_dump(), **update})
    except ValueError as exc:
        raise SystemExit(f"--uplift: {exc}") from None


def replays(
    workspace: Path,
    n: int,
    exploration: float | None = None,
    months: int | None = None,
    outcome: str | None = None,
    gated: bool = False,
    uplift: Sequence[str] = (),
) -> None:
    """The learned policy against the propensity policy on ``n`` replays (the stored one, then ``n − 1`` new ones
    with other outcome seeds and decision dates shifted by a day each), each split by customer with its own salt:
    the mean and spread, so one lucky replay cannot pass the target. ``exploration`` or ``months`` other than the
    demo's replay all ``n`` anew with that exploration share or length."""
    from cvm.demo.replay import decision_dates, load_truth, replay, replay_ladder
    from cvm.demo.workspace import DEMO_REPLAY_MONTHS
    from cvm.services.demo_replay import attribute_rows

    engine = Engine.open(workspace)
    s = engine.ws.settings
    base, base_out = read_log(engine.ws.offline)
    effects, end, seed = load_truth(workspace / "demo-data")
    truth = DemoTruth(effects)
    rows: list[dict[str, Any]] = []
    rows_ready = False
    table: list[list[Any]] = []
    ladder = replay_ladder(s.experiments)
    if exploration is not None:
        ladder = ladder.model_copy(update={"ladder": ladder.ladder.model_copy(update={"exploration": exploration})})
    fresh = exploration is not None or months is not None
    for k in range(n):
        if k == 0 and not fresh:
            records, outcomes = [r for r in base if r.decision_id in base_out], base_out
        else:
            if not rows_ready:  # the demo's replay decided before any uplift model existed: so do these
                rows = [{c: v for c, v in r.items() if not c.startswith("uplift_")}
                        for r in attribute_rows(engine.ws.offline, s.segments, end)]  # fmt: skip
                rows_ready = True
            dates = decision_dates(end - timedelta(days=k), months or DEMO_REPLAY_MONTHS)
            result = replay(s.plans, rows, effects, dates, ladder, seed + k)
            records, outcomes = result.records, {o.decision_id: o for o in result.outcomes}
        train, held = split_log(records, f"bench-split-{k}" if k else "bench-split")
        model, passed = learn(train, outcomes, uplift_settings(s, uplift), values_of(s, outcome), gated)
        pred = predicted(model, held, passed)
        priced = {r.decision_id: r for r in with_uplift(held, pred)}
        prop = policy_value(truth, held, "propensity", lambda r: greedy(r, "propensity"))
        got = policy_value(truth, held, "learned", lambda r, p=priced: greedy(p[r.decision_id], "incremental"))
        best = policy_value(truth, held, "oracle", oracle_choice(truth))
        explored = sum(r.rung == "explore" for r in records)
        table.append([k, len(records), explored, prop.value_per_1000, prop.contacts_per_1000, got.value_per_1000,
                      got.contacts_per_1000, best.value_per_1000, dog_ratio(truth, held, pred)])  # fmt: skip
    arr = np.array([row[1:] for row in table], dtype=float)
    mean, sd = np.nanmean(arr, axis=0), np.nanstd(arr, axis=0, ddof=1) if n > 1 else np.zeros(arr.shape[1])
    table.append(["mean", *mean])
    table.append(["sd", *sd])
    _table(f"Over {n} replays (SIMULATED): true incremental margin and contacts per 1,000 held-out eligible decisions",
           ["replay", "decisions", "explored", "propensity", "contacts", "learned", "contacts", "oracle",
            "dogs top-decile ratio"], table)  # fmt: skip
    ok = mean[4] > 0 and mean[4] - sd[4] > mean[2] and mean[5] < mean[3] and mean[7] < 0.1
    verdict = "MET" if ok else "NOT MET"
    print(f"learned {mean[4]:,.0f} ± {sd[4]:,.0f} vs propensity {mean[2]:,.0f} per 1,000 (contacts {mean[5]:,.0f} vs "
          f"{mean[3]:,.0f}); worst dog ratio {mean[7]:.2f} (target < 0.10): {verdict}")  # fmt: skip


# -- 4. real-time latency -----------------------------------------------------------------------------------------
def latency(workspace: Path, model: MultiUplift | ComponentUplift, sample: int) -> None:
    from cvm.plans.decide import decide
    from cvm.plans.decisionlog import context_of
    from cvm.plans.parallel import state_of
    from cvm.services.demo_replay import attribute_rows

    engine = Engine.open(workspace)
    s = engine.ws.settings
    cfg = s.plans.model_copy(update={"arbitration": "incremental"})
    rows = attribute_rows(engine.ws.offline, s.segments, datetime.now(UTC).date())[:sample]
    x = pd.DataFrame([{f: context_of(cfg, r).get(f, np.nan) for f in model.features_} for r in rows], dtype=float)
    pred = predict_uplift(model, x, rows)
    for i, row in enumerate(rows):
        row.update({uplift_attribute(a): float(pred[a].iloc[i]) for a in pred.columns})
    now = datetime.now(UTC)
    times = []
    for row in rows:
        state = state_of(row, [], {})
        began = time.perf_counter()
        decide(cfg, state, now, experiments=s.experiments, path="realtime")
        times.append(1000 * (time.perf_counter() - began))
    t = np.array(times)
    load = os.getloadavg()
    _table(f"Real-time decide with the ladder, the decision record and {len(pred.columns)} uplift attributes "
           f"({len(t):,} calls, {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})",
           ["path", "p50 ms", "p99 ms", "max ms", "target p99"],
           [["decide (incremental)", *(f"{v:.2f}" for v in (np.percentile(t, 50), np.percentile(t, 99), t.max())),
             "25 ms"]])  # fmt: skip


def verdicts(workspace: Path) -> None:
    """Table 6: ``cvm policy compare``'s paired verdict on the workspace's log, per reward, against the truth."""
    engine = Engine.open(workspace)
    rows = []
    for reward in ("margin", "components"):
        for pair in engine.policy.compare(outcome=reward)["versus"]:
            dr = pair["estimate"]["dr"]
            rows.append([reward, f"{pair['name']} - {pair['versus']}", float(dr["value"]),
                         f"[{dr['ci_low']:,.0f}, {dr['ci_high']:,.0f}]", pair["verdict"], float(pair["true_value"]),
                         float(pair["contacts"])])  # fmt: skip
    header = ["reward", "paired", "DR difference", "95% interval", "verdict", "true difference", "contacts"]
    _table("What `cvm policy compare --outcome REWARD` concludes on this workspace's own log (per 1,000 eligible "
           "decisions; true difference SIMULATED)", header, rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/policyws"))
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--latency-sample", type=int, default=2000)
    parser.add_argument("--replays", type=int, default=5, help="Replays for the mean and spread (0: none).")
    parser.add_argument("--exploration", type=float, help="Replay with this exploration share instead of the demo's.")
    parser.add_argument("--months", type=int, help="Replay this many months instead of the demo's.")
    parser.add_argument("--only-replays", action="store_true", help="Skip tables 1-4.")
    parser.add_argument(
        "--outcome",
        choices=("components", "margin"),
        help="What the uplift models learn (default: the workspace's plans.uplift.outcome).",
    )
    parser.add_argument(
        "--gated",
        action="store_true",
        help="Score only the actions with min_randomised decisions whose held-out gate passed, as cvm run does "
        "(default: every action the model learned, as before).",
    )
    parser.add_argument(
        "--uplift",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Set a plans.uplift setting for this run (repeatable), e.g. pessimism=0 or pool_by=none.",
    )
    args = parser.parse_args()
    began = time.perf_counter()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
    _workspace(args.workspace, args.customers)
    records, outcomes = read_log(Engine.open(args.workspace).ws.offline)
    records = [r for r in records if r.decision_id in outcomes]
    truth = truth_provider(args.workspace)
    if truth is None:
        raise SystemExit(f"{args.workspace} holds no demo ground truth")
    if args.only_replays:
        replays(args.workspace, args.replays, args.exploration, args.months, args.outcome, args.gated, args.uplift)
        return
    train, held = split_log(records, "bench-split")
    settings = Engine.open(args.workspace).ws.settings
    cfg = uplift_settings(settings, args.uplift)
    model, passed = learn(train, outcomes, cfg, values_of(settings, args.outcome), args.gated)
    print(f"uplift model: {len(model.actions_)} actions learned from {len(train):,} training decisions; "
          f"skipped {dict(model.skipped_)}; scored {', '.join(passed) or 'none'}")  # fmt: skip
    pred = predicted(model, held, passed)
    learned = {
        "as decide prices it": with_uplift(held, pred),
    }
    reward = args.outcome or settings.plans.uplift.outcome
    values(truth, held, reward_outcomes(settings, held, outcomes, reward), learned, reward)
    coverage(args.replications)
    ranking(truth, held, pred, outcomes, values_of(settings, args.outcome))
    latency(args.workspace, model, args.latency_sample)
    if args.replays > 0:
        replays(args.workspace, args.replays, args.exploration, args.months, args.outcome, args.gated, args.uplift)
    verdicts(args.workspace)
    print(f"\n({time.perf_counter() - began:.0f} s; every value above is SIMULATED from the demo's ground truth)")


if __name__ == "__main__":
    main()
