"""Uplift: the pinned Qini and uplift-at-k definitions on hand-computed vectors, and the two-model estimator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cvm.experiments.uplift import TwoModelUplift, qini_coefficient, qini_curve, uplift_at_k

# Eight customers, already in descending score order.
Y = [1, 1, 0, 1, 0, 0, 1, 0]
T = [1, 0, 1, 1, 0, 1, 0, 0]
S = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]


def test_qini_curve_test_vector() -> None:
    # Q(k) = Yt(k) − Yc(k)·Nt(k)/Nc(k), Yt(k) while Nc(k) = 0:
    # k=1 T1: 1 | k=2 C1: 1−1 = 0 | k=3 T0: 1−1·2 = −1 | k=4 T1: 2−1·3 = −1 | k=5 C0: 2−1·3/2 = 0.5
    # k=6 T0: 2−1·4/2 = 0 | k=7 C1: 2−2·4/3 = −2/3 | k=8 C0: 2−2·4/4 = 0
    k, q = qini_curve(Y, T, S)
    assert k.tolist() == list(range(9))
    assert q == pytest.approx([0, 1, 0, -1, -1, 0.5, 0, -2 / 3, 0])
    # Q(n) = 0, so the random line is 0 and the coefficient is the mean of Q(1..8)
    assert qini_coefficient(Y, T, S) == pytest.approx((1 + 0 - 1 - 1 + 0.5 + 0 - 2 / 3 + 0) / 8)


def test_qini_sorts_by_score_and_keeps_ties_in_input_order() -> None:
    order = [3, 0, 7, 1, 5, 2, 6, 4]
    shuffled = [S[i] for i in order], [Y[i] for i in order], [T[i] for i in order]
    _k, q = qini_curve(shuffled[1], shuffled[2], shuffled[0])
    assert q == pytest.approx([0, 1, 0, -1, -1, 0.5, 0, -2 / 3, 0])
    _k, tied = qini_curve([1, 0, 0, 1], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5])
    # input order kept: T1, C0, T0, C1 -> 1, 1 − 0, 1 − 0·2/1, 1 − 1·2/2
    assert tied == pytest.approx([0, 1, 1, 1, 0])


def test_uplift_at_k_test_vector() -> None:
    # top 4: treated y = 1, 0, 1 (mean 2/3), control y = 1 (mean 1)
    assert uplift_at_k(Y, T, S, 0.5) == pytest.approx(2 / 3 - 1)
    # top ⌈0.25·8⌉ = 2: treated [1], control [1]
    assert uplift_at_k(Y, T, S, 0.25) == pytest.approx(0.0)
    assert math.isnan(uplift_at_k(Y, T, S, 0.125))  # only one treated customer: no control to compare
    assert uplift_at_k(Y, T, S, 1.0) == pytest.approx(2 / 4 - 2 / 4)
    with pytest.raises(ValueError, match="fraction"):
        uplift_at_k(Y, T, S, 0.0)


def test_a_perfect_ranking_beats_random() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    responsive = rng.random(n) < 0.3
    t = rng.random(n) < 0.5
    y = (rng.random(n) < 0.1 + 0.3 * (responsive & t)).astype(int)
    good = qini_coefficient(y, t, responsive + rng.random(n) * 0.1)
    noise = qini_coefficient(y, t, rng.random(n))
    assert good > 3 * abs(noise)
    assert uplift_at_k(y, t, responsive + rng.random(n) * 0.1, 0.3) == pytest.approx(0.3, abs=0.05)


def _segmented(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three features; only segment x0 > 0.6 responds (+25 points), x1 shifts the base rate for everyone."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3))
    responsive = x[:, 0] > 0.6
    t = rng.random(n) < 0.5
    p = 0.1 + 0.2 * x[:, 1] + 0.25 * (responsive & t)
    return x, (rng.random(n) < p).astype(int), t, responsive


@pytest.mark.parametrize("estimator", ["logistic", "lightgbm"])
def test_two_model_uplift_ranks_the_responsive_segment_first(estimator: str) -> None:
    x, y, t, _ = _segmented(20_000, 2)
    model = TwoModelUplift(estimator).fit(x, y, t)
    xt, yt, tt, responsive = _segmented(10_000, 3)
    score = model.predict(xt)
    top = np.argsort(-score, kind="stable")[: int(responsive.sum())]
    assert responsive[top].mean() > 0.85  # the top of the ranking is the responsive segment
    assert score[responsive].mean() > score[~responsive].mean() + 0.15
    assert uplift_at_k(yt, tt, score, 0.3) > 0.18
    assert qini_coefficient(yt, tt, score) > qini_coefficient(yt, tt, xt[:, 1])


def test_two_model_uplift_continuous_and_checks() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 2))
    t = rng.random(2000) < 0.5
    y = x[:, 0] + t * (2.0 * (x[:, 1] > 0))
    model = TwoModelUplift("linear", outcome="continuous").fit(x, y, t)
    assert model.predict([[0.0, 1.0]])[0] > model.predict([[0.0, -1.0]])[0]
    with pytest.raises(RuntimeError, match="not fitted"):
        TwoModelUplift().predict(x)
    with pytest.raises(ValueError, match="treated and control"):
        TwoModelUplift().fit(x, (y > 0).astype(int), np.ones(2000))
    with pytest.raises(ValueError, match="0 and 1"):
        TwoModelUplift().fit(x, y, t)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((2, 3)))
