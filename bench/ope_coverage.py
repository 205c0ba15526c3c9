"""Coverage of the off-policy intervals: over 200 simulated logs with a known policy value, how often the 95%
intervals of IPS, SNIPS and doubly robust hold the true incremental value (target: 92–98%).

``python bench/ope_coverage.py [--replications 200] [--decisions 2000] [--exploration 0.2]`` prints one row per
estimator and target policy; the policy bench of issue 18 calls :func:`rows` for its table. The logs are those
of :mod:`cvm.experiments.ope_sim` (persuadables, sleeping dogs, a propensity logging policy with exploration);
``tests/unit/test_ope.py`` holds the estimators to the same target.
"""

from __future__ import annotations

import argparse
import time

from cvm.experiments.ope_sim import coverage


def rows(replications: int = 200, decisions: int = 2_000, exploration: float = 0.2) -> list[dict[str, object]]:
    """One row per estimator and target: coverage, mean estimate and truth (incremental margin per decision)."""
    result = coverage(replications, decisions, exploration)
    return [
        {"estimator": method, "policy": target, "coverage": share,
         "mean_estimate": result.mean_estimate[method][target], "true_value": result.truth[target],
         "replications": replications, "ok": 0.92 <= share <= 0.98}
        for method, by_target in result.covered.items()
        for target, share in by_target.items()
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--exploration", type=float, default=0.2)
    args = parser.parse_args()
    start = time.perf_counter()
    table = rows(args.replications, args.decisions, args.exploration)
    print(f"{'estimator':<9} {'policy':<12} {'coverage':>8} {'mean est.':>10} {'truth':>8}  target 92–98%")
    for r in table:
        print(f"{r['estimator']:<9} {r['policy']:<12} {r['coverage']:>8.1%} {r['mean_estimate']:>10.3f} "
              f"{r['true_value']:>8.3f}  {'ok' if r['ok'] else 'MISSED'}")  # fmt: skip
    print(f"{args.replications} replications of {args.decisions:,} decisions, {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
