"""Off-policy evaluation: a hand-computed example, unbiasedness and interval coverage on logs with known truth."""

from __future__ import annotations

import dataclasses
import math
import statistics
from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import t as student_t

from cvm.contracts.decisionlog import CandidateTerms, DecisionOutcome, DecisionRecord
from cvm.experiments import ope, ope_sim
from cvm.experiments.policies import configured, expected_contacts, policy_named


def _tiny() -> tuple[ope.LoggedBandit, np.ndarray, np.ndarray]:
    """Four decisions, actions (none, a); the target policy and the reward model's predictions q."""
    data = ope.LoggedBandit(
        actions=("none", "a"),
        chosen=np.array([1, 0, 1, 0]),
        propensity=np.array([0.5, 0.5, 0.25, 0.75]),
        reward=np.array([10.0, 3.0, 6.0, 2.0]),
        available=np.ones((4, 2), dtype=bool),
        features=np.zeros((4, 0)),
        terms=np.zeros((4, 2, len(ope.TERMS))),
    )
    target = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])
    q = np.array([[4.0, 8.0], [4.0, 8.0], [2.0, 5.0], [3.0, 4.0]])
    return data, target, q


def test_the_doubly_robust_estimate_matches_a_hand_computed_example() -> None:
    data, target, q = _tiny()
    # DR contribution = Σ_a π(a|x) q(x,a) + π(a_i|x)/p_i · (r_i − q(x,a_i)):
    # 1: 8 + (1/0.5)(10 − 8) = 12      2: 8 + (0/0.5)(3 − 4) = 8
    # 3: 2 + (0/0.25)(6 − 5) = 2       4: (0.5·3 + 0.5·4) + (0.5/0.75)(2 − 3) = 3.5 − 2/3 = 17/6
    dr = [12.0, 8.0, 2.0, 17 / 6]
    assert ope.contributions(data, target, "dr", q).tolist() == pytest.approx(dr)
    # the no-action policy: 1: 4 + 0 = 4   2: 4 + (1/0.5)(3 − 4) = 2   3: 2 + 0 = 2   4: 3 + (1/0.75)(2 − 3) = 5/3
    none = [4.0, 2.0, 2.0, 5 / 3]
    result = ope.evaluate(data, target, q)
    assert result.value["dr"].value == pytest.approx(sum(dr) / 4)  # 6.2083
    diff = [a - b for a, b in zip(dr, none, strict=True)]  # 8, 6, 0, 7/6
    inc = result.incremental["dr"]
    assert inc.value == pytest.approx(sum(diff) / 4)  # 3.7917
    se = statistics.stdev(diff) / math.sqrt(4)
    # four customers, unequally spread: Satterthwaite's (ΣS²)²/ΣS⁴ − 1 = 2.25 degrees of freedom, t = 3.87 (not 1.96)
    t = _t95([d - sum(diff) / 4 for d in diff])
    assert t == pytest.approx(3.874, abs=0.001)
    assert (inc.ci_low, inc.ci_high) == pytest.approx((sum(diff) / 4 - t * se, sum(diff) / 4 + t * se))
    # IPS: (2·10 + 0 + 0 + (2/3)·2) / 4 = 16/3;  SNIPS: (20 + 4/3) / (2 + 2/3) = 8
    assert result.value["ips"].value == pytest.approx(16 / 3 / 1)  # 5.3333
    assert result.value["snips"].value == pytest.approx(8.0)
    # expected contacts: 1 + 1 + 0 + 0.5 over four decisions
    assert result.contacts == pytest.approx(0.625)


