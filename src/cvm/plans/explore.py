"""Randomisation inside the pure decision: hash-based draws, exploration and Thompson sampling.

Every random choice of :func:`cvm.plans.decide.decide` comes from a hash, so a replay reproduces it:
``u = int(sha256(f"{salt}|{customer_id}|{key}").hexdigest()[:15], 16) / 16**15`` (:func:`uniform`),
where ``key`` is the decision's UTC day for the batch path and its event ids for the real-time path.

**Exploration** (``experiments.ladder.exploration = ε``): when ``u < ε`` the decision picks
uniformly among the ``k`` eligible candidates and "no action" (index ``⌊u/ε·(k+1)⌋``, since
``u/ε`` is uniform on [0, 1) given ``u < ε``); otherwise the greedy choice stands. The probability
of the chosen action ``a`` is exactly ``ε/(k+1) + (1−ε)·1[a is the greedy choice]``
(:func:`draw`).

**Thompson sampling** across the non-holdout arms of a pilot (Agrawal & Goyal 2012, "Analysis of
Thompson sampling for the multi-armed bandit problem", COLT): each arm's share is the posterior
probability that it is the best arm (Beta posteriors of a binary outcome), mixed with a floor so
that no arm starves: ``share = floor + (1 − K·floor)·P(arm is best)``. ``P(arm is best)`` is
estimated by a fixed-seed Monte Carlo of ``DRAWS`` joint posterior draws, so it is deterministic
(standard error at most ``0.5/√DRAWS`` = 0.005). The arm is then chosen by the customer's bucket
against these shares (:func:`cvm.experiments.assign.arm_for`), so the share actually applied, in
whole buckets of 1/10,000, *is* the selection probability: the Monte Carlo error moves the shares
away from exact Thompson probabilities by at most that much, never the logged probability away
from the truth.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cvm.contracts.decisionlog import NO_ACTION

DRAWS = 10_000
"""Joint posterior draws of the Monte Carlo behind :func:`thompson_shares`."""
SEED = 18


def uniform(salt: str, customer_id: str, key: str) -> float:
    """The hash-based uniform number in [0, 1) of one draw.

    Examples
    --------
    >>> uniform("explore", "c1", "2025-03-04") == uniform("explore", "c1", "2025-03-04")
    True
    >>> 0.0 <= uniform("explore", "c1", "2025-03-04") < 1.0
    True
    """
    digest = hashlib.sha256(f"{salt}|{customer_id}|{key}".encode()).hexdigest()
    return int(digest[:15], 16) / 16**15


@dataclass(frozen=True)
class Draw:
    """The outcome of the exploration draw: the chosen option (an index into the options) and its probability."""

    index: int
    """Index into the eligible candidates; ``len(eligible)`` stands for no action."""
    probability: float
    explored: bool


def draw(actions: Sequence[str], greedy: int, epsilon: float, u: float) -> Draw:
    """Choose among ``actions`` (eligible, in ranking order) and no action; ``greedy`` is the policy's index.

    ``greedy == len(actions)`` means the policy itself chooses no action. The probability is that of
    the chosen *action id* (candidates sharing an action id add up).

    Examples
    --------
    >>> d = draw(["a", "b"], 0, 0.3, 0.5)  # u ≥ ε: the greedy choice, 0.3/3 + 0.7
    >>> d.index, round(d.probability, 9), d.explored
    (0, 0.8, False)
    >>> d = draw(["a", "b"], 0, 0.3, 0.25)  # u < ε: uniform, option ⌊0.25/0.3·3⌋ = 2, no action
    >>> d.index, round(d.probability, 9), d.explored
    (2, 0.1, True)
    """
    options = [*actions, NO_ACTION]
    explored = epsilon > 0 and u < epsilon
    index = min(int(u / epsilon * len(options)), len(options) - 1) if explored else greedy
    return Draw(index, probability(options, greedy, index, epsilon), explored)


def probability(options: Sequence[str], greedy: int, index: int, epsilon: float) -> float:
    """``P(options[index])`` under ε-uniform exploration around ``greedy`` (same ids add up)."""
    chosen = options[index]
    same = sum(1 for o in options if o == chosen)
    p = epsilon * same / len(options) + (1.0 - epsilon) * (options[greedy] == chosen)
    return min(1.0, p)


def thompson_shares(
    arms: Sequence[str], posteriors: Mapping[str, tuple[float, float]], floor: float, mass: float = 1.0
) -> tuple[tuple[str, float], ...]:
    """Each arm's share of ``mass``: ``floor + (1 − K·floor)·P(arm is best)`` under Beta posteriors.

    An arm without a posterior gets the flat prior Beta(1, 1). ``floor`` is capped at ``1/K``.

    Examples
    --------
    >>> shares = thompson_shares(["a", "b"], {"a": (1.0, 1.0), "b": (1.0, 1.0)}, 0.1)
    >>> [(n, round(s, 2)) for n, s in shares]
    [('a', 0.5), ('b', 0.5)]
    """
    if not arms:
        return ()
    params = tuple(tuple(float(x) for x in posteriors.get(a, (1.0, 1.0))) for a in arms)
    best = _p_best(params)
    k = len(arms)
    f = min(floor, 1.0 / k)
    return tuple((a, mass * (f + (1.0 - k * f) * b)) for a, b in zip(arms, best, strict=True))


@lru_cache(maxsize=256)
def _p_best(params: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    """Fixed-seed Monte Carlo of ``P(arm i has the largest draw)`` for Beta posteriors (ties: first arm)."""
    rng = random.Random(SEED)
    wins = [0] * len(params)
    for _ in range(DRAWS):
        values = [rng.betavariate(max(a, 1e-9), max(b, 1e-9)) for a, b in params]
        wins[values.index(max(values))] += 1
    return tuple(w / DRAWS for w in wins)
