"""Multi-treatment uplift: the incremental outcome of each action against no action, from logged decisions.

:class:`MultiUplift` is the doubly robust learner (DR-learner; Kennedy 2020, "Towards optimal doubly robust
estimation of heterogeneous causal effects", arXiv:2004.14497) on LightGBM (Ke et al. 2017), one contrast per
action ``a`` against the baseline (``"none"``: no action), trained from decisions whose choice was randomised
with a known (logged) probability:

1. nuisance models of the outcome, cross-fitted over ``folds`` folds: μ₀(x) on the rows where the baseline was
   chosen, μₐ(x) on the rows where ``a`` was chosen; each row is predicted by models that did not see it;
2. the DR pseudo-outcome of every row where ``a`` was a candidate, with πᵢ the logged probability of the choice
   the policy made for that row (floored at ``min_propensity``)::

       φᵢ = μₐ(xᵢ) − μ₀(xᵢ) + 1[Aᵢ = a]·(yᵢ − μₐ(xᵢ))/πᵢ − 1[Aᵢ = none]·(yᵢ − μ₀(xᵢ))/πᵢ

   (a row where another action was chosen contributes its plug-in μₐ − μ₀ only);
3. the uplift τₐ(x) is a LightGBM regression of φ on x, ``f(x)``, trusted as far as it ranks on decisions it
   did not see: its out-of-fold predictions (same folds) give the slope β of φ on their deviation from their mean
   (the best linear predictor of Chernozhukov, Demirer, Duflo and Fernández-Val 2018, "Generic machine learning
   inference on heterogeneous treatment effects", arXiv:1712.04802), clipped to [0, 1], and

       τₐ(x) = f̄ + β·(f(x) − f̄)        (f̄: the mean of f over the action's rows)

   so an effect model whose differences between customers do not hold out (β ≈ 0, typical of an action with few
   randomised decisions) falls back to the action's average effect, and one whose do keeps them (``trust_``);
4. ``se_``: the standard error of each action's average effect (the mean of its pseudo-outcomes), for a lower
   confidence bound (:class:`~cvm.models.uplift_components.ComponentUplift`'s ``pessimism``).

Actions that act alike (``pools``, e.g. one channel) share one effect model of step 3, fitted on their stacked
pseudo-outcomes with the action as a feature (:mod:`cvm.models.uplift_pool`).

The logged probability is all the learner needs of the policy: it is the true probability of the logged choice,
so the correction terms are unbiased whatever the logging policy favoured (a policy that contacts the customers
who would buy anyway confounds a two-model learner, not this one). ``y`` is any outcome in currency, here the
margin over the horizon before the contact's cost (the decision subtracts that cost once).

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = pd.DataFrame({"age": rng.uniform(0, 1, 2000)})
>>> chosen = np.where(rng.random(2000) < 0.5, "mail", "none")
>>> y = 10 * x["age"].to_numpy() * (chosen == "mail") + rng.normal(0, 1, 2000)
>>> model = MultiUplift(n_estimators=50).fit(x, y, chosen, np.full(2000, 0.5))
>>> tau = model.predict(pd.DataFrame({"age": [0.1, 0.9]}))["mail"]
>>> bool(tau[1] > tau[0])
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Self

import lightgbm as lgb
import numpy as np
import pandas as pd

from cvm.models.base import Estimator, Interval
from cvm.models.tabular import TabularSchema, check_meta, meta_record, to_pandas, window_of
from cvm.models.uplift_pool import marked, pooled_groups

FORMAT = 1
FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def dr_pseudo_outcome(
    y: Any, treated: Any, control: Any, propensity: Any, mu_treated: Any, mu_control: Any
) -> FloatArray:
    """The DR pseudo-outcome φ of the module docstring, row by row.

    Examples
    --------
    >>> dr_pseudo_outcome([5.0, 1.0, 2.0], [1, 0, 0], [0, 1, 0], [0.5, 0.25, 0.5], [4.0, 4.0, 4.0], [1.0, 1.0, 1.0])
    array([5., 3., 3.])
    """
    ya, pa = np.asarray(y, dtype=np.float64), np.asarray(propensity, dtype=np.float64)
    ta, ca = np.asarray(treated, dtype=bool), np.asarray(control, dtype=bool)
    m1, m0 = np.asarray(mu_treated, dtype=np.float64), np.asarray(mu_control, dtype=np.float64)
    return np.asarray(m1 - m0 + np.where(ta, (ya - m1) / pa, 0.0) - np.where(ca, (ya - m0) / pa, 0.0))


class MultiUplift(Estimator):
    """Doubly robust multi-treatment uplift (each action against ``baseline``); see the module docstring.

    Parameters
    ----------
    baseline
        The choice every action is compared with (``"none"``: no action).
    folds
        Cross-fitting folds of the nuisance models.
    min_propensity
        Floor of the logged probabilities in the pseudo-outcome (limits the variance of rare choices).
    min_rows
        Fewest rows an action (and the baseline) needs among the training rows; an action with fewer is left
        out (``skipped_`` says why).
    n_estimators, learning_rate, num_leaves, min_child_samples
        LightGBM settings of every model (nuisance and final).
    effect_n_estimators, effect_num_leaves, effect_min_child_samples
        The same settings of the final (effect) models only; ``None``: as the nuisance models. An effect is
        smoother than an outcome and its pseudo-outcome far noisier, so it may want fewer, shallower trees on
        larger leaves.
    shrink
        Shrink each effect model toward the action's average by its cross-fitted reliability (step 3 of the module
        docstring); ``False``: the effect model as fitted (``trust_`` 1).
    random_state, n_jobs
        Seed of the folds and of LightGBM; LightGBM threads (0: its default).
    """

    model_name: ClassVar[str] = "uplift_multi"
    _fitted_attribute: ClassVar[str] = "boosters_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "baseline": [str],
        "folds": [Interval(Integral, 2, None, closed="left")],
        "min_propensity": [Interval(Real, 0, 1, closed="neither")],
        "min_rows": [Interval(Integral, 1, None, closed="left")],
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="right")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "effect_n_estimators": [Interval(Integral, 1, None, closed="left"), None],
        "effect_num_leaves": [Interval(Integral, 2, None, closed="left"), None],
        "effect_min_child_samples": [Interval(Integral, 1, None, closed="left"), None],
        "shrink": ["boolean"],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        baseline: str = "none",
        folds: int = 5,
        min_propensity: float = 0.01,
        min_rows: int = 20,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        effect_n_estimators: int | None = None,
        effect_num_leaves: int | None = None,
        effect_min_child_samples: int | None = None,
        shrink: bool = False,
        random_state: int = 0,
        n_jobs: int = 0,
    ) -> None:
        self.baseline = baseline
        self.folds = folds
        self.min_propensity = min_propensity
        self.min_rows = min_rows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.effect_n_estimators = effect_n_estimators
        self.effect_num_leaves = effect_num_leaves
        self.effect_min_child_samples = effect_min_child_samples
        self.shrink = shrink
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _params(self, effect: bool = False) -> dict[str, Any]:
        leaves, least = self.num_leaves, self.min_child_samples
        if effect:
            leaves = self.effect_num_leaves or leaves
            least = self.effect_min_child_samples or least
        return {
            "objective": "regression",
            "learning_rate": self.learning_rate,
            "num_leaves": leaves,
            "min_data_in_leaf": least,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }

    def _booster(self, data: pd.DataFrame, target: FloatArray, effect: bool = False) -> lgb.Booster:
        train = lgb.Dataset(data, target, params={"verbosity": -1}, free_raw_data=True)
        rounds = (self.effect_n_estimators or self.n_estimators) if effect else self.n_estimators
        return lgb.train(self._params(effect), train, num_boost_round=rounds)

    def _effect(self, data: pd.DataFrame, phi: FloatArray, fold: np.ndarray) -> tuple[lgb.Booster, float]:
        """The effect model of ``phi`` and its cross-fitted reliability: the slope of φ on the out-of-fold
        predictions' deviation from their mean (the best linear predictor of Chernozhukov et al. 2018), in [0, 1]."""
        oof = np.empty(len(data), dtype=np.float64)
        for k in range(self.folds):
            fit_rows, rows = fold != k, fold == k
            if not rows.any() or fit_rows.sum() < 2:  # a thin fold: the mean stands in for the model
                oof[rows] = float(phi[fit_rows].mean()) if fit_rows.any() else 0.0
                continue
            oof[rows] = self._booster(data[fit_rows], phi[fit_rows], effect=True).predict(data[rows])
        dev = oof - oof.mean()
        var = float(dev @ dev)
        slope = float(dev @ (phi - phi.mean())) / var if var > 1e-18 else 0.0
        return self._booster(data, phi, effect=True), min(max(slope, 0.0), 1.0)

    def _effects(
        self,
        data: pd.DataFrame,
        stacked: Mapping[str, tuple[np.ndarray, FloatArray]],
        pooled: Mapping[str, list[str]],
        fold: np.ndarray,
    ) -> tuple[dict[str, lgb.Booster], dict[str, float]]:
        """Each action's effect model (one shared by the actions of a pool) and its reliability, from the rows and
        pseudo-outcomes ``stacked`` of every action."""
        boosters: dict[str, lgb.Booster] = {}
        trust: dict[str, float] = {}
        for action, (rows, _) in stacked.items():
            if action in boosters:
                continue
            members = pooled.get(action, [action])
            parts = [marked(data[stacked[m][0]], members, m) if action in pooled else data[rows] for m in members]
            target = np.concatenate([stacked[m][1][stacked[m][0]] for m in members])
            folds = np.concatenate([fold[stacked[m][0]] for m in members])
            stack = pd.concat(parts, ignore_index=True)
            shared, slope = (
                self._effect(stack, target, folds) if self.shrink else (self._booster(stack, target, True), 1.0)
            )
            boosters.update(dict.fromkeys(members, shared))
            trust.update(dict.fromkeys(members, slope))
        return boosters, trust

    def _raw(self, action: str, data: pd.DataFrame) -> FloatArray:
        """The effect model's own prediction of ``action`` (before the reliability shrinkage)."""
        rows = marked(data, self.pooled_[action], action) if action in self.pooled_ else data
        return np.asarray(self.boosters_[action].predict(rows, num_threads=self.n_jobs), dtype=np.float64)

    def _cross_fit(self, data: pd.DataFrame, y: FloatArray, arm: np.ndarray, fold: np.ndarray) -> FloatArray:
        """Out-of-fold predictions for every row of a model of ``y`` fitted on the rows of ``arm``."""
        out = np.empty(len(data), dtype=np.float64)
        for k in range(self.folds):
            fit_rows, rows = arm & (fold != k), fold == k
            if fit_rows.sum() < 2:  # a thin fold: the arm's mean stands in for the model
                out[rows] = float(y[arm].mean())
                continue
            out[rows] = self._booster(data[fit_rows], y[fit_rows]).predict(data[rows], num_threads=self.n_jobs)
        return out

    def fit(
        self,
        x: Any,
        y: Any,
        chosen: Any,
        propensity: Any,
        *,
        eligible: Mapping[str, Any] | None = None,
        actions: Sequence[str] | None = None,
        pools: Mapping[str, str] | None = None,
        training_window: tuple[Any, Any] | None = None,
    ) -> Self:
        """Fit one uplift model per action; returns ``self``.

        Parameters
        ----------
        x
            Customer features at decision time (pandas or polars frame), one row per logged decision.
        y
            Outcome per row (margin over the horizon, currency).
        chosen
            The logged choice per row (an action id or ``baseline``).
        propensity
            The logged probability of that choice, in (0, 1].
        eligible
            Action → boolean per row: was the action a candidate of that decision (default: everywhere).
        actions
            The actions to model (default: every logged choice but the baseline).
        pools
            Action → pool key (e.g. its channel): the modelled actions sharing a key share one effect model,
            fitted on their stacked pseudo-outcomes with the action as a feature (:mod:`cvm.models.uplift_pool`);
            ``pooled_`` records each pooled action's pool.
        training_window
            Recorded in the saved metadata.
        """
        self._check_params()
        frame = to_pandas(x)
        ya = np.asarray(y, dtype=np.float64).ravel()
        choice = np.asarray(chosen, dtype=object).astype(str)
        prob = np.asarray(propensity, dtype=np.float64).ravel()
        if not (len(frame) == ya.size == choice.size == prob.size):
            raise ValueError(f"x has {len(frame)} rows, y {ya.size}, chosen {choice.size}, propensity {prob.size}")
        if np.isnan(ya).any():
            raise ValueError("y has missing outcomes; drop those rows first")
        if np.isnan(prob).any() or (prob <= 0).any() or (prob > 1).any():
            raise ValueError("propensity must lie in (0, 1] on every row (the logged probability of the choice)")
        control = choice == self.baseline
        if control.sum() < self.min_rows:
            raise ValueError(
                f"{int(control.sum())} rows chose {self.baseline!r}; the baseline needs min_rows={self.min_rows}"
            )
        schema = TabularSchema.learn(frame)
        data = schema.transform(frame)
        fold = np.random.default_rng(self.random_state).permutation(len(data)) % self.folds
        pi = np.maximum(prob, self.min_propensity)
        mu0 = self._cross_fit(data, ya, control, fold)
        wanted = sorted(set(choice) - {self.baseline}) if actions is None else list(actions)
        counts: dict[str, dict[str, int]] = {}
        skipped: dict[str, str] = {}
        stacked: dict[str, tuple[np.ndarray, FloatArray]] = {}
        se: dict[str, float] = {}
        for action in wanted:
            treated = choice == action
            rows = np.ones(len(data), dtype=bool)
            if eligible is not None and action in eligible:
                rows = np.asarray(eligible[action], dtype=bool).ravel() | treated
            if treated.sum() < self.min_rows:
                skipped[action] = f"{int(treated.sum())} rows chose it, fewer than min_rows={self.min_rows}"
                continue
            mu1 = self._cross_fit(data, ya, treated, fold)
            stacked[action] = (rows, dr_pseudo_outcome(ya, treated, control, pi, mu1, mu0))
            se[action] = float(np.std(stacked[action][1][rows], ddof=1) / np.sqrt(max(int(rows.sum()) - 1, 1)))
            counts[action] = {
                "treated": int(treated.sum()),
                "control": int((control & rows).sum()),
                "rows": int(rows.sum()),
            }
        pooled = pooled_groups(pools, list(stacked))
        boosters, trust = self._effects(data, stacked, pooled, fold)
        if not boosters:
            why = "; ".join(f"{a}: {r}" for a, r in skipped.items()) or "no action was logged"
            raise ValueError(f"no action has min_rows={self.min_rows} rows ({why})")
        self.schema_, self.boosters_ = schema, boosters
        self.actions_, self.counts_, self.skipped_ = list(boosters), counts, skipped
        self.pooled_, self.se_, self.trust_ = pooled, se, trust
        self.centre_ = {a: float(np.mean(self._raw(a, data[stacked[a][0]]))) for a in boosters}
        self.features_ = schema.columns
        self.training_window_ = window_of(training_window)
        return self

    def predict(self, x: Any) -> pd.DataFrame:
        """Predicted uplift against the baseline, one column per action (index of ``x``)."""
        self._check_fitted()
        frame = to_pandas(x)
        data = self.schema_.transform(frame)
        out = {}
        for a in self.boosters_:
            centre = self.centre_.get(a, 0.0)
            out[a] = centre + self.trust_.get(a, 1.0) * (self._raw(a, data) - centre)
        return pd.DataFrame(out, index=frame.index, columns=self.actions_)

    def to_dict(self) -> dict[str, Any]:
        """Metadata, ``state`` (schema, actions, counts) and one LightGBM text sidecar per action."""
        self._check_fitted()
        meta = {
            "parameters": self.get_params(deep=False),
            "training_window": self.training_window_,
            "features": self.features_,
            "metrics": {"counts": self.counts_, "skipped": self.skipped_, "pooled": self.pooled_, "trust": self.trust_},
        }
        doc = meta_record(self.model_name, FORMAT, meta)
        doc["state"] = {"schema": self.schema_.to_dict(), "actions": self.actions_, "counts": self.counts_,
                        "skipped": self.skipped_, "pooled": self.pooled_, "se": self.se_, "trust": self.trust_,
                        "centre": self.centre_}  # fmt: skip
        doc["sidecars"] = {f"uplift_{k}.txt": self.boosters_[a].model_to_string() for k, a in enumerate(self.actions_)}
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; one lacking a field or a booster is refused."""
        doc = check_meta(doc, cls.model_name, FORMAT, extra=("state", "sidecars"))
        state, sidecars = doc["state"], doc["sidecars"]
        actions = [str(a) for a in state["actions"]]
        missing = [f"uplift_{k}.txt" for k in range(len(actions)) if f"uplift_{k}.txt" not in sidecars]
        if missing:
            raise ValueError(f"saved uplift model lacks {', '.join(missing)}; refusing to load it")
        model = cls(**doc["parameters"])
        model.schema_ = TabularSchema.from_dict(state["schema"])
        model.boosters_ = {a: lgb.Booster(model_str=sidecars[f"uplift_{k}.txt"]) for k, a in enumerate(actions)}
        model.actions_, model.counts_ = actions, {str(k): dict(v) for k, v in state["counts"].items()}
        model.skipped_ = {str(k): str(v) for k, v in state.get("skipped", {}).items()}
        model.pooled_ = {str(k): [str(m) for m in v] for k, v in state.get("pooled", {}).items()}
        model.se_ = {str(k): float(v) for k, v in state.get("se", {}).items()}
        model.trust_ = {str(k): float(v) for k, v in state.get("trust", {}).items()}
        model.centre_ = {str(k): float(v) for k, v in state.get("centre", {}).items()}
        model.features_ = model.schema_.columns
        model.training_window_ = doc["training_window"]
        return model