def test_the_paired_difference_of_two_policies_matches_a_hand_computed_example() -> None:
    data, target, q = _tiny()
    other = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.5, 0.5]])  # differs on decisions 1 and 3 only
    # DR of `other`: 1: 4 + 0 = 4   2: 8 (as target)   3: 5 + (1/0.25)(6 − 5) = 9   4: 17/6 (as target)
    # target − other: 12 − 4 = 8, 0, 2 − 9 = −7, 0: the decisions both treat alike add exactly 0
    diff = [8.0, 0.0, -7.0, 0.0]
    got = ope.difference(data, target, other, q)["dr"]
    se = statistics.stdev(diff) / math.sqrt(4)
    # two customers carry all of it (centred 7.75 and −7.25): one degree of freedom, t(0.975, 1) = 12.706 (tables)
    assert _t95([d - 0.25 for d in diff]) == pytest.approx(12.706, abs=0.001)
    assert (got.value, got.ci_low, got.ci_high) == pytest.approx(
        (0.25, 0.25 - 12.706 * se, 0.25 + 12.706 * se), abs=1e-3
    )
    # against no action it is the incremental value of `evaluate`, interval included
    assert (
        ope.difference(data, target, ope.none_matrix(data), q)["dr"] == ope.evaluate(data, target, q).incremental["dr"]
    )
    # an interval that includes 0: n × (1.96 se / |value|)² decisions would exclude it at this difference
    assert ope.decisions_needed(got, 4) == math.ceil(4 * (ope.Z95 * got.se / 0.25) ** 2)
    assert ope.decisions_needed(ope.Estimate(5.0, 1.0, 3.0, 7.0), 4) is None  # already excludes 0
    with pytest.raises(ValueError, match="not available"):
        ope.difference(replace_available(data), target, other, q)


def replace_available(data: ope.LoggedBandit) -> ope.LoggedBandit:
    available = data.available.copy()
    available[1, 1] = False
    return dataclasses.replace(data, available=available)


@pytest.mark.slow  # about 4 s on 2 shared cores
def test_paired_intervals_of_a_policy_difference_cover_the_truth_and_are_narrower_than_separate_ones() -> None:
    truth = ope_sim.true_values()
    rng = np.random.default_rng(21)
    covered, narrower, reps = 0, 0, 200
    for _ in range(reps):
        data, pol = ope_sim.simulate(rng, 2_000)
        q = ope.cross_fit_rewards(data)
        est = ope.difference(data, pol["incremental"], pol["propensity"], q)["dr"]
        covered += int(est.ci_low <= truth["incremental"] - truth["propensity"] <= est.ci_high)
        inc, prop = (ope.evaluate(data, pol[n], q).incremental["dr"] for n in ("incremental", "propensity"))
        narrower += int(est.se < math.hypot(inc.se, prop.se))
    assert 0.92 <= covered / reps <= 0.98
    assert narrower == reps  # pairing removes what the two policies share


def test_ips_and_dr_are_unbiased_on_simulated_logs_even_with_a_wrong_reward_model() -> None:
    truth = ope_sim.true_values()
    rng = np.random.default_rng(3)
    est: dict[str, list[float]] = {"ips": [], "dr": [], "dr_wrong": []}
    for _ in range(60):
        data, pol = ope_sim.simulate(rng, 1_500)
        target = pol["incremental"]
        q = ope.cross_fit_rewards(data)
        base = ope.none_matrix(data)
        for m in ("ips", "dr"):
            est[m].append(float((ope.contributions(data, target, m, q) - ope.contributions(data, base, m, q)).mean()))
        wrong = np.full_like(q, 100.0)  # a useless reward model: DR must stay unbiased (true propensities)
        diff = ope.contributions(data, target, "dr", wrong) - ope.contributions(data, base, "dr", wrong)
        est["dr_wrong"].append(float(diff.mean()))
    for name, values in est.items():
        mc_se = statistics.stdev(values) / math.sqrt(len(values))
        assert abs(statistics.mean(values) - truth["incremental"]) < 3.5 * mc_se, name
    # the cross-fitted reward model narrows DR against IPS
    assert statistics.stdev(est["dr"]) < statistics.stdev(est["ips"])


