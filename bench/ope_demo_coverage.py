"""Coverage of the off-policy intervals on the demo's own ground truth (issue 18): over many fresh replays of the
demo company, how often `cvm policy`'s 95% intervals hold the TRUE value, and how often its paired verdict
"incremental earns more than propensity" is right.

``bench/ope_coverage.py`` checks the estimators on small synthetic logs. This one uses the demo: its plans,
its ladder, its customers' heavy-tailed values and their repeated decisions. The workspace's stored replay
trains one uplift model (70% of the customers, gated as ``cvm run`` gates it); that model then prices the
decisions of ``--replications`` new replays (other outcome seeds, decision dates shifted by a day each), which
it never saw. Per replay and per reward (the realised ``margin``, or the ``components``: the valued events,
as ``cvm policy --outcome``), the IPS and DR estimates of three quantities are checked against the truth:

- ``incremental``: the incremental policy against no action;
- ``propensity``: the propensity policy against no action;
- ``incr - prop``: the paired difference of the two (``cvm policy compare``'s verdict).

Columns: coverage of the true value (target 92-98%); coverage of what the reward aims at (for ``components``, the
events' true probabilities times the settings' values, so the gap between the two coverages is the valuation's
bias; for ``margin`` the truth itself); mean estimate, truth and aim per 1,000 decisions; the spread of the
estimates over the replays divided by their mean standard error (above 1: the intervals are too narrow); and how
often the interval excluded zero on the side of the truth (``right sign``, the verdict "earns more" when true) or
on the other side (``wrong sign``): ``cvm policy``'s verdict "earns more" or "earns less", right or wrong.

    python bench/ope_demo_coverage.py [--workspace /tmp/policyws] [--customers 5000] [--replications 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvm.contracts.decisionlog import DecisionOutcome, DecisionRecord
from cvm.demo.effects import probabilities
from cvm.demo.oracle import DemoTruth, _kind, truth_provider
from cvm.demo.replay import CONTEXT_KEY, decision_dates, load_truth, replay, replay_ladder
from cvm.demo.workspace import DEMO_REPLAY_MONTHS
from cvm.engine import Engine
from cvm.experiments import ope
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import greedy
from cvm.scoring.uplift_replay import predicted, with_uplift
from cvm.scoring.uplift_values import evaluation_values, value_frame, weighted_outcome
from cvm.services.demo_replay import attribute_rows

sys.path.insert(0, str(Path(__file__).parent))
from policy import _table, _workspace, learn, reward_outcomes, split_log, uplift_settings, values_of

METHODS = ("ips", "dr")
PER = 1000.0


class ValuedEvents(DemoTruth):
    """What the ``components`` reward estimates: each event's TRUE probability times its value in the settings.

    Against the demo's margin (:class:`DemoTruth`) the difference is the bias of the settings' valuation."""

    def __init__(self, truth: DemoTruth, values: Mapping[str, str]) -> None:
        super().__init__(truth.truth)
        self.values = values

    def _margins(self, records: Sequence[DecisionRecord], actions: Sequence[str]) -> Any:
        idx = self.truth.index([r.customer_id for r in records])
        kinds = [_kind(r, a) for r, a in zip(records, actions, strict=True)]
        contacts = [float(r.context.get(CONTEXT_KEY, 0.0)) for r in records]
        pr = probabilities(self.truth, idx, kinds, contacts)
        chances = pd.DataFrame({"converted": pr.convert, "churned": pr.churn, "defaulted": pr.default,
                                "unsubscribed": pr.unsubscribe, "complained": pr.complain})  # fmt: skip
        return weighted_outcome(chances, value_frame(self.values, [r.context for r in records]))


def _matrix(records: Sequence[DecisionRecord], actions: Sequence[str], choose: Callable[[DecisionRecord], str]) -> Any:
    return ope.target_matrix(lambda r: {choose(r): 1.0}, records, actions)


def _estimates(
    data: ope.LoggedBandit, incr: Any, prop: Any, gain: Any, aim: Any, bootstrap: int
) -> dict[tuple[str, str], tuple[float, ...]]:
    """(quantity, estimator) -> (estimate, ci_low, ci_high, truth, se, what the reward aims at), per 1,000 eligible
    decisions; ``dr-boot``: the DR estimate with its customer-bootstrap interval."""
    q = ope.cross_fit_rewards(data)
    t = {"incr": [ope.true_incremental(g, incr) for g in (gain, aim)],
         "prop": [ope.true_incremental(g, prop) for g in (gain, aim)]}  # fmt: skip
    base = ope.none_matrix(data)
    got = {
        "incremental": (ope.difference(data, incr, base, q), t["incr"]),
        "propensity": (ope.difference(data, prop, base, q), t["prop"]),
        "incr - prop": (ope.difference(data, incr, prop, q), [a - b for a, b in zip(*t.values(), strict=True)]),
    }
    out = {(name, m): (est[m].value, est[m].ci_low, est[m].ci_high, true[0], est[m].se, true[1])
           for name, (est, true) in got.items() for m in METHODS}  # fmt: skip
    if bootstrap:
        diff = ope.contributions(data, incr, "dr", q) - ope.contributions(data, prop, "dr", q)
        b = ope.bootstrap_ci(diff, data.groups, bootstrap)
        true = got["incr - prop"][1]
        out[("incr - prop", "dr-boot")] = (b.value, b.ci_low, b.ci_high, true[0], b.se, true[1])
    return {k: tuple(x * PER for x in v) for k, v in out.items()}


def one_replay(
    records: Sequence[DecisionRecord], outcomes: Mapping[str, DecisionOutcome], model: Any, passed: list[str],
    truth: DemoTruth, valued: ValuedEvents, settings: Any, bootstrap: int,
) -> dict[tuple[str, str, str], tuple[float, ...]]:  # fmt: skip
    """(reward, quantity, estimator) -> :func:`_estimates`' figures. The decisions, the two policies' choices and
    the truth are the same for both rewards, so they are computed once; only the reward differs."""
    data, kept = ope.bandit_from_log(records, outcomes)
    priced = {r.decision_id: r for r in with_uplift(kept, predicted(model, kept, passed))}
    prop = _matrix(kept, data.actions, lambda r: greedy(r, "propensity"))
    incr = _matrix(kept, data.actions, lambda r: greedy(priced[r.decision_id], "incremental"))
    gain = ope.true_gains(truth, kept, data)
    events = reward_outcomes(settings, kept, outcomes, "components")
    components = replace(data, reward=np.array([events[r.decision_id].margin for r in kept], dtype=float))
    figures = {
        "margin": _estimates(data, incr, prop, gain, gain, bootstrap),
        "components": _estimates(components, incr, prop, gain, ope.true_gains(valued, kept, data), bootstrap),
    }
    return {(reward, *key): v for reward, by in figures.items() for key, v in by.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/policyws"))
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--bootstrap", type=int, default=0, help="Also the customer bootstrap of the paired DR.")
    parser.add_argument("--save", type=Path, help="Write every replay's figures to this JSON file.")
    args = parser.parse_args()
    began = time.perf_counter()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
    _workspace(args.workspace, args.customers)
    engine = Engine.open(args.workspace)
    s = engine.ws.settings
    stored, stored_out = read_log(engine.ws.offline)
    train, _held = split_log([r for r in stored if r.decision_id in stored_out], "bench-split")
    model, passed = learn(train, stored_out, uplift_settings(s), values_of(s, None), gated=True)
    print(f"uplift model learned once from the stored replay ({len(train):,} decisions); scores {', '.join(passed)}")
    truth = truth_provider(args.workspace)
    if truth is None:
        raise SystemExit(f"{args.workspace} holds no demo ground truth")
    effects, end, seed = load_truth(args.workspace / "demo-data")
    rows = [{c: v for c, v in r.items() if not c.startswith("uplift_")}
            for r in attribute_rows(engine.ws.offline, s.segments, end)]  # fmt: skip
    ladder = replay_ladder(s.experiments)
    valued = ValuedEvents(truth, evaluation_values(s.plans, s.scoring.cost_to_serve.complaint))
    results: dict[tuple[str, str, str], list[tuple[float, ...]]] = {}
    decisions = 0
    for k in range(1, args.replications + 1):
        dates = decision_dates(end - timedelta(days=k), DEMO_REPLAY_MONTHS)
        run = replay(s.plans, rows, effects, dates, ladder, seed + 1000 + k)
        outcomes = {o.decision_id: o for o in run.outcomes}
        decisions += len(run.records)
        for key, v in one_replay(run.records, outcomes, model, passed, truth, valued, s, args.bootstrap).items():
            results.setdefault(key, []).append(v)
        if k % 10 == 0:
            print(f"  {k} replays ({time.perf_counter() - began:.0f} s)", flush=True)
    if args.save is not None:
        args.save.write_text(json.dumps([[*key, vals] for key, vals in results.items()]), encoding="utf-8")
    table = []
    for (reward, name, m), vals in results.items():
        a = np.array(vals)
        covered = float(np.mean((a[:, 1] <= a[:, 3]) & (a[:, 3] <= a[:, 2])))
        aimed = float(np.mean((a[:, 1] <= a[:, 5]) & (a[:, 5] <= a[:, 2])))
        right = float(np.mean(np.where(a[:, 3] >= 0, a[:, 1] > 0, a[:, 2] < 0)))
        wrong = float(np.mean(np.where(a[:, 3] >= 0, a[:, 2] < 0, a[:, 1] > 0)))
        table.append([reward, name, m, f"{covered:.1%}", f"{aimed:.1%}", float(a[:, 0].mean()), float(a[:, 3].mean()),
                      float(a[:, 5].mean()), float(a[:, 0].std(ddof=1) / a[:, 4].mean()), f"{right:.1%}",
                      f"{wrong:.1%}"])  # fmt: skip
    _table(f"Off-policy intervals over {args.replications} fresh demo replays ({decisions / args.replications:,.0f} "
           "decisions each; per 1,000 eligible decisions; SIMULATED truth)",
           ["reward", "quantity", "estimator", "coverage", "of its aim", "mean estimate", "mean truth", "its aim",
            "sd / se", "right sign", "wrong sign"], table)  # fmt: skip
    load = os.getloadavg()
    print(f"\n({time.perf_counter() - began:.0f} s; load average {load[0]:.1f} at the end; target coverage 92-98%)")


if __name__ == "__main__":
    main()
