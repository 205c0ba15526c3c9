"""Benchmark (issue 18): deciding by incremental value against deciding by propensity, on the demo's ground truth.

All values are SIMULATED: the demo company's hidden treatment effects (``cvm.demo.effects``) give the true
incremental margin of any action, so the true value of any policy is known. Uses the workspace at
``--workspace`` when it holds a demo with its replayed decision log, otherwise runs ``cvm demo`` there.
Prints one table per question:

1. true incremental margin and contacts per 1,000 eligible decisions: no action, the propensity policy,
   the incremental policy with the TRUE uplift (oracle) and with the learned uplift models;
   targets: incremental ≥ 1.3 × propensity, with fewer contacts;
2. coverage of the off-policy estimates' 95% CIs over 200 replications of the logging (target 92-98%);
3. uplift ranking on the randomised (explore-rung) logs: Qini coefficient, and the share of sleeping dogs
   in the top decile against their share in the base (target: under a tenth);
4. real-time decide latency p50 / p99 (target p99 ≤ 25 ms), with the machine's load.

    python bench/policy.py [--workspace /tmp/policyws] [--customers 5000] [--replications 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cvm.contracts.decisionlog import NO_ACTION, DecisionRecord
from cvm.demo.effects import SLEEPING_DOG, action_kind, draw_outcomes
from cvm.demo.oracle import DemoTruth, oracle_choice, policy_value
from cvm.demo.policy_adapter import Ladder, decide_logged, greedy_propensity, ips, learned_uplift
from cvm.demo.replay import CONTEXT_KEY, REPLAY_DIR, load_truth, read_log
from cvm.experiments.uplift import qini_coefficient

DATA = "demo-data"


def _table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[f"{c:,.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def _workspace(path: Path, customers: int) -> None:
    if (path / DATA / REPLAY_DIR / "decision_log.parquet").exists():
        return
    cmd = [sys.executable, "-m", "cvm.cli.main", "demo", "-n", str(customers), "-w", str(path)]
    print(f"running {' '.join(cmd[2:])} ...", flush=True)
    subprocess.run(cmd, check=True, capture_output=True)


# -- 1. true value per 1,000 eligible decisions ------------------------------------------------------
def values(truth: DemoTruth, records: list[DecisionRecord]) -> None:
    truth.prime(records)
    policies: list[tuple[str, Callable[[DecisionRecord], str]]] = [
        ("no action", lambda r: NO_ACTION),
        ("propensity", greedy_propensity),
        ("incremental (true uplift, oracle)", oracle_choice(truth)),
    ]
    got = [policy_value(truth, records, name, p) for name, p in policies]
    rows: list[list[Any]] = [[v.name, v.value_per_1000, v.contacts_per_1000] for v in got]
    if learned_uplift(records) is None:
        rows.append(["incremental (learned uplift)", "n/a: no uplift model yet", ""])
    _table(
        f"True incremental margin per 1,000 eligible decisions (SIMULATED ground truth, {len(records):,} decisions)",
        ["policy", "incremental margin / 1,000", "contacts / 1,000"],
        rows,
    )
    prop, best = got[1], got[2]
    ratio = best.value_per_1000 / prop.value_per_1000 if prop.value_per_1000 > 0 else float("inf")
    ok = ratio >= 1.3 and best.contacts_per_1000 < prop.contacts_per_1000
    print(f"incremental / propensity = {ratio:.2f}x (target >= 1.3x), contacts "
          f"{best.contacts_per_1000:,.0f} vs {prop.contacts_per_1000:,.0f}: {'MET' if ok else 'NOT MET'}")  # fmt: skip


# -- 2. coverage of the off-policy estimates --------------------------------------------------------
def coverage(truth: DemoTruth, records: list[DecisionRecord], exploration: float, reps: int) -> None:
    live = [r for r in records if r.rung != "global_holdout"]
    opts = [[c for c in r.candidates if c.eligible] for r in live]
    width = max(len(o) for o in opts) + 1
    n = len(live)
    prob = np.zeros((n, width))
    names = np.full((n, width), NO_ACTION, dtype=object)
    kinds = np.full((n, width), "none", dtype=object)
    cost = np.zeros((n, width))
    for i, (r, o) in enumerate(zip(live, opts, strict=True)):
        greedy = greedy_propensity(r)
        for j, c in enumerate(o):
            names[i, j], kinds[i, j], cost[i, j] = c.action, action_kind(c.action, c.objective, c.channel), c.cost
            prob[i, j] = (1 - exploration) * (c.action == greedy) + exploration / (len(o) + 1)
        prob[i, len(o)] = (1 - exploration) * (greedy == NO_ACTION) + exploration / (len(o) + 1)
    pos = {c: k for k, c in enumerate(truth.truth.customer_id)}
    idx = np.fromiter((pos[r.customer_id] for r in live), dtype=np.int64, count=n)
    contacts = np.array([r.context.get(CONTEXT_KEY, 0.0) for r in live])
    targets = {"propensity": greedy_propensity, "incremental (oracle)": oracle_choice(truth)}
    chosen_target = {k: np.array([p(r) for r in live], dtype=object) for k, p in targets.items()}
    true = {k: float(np.mean([truth.incremental(r, a) for r, a in zip(live, t, strict=True)]))
            for k, t in chosen_target.items()}  # fmt: skip
    rng = np.random.default_rng(2026)
    hits = dict.fromkeys(targets, 0)
    widths: dict[str, list[float]] = {k: [] for k in targets}
    estimates: dict[str, list[float]] = {k: [] for k in targets}
    cum = np.cumsum(prob, axis=1)
    for _ in range(reps):
        j = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), width - 1)
        rows = np.arange(n)
        drawn = draw_outcomes(truth.truth, idx, kinds[rows, j], contacts, cost[rows, j], rng)
        for k in targets:
            est, lo, hi = ips(names[rows, j].tolist(), prob[rows, j], drawn["margin"], chosen_target[k].tolist())
            estimates[k].append(1000 * est)
            hits[k] += lo <= true[k] <= hi
            widths[k].append(1000 * (hi - lo) / 2)
    _table(
        f"Off-policy estimates (IPS, 95% CI) over {reps} replications of the logging "
        f"({n:,} decisions, exploration {exploration:.0%}; SIMULATED)",
        ["target policy", "true value / 1,000", "mean estimate", "coverage", "mean CI half-width"],
        [
            [k, 1000 * true[k], float(np.mean(estimates[k])), f"{hits[k] / reps:.1%}", float(np.mean(widths[k]))]
            for k in targets
        ],
    )
    print("estimator: plain IPS through cvm.demo.policy_adapter (h-ope's IPS/SNIPS/DR replace it at merge)")


# -- 3. uplift ranking --------------------------------------------------------------------------------
def ranking(truth: DemoTruth, records: list[DecisionRecord], outcomes: dict[str, float]) -> None:
    pos = {c: k for k, c in enumerate(truth.truth.customer_id)}
    dog = np.array([truth.truth.type[pos[r.customer_id]] == SLEEPING_DOG for r in records])
    greedy = [greedy_propensity(r) for r in records]
    scorers: dict[str, Callable[[DecisionRecord, str], float]] = {
        "propensity (expected value)": lambda r, a: next(c.ev_propensity for c in r.candidates if c.action == a),
        "propensity model (exp_purchases_12m)": lambda r, a: float(r.context.get("exp_purchases_12m", 0.0)),
        "true uplift (oracle)": truth.incremental,
    }
    explore = [i for i, r in enumerate(records) if r.rung == "explore" and r.chosen in (greedy[i], NO_ACTION)]
    rows: list[list[Any]] = []
    for name, score in scorers.items():
        s = np.array([score(r, a) if a != NO_ACTION else 0.0 for r, a in zip(records, greedy, strict=True)])
        top = s >= np.quantile(s, 0.9)
        e = np.array(explore)
        y = np.array([outcomes[records[i].decision_id] for i in e])
        t = np.array([records[i].chosen != NO_ACTION for i in e])
        rows.append([name, qini_coefficient(y, t, s[e]), f"{dog[top].mean():.1%}", f"{dog.mean():.1%}",
                     f"{dog[top].mean() / dog.mean():.2f}"])  # fmt: skip
    if learned_uplift(records) is None:
        rows.append(["learned uplift model", "n/a", "n/a", f"{dog.mean():.1%}", "target < 0.10"])
    _table(
        f"Uplift ranking on randomised logs ({len(explore):,} explore-rung decisions for the Qini; SIMULATED)",
        ["ranking", "Qini coefficient", "sleeping dogs in top decile", "in the base", "ratio"],
        rows,
    )


# -- 4. real-time latency -------------------------------------------------------------------------------
def latency(workspace: Path, sample: int) -> None:
    from cvm.engine import Engine
    from cvm.plans.parallel import state_of
    from cvm.services.demo_replay import attribute_rows

    engine = Engine.open(workspace)
    truth_end = load_truth(workspace / DATA)[1]
    rows = attribute_rows(engine.ws.offline, engine.ws.settings.segments, truth_end)[:sample]
    cfg, ladder = engine.ws.settings.plans, Ladder()
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    times = []
    for row in rows:
        state = state_of(row, [], {})
        began = time.perf_counter()
        decide_logged(cfg, state, now, ladder)
        times.append(1000 * (time.perf_counter() - began))
    t = np.array(times)
    load = os.getloadavg()
    _table(
        f"Real-time decide + decision record, one customer per call ({len(t):,} calls, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f})",
        ["path", "p50 ms", "p99 ms", "max ms", "target p99"],
        [
            ["decide_logged (propensity; no uplift model yet)"]
            + [f"{x:.2f}" for x in (np.percentile(t, 50), np.percentile(t, 99), t.max())]
            + ["25 ms"]
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/policyws"))
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--latency-sample", type=int, default=2000)
    args = parser.parse_args()
    began = time.perf_counter()
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at start")
    _workspace(args.workspace, args.customers)
    records, outcome_frame = read_log(args.workspace / DATA / REPLAY_DIR)
    truth = DemoTruth(load_truth(args.workspace / DATA)[0])
    outcomes = dict(zip(outcome_frame["decision_id"], outcome_frame["margin"], strict=True))
    values(truth, records)
    coverage(truth, records, Ladder().exploration, args.replications)
    ranking(truth, records, outcomes)
    latency(args.workspace, args.latency_sample)
    print(f"\n({time.perf_counter() - began:.0f} s; every value above is SIMULATED from the demo's ground truth)")


if __name__ == "__main__":
    main()