@pytest.mark.slow  # about 4 s on 2 shared cores: 200 logs × cross-fitted reward models
def test_the_95_percent_intervals_cover_the_true_value_92_to_98_percent_of_200_replications() -> None:
    result = ope_sim.coverage(replications=200, n=2_000, seed=7)
    assert result.truth["incremental"] > result.truth["propensity"]  # the simulation has sleeping dogs
    for method, by_target in result.covered.items():
        for target, share in by_target.items():
            assert 0.92 <= share <= 0.98, (method, target, share)
    pooled = statistics.mean(s for v in result.covered.values() for s in v.values())
    assert 0.93 <= pooled <= 0.97


def _record(i: int, chosen: str, p: float, cands: list[CandidateTerms], rung: str = "explore") -> DecisionRecord:
    return DecisionRecord(
        decision_id=f"d{i}", customer_id=f"c{i}", decided_at=datetime(2026, 1, 1, tzinfo=UTC), path="batch",
        arbitration="propensity", policy_version="t", rung=rung, chosen=chosen, probability=p,  # type: ignore[arg-type]
        candidates=tuple(cands), context={"x": float(i)}, exploration=0.3,
    )  # fmt: skip


def _cand(action: str, ev_p: float, ev_i: float | None, eligible: bool = True) -> CandidateTerms:
    return CandidateTerms(action=action, plan="p", step=action, channel="email", objective="upsell", propensity=0.1,
                          value=1.0, margin=1.0, cost=1.0, ev_propensity=ev_p, ev_incremental=ev_i,
                          eligible=eligible)  # fmt: skip


def test_target_policies_choose_among_eligible_candidates() -> None:
    rec = _record(1, "none", 0.1, [_cand("a", 5.0, -1.0), _cand("b", 2.0, None), _cand("c", 9.0, 9.0, eligible=False)])
    assert policy_named("none")(rec) == {"none": 1.0}
    assert policy_named("propensity")(rec) == {"a": 1.0}  # c is the best but not eligible
    assert policy_named("incremental")(rec) == {"b": 1.0}  # a hurts; b has no uplift model: its propensity value
    assert policy_named("incremental", minimum=2.0)(rec) == {"none": 1.0}  # nothing above the minimum
    current = policy_named("current", arbitration="propensity", exploration=0.3)(rec)
    assert current == pytest.approx({"none": 0.1, "a": 0.8, "b": 0.1})
    assert expected_contacts(current) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="unknown policy"):
        policy_named("best")


def test_configured_reads_the_settings_and_defaults_to_propensity() -> None:
    from cvm.config import Settings

    assert configured(Settings()) == ("propensity", 0.0, 0.0)


def test_the_log_becomes_arrays_without_the_global_holdout_or_decisions_lacking_an_outcome() -> None:
    cands = [_cand("a", 5.0, 1.0), _cand("b", 2.0, 3.0)]
    records = [_record(1, "a", 0.8, cands), _record(2, "b", 0.1, cands),
               _record(3, "none", 1.0, cands, "global_holdout"), _record(4, "none", 0.1, cands),
               _record(5, "none", 1.0, [_cand("a", 1.0, 1.0, eligible=False)])]  # fmt: skip
    outcomes = {f"d{i}": DecisionOutcome(f"d{i}", f"c{i}", "x", 90, margin=float(i)) for i in (1, 2, 3, 5)}
    data, kept = ope.bandit_from_log(records, outcomes)
    assert [r.decision_id for r in kept] == ["d1", "d2"]  # 3: holdout; 4: no outcome yet; 5: nothing eligible
    assert data.actions == ("none", "a", "b")
    assert data.chosen.tolist() == [1, 2]
    assert data.reward.tolist() == [1.0, 2.0]
    assert data.features.tolist() == [[1.0], [2.0]]
    target = ope.target_matrix(policy_named("incremental"), kept, data.actions)
    assert target.tolist() == [[0, 0, 1], [0, 0, 1]]
    bad = [_record(1, "a", 0.0, cands)]
    with pytest.raises(ValueError, match=r"field 'probability' 0\.0 is not in"):
        ope.bandit_from_log(bad, outcomes)


def test_the_standard_error_is_clustered_by_customer() -> None:
    c = np.array([1.0, 3.0, 5.0, 7.0])
    # one customer per decision: sd (ddof 1) / √n = √((9 + 1 + 1 + 9) / 3) / 2
    assert ope.clustered_ci(c).se == pytest.approx(math.sqrt(20 / 3) / 2)
    # two customers of two decisions: centred sums −4 and 4; se = √(G/(G−1) · (16 + 16)) / n = √64 / 4 = 2
    est = ope.clustered_ci(c, np.array([0, 0, 1, 1]))
    assert est.se == pytest.approx(2.0)
    # two customers: (32)² / (16² + 16²) − 1 = 1 degree of freedom, t(0.975, 1) = 12.706
    assert (est.ci_low, est.ci_high) == pytest.approx((4 - 12.706 * 2, 4 + 12.706 * 2), abs=1e-3)
    # many customers alike: the normal 1.96
    wide = ope.clustered_ci(np.tile(c, 500))
    assert wide.ci_high - wide.value == pytest.approx(1.9600 * wide.se, rel=1e-3)


def test_an_interval_resting_on_a_few_large_accounts_widens_to_what_they_allow() -> None:
    """994 customers near 0 and six large accounts' outcomes: the normal interval would claim a sign; this one not."""
    rng = np.random.default_rng(3)
    c = np.concatenate([rng.normal(0.0, 1.0, 994), [300.0, 280.0, 260.0, 240.0, 220.0, 200.0]])
    est = ope.clustered_ci(c)
    assert est.value - 1.96 * est.se > 0  # the normal interval's verdict: above zero, on six accounts
    assert ope.effective_df(c - c.mean()) == pytest.approx(4.69, abs=0.01)  # about six customers carry the variance
    assert est.ci_low < 0 < est.ci_high


def test_clustered_intervals_keep_their_coverage_when_customers_are_decided_on_repeatedly() -> None:
    # 200 customers × 5 decisions sharing a customer effect N(0, 10²): the logged policy's own value
    truth = 10 + ope_sim.true_values()["current"]  # E[μ(x, none)] = 10
    rng = np.random.default_rng(1)
    hits = {"clustered": 0, "naive": 0}
    for _ in range(100):
        data, pol = ope_sim.simulate(rng, 1_000, per_customer=5, customer_sd=10.0)
        c = ope.contributions(data, pol["current"], "dr", ope.cross_fit_rewards(data))
        for name, groups in (("clustered", data.groups), ("naive", None)):
            est = ope.clustered_ci(c, groups)
            hits[name] += int(est.ci_low <= truth <= est.ci_high)
    assert 90 <= hits["clustered"] <= 99
    assert hits["naive"] < 85  # decisions taken as independent: intervals far too narrow


def test_the_customer_bootstrap_interval_agrees_with_the_normal_one_on_a_large_log() -> None:
    data, pol = ope_sim.simulate(np.random.default_rng(4), 3_000, per_customer=3, customer_sd=5.0)
    result = ope.evaluate(data, pol["incremental"], bootstrap=400)
    for m in ope.METHODS:
        normal, boot = result.incremental[m], result.bootstrap[m]
        assert boot.value == normal.value
        assert boot.se == pytest.approx(normal.se, rel=0.15)
        assert abs(boot.ci_low - normal.ci_low) < 0.5 * normal.se
        assert abs(boot.ci_high - normal.ci_high) < 0.5 * normal.se
    assert "bootstrap" in ope.to_dict(result)
    assert "bootstrap" not in ope.to_dict(ope.evaluate(data, pol["incremental"]))


def _t95(centred: list[float]) -> float:
    """The Student 97.5% quantile at Satterthwaite's degrees of freedom, (ΣS²)²/ΣS⁴ − 1 (at least 1), by hand."""
    squares = [x * x for x in centred]
    return float(student_t.ppf(0.975, max(sum(squares) ** 2 / sum(q * q for q in squares) - 1, 1)))
