"""Uplift from the outcome's events: each action's change of every event's probability, valued per customer.

:class:`ComponentUplift` fits one :class:`~cvm.models.uplift_multi.MultiUplift` (the DR-learner of Kennedy 2020 on
LightGBM, same cross-fitting, same logged propensities) per binary event of a decision's outcome (conversion,
churn, default, complaint, unsubscribe): each gives Δpₑ(x), the action's change of the event's probability over
the horizon against no action. The uplift in currency is

    τₐ(x) = Σₑ Δpₑ,ₐ(x) × vₑ(x)

with vₑ(x) the money value of the event for that customer (a conversion is worth the margin of one order, a churn
costs the margin the customer would have brought, ...), given per row by the caller (:mod:`cvm.scoring.uplift_values`
evaluates ``plans.uplift.values``). A 0/1 event has a variance of at most ¼, where a currency margin over 90 days
varies by hundreds: the events carry the action's signal with far less noise. Unbiased for the action's effect on
margin when the action acts on margin only through these events and their values (the assumption of
``outcome: components``; docs/uplift.md).

With ``pessimism`` > 0 the uplift is a lower bound: τₐ(x) − pessimism × √Σₑ (seₑ,ₐ × vₑ(x))² (:meth:`penalty`), so
an action learnt from few decisions is trusted least on the customers whose events are worth most; with
``pooled_events`` and the ``pools`` of :meth:`fit` the actions of one pool (one channel) share those events' effect
models.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = pd.DataFrame({"age": rng.uniform(0, 1, 2000)})
>>> chosen = np.where(rng.random(2000) < 0.5, "mail", "none")
>>> converted = rng.random(2000) < 0.1 + 0.5 * x["age"].to_numpy() * (chosen == "mail")
>>> model = ComponentUplift(n_estimators=50).fit(x, {"converted": converted}, chosen, np.full(2000, 0.5))
>>> dp = model.predict_events(pd.DataFrame({"age": [0.1, 0.9]}))["converted"]["mail"]
>>> bool(dp[1] > dp[0])
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from cvm.models.base import Estimator, Interval
from cvm.models.tabular import check_meta, meta_record, window_of
from cvm.models.uplift_multi import MultiUplift

FORMAT = 1


class ComponentUplift(Estimator):
    """One DR uplift model per outcome event; see the module docstring.

    Parameters
    ----------
    values
        Event → its value expression (recorded with the model, so scoring values the events as training did).
    pooled_events
        The events whose effect models the actions of one pool share (``pools`` of :meth:`fit`).
    baseline, folds, min_propensity, min_rows, n_estimators, learning_rate, num_leaves, min_child_samples,
    effect_n_estimators, effect_num_leaves, effect_min_child_samples, shrink, random_state, n_jobs
        As :class:`~cvm.models.uplift_multi.MultiUplift`, for every event's model.
    """

    model_name: ClassVar[str] = "uplift_components"
    _fitted_attribute: ClassVar[str] = "models_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **MultiUplift._parameter_constraints,
        "values": [dict],
        "pooled_events": [list],
        "pessimism": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        values: dict[str, str] | None = None,
        pooled_events: list[str] | None = None,
        pessimism: float = 0.0,
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
        self.values = values if values is not None else {}
        self.pooled_events = pooled_events if pooled_events is not None else []
        self.pessimism = pessimism
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

    def _multi(self) -> MultiUplift:
        params = self.get_params(deep=False)
        params.pop("values")
        params.pop("pooled_events")
        params.pop("pessimism")
        return MultiUplift(**params)

    def fit(
        self,
        x: Any,
        events: Mapping[str, Any],
        chosen: Any,
        propensity: Any,
        *,
        eligible: Mapping[str, Any] | None = None,
        actions: Sequence[str] | None = None,
        pools: Mapping[str, str] | None = None,
        training_window: tuple[Any, Any] | None = None,
    ) -> Self:
        """Fit a :class:`MultiUplift` of each event's 0/1 indicator; an event valued at the constant 0, or that
        never (or always) happened, is left out (``skipped_events_`` says so): its change is 0 for every action.
        ``pools`` (action → pool key, e.g. its channel) is passed to the models of ``pooled_events``.
        Returns ``self``."""
        self._check_params()
        models: dict[str, MultiUplift] = {}
        skipped: dict[str, str] = {}
        for event, flags in events.items():
            y = np.asarray(flags, dtype=np.float64).ravel()
            if _zero(self.values.get(event)):
                skipped[event] = "valued at 0 (plans.uplift.values)"
                continue
            if y.size and (y.min() == y.max()):
                skipped[event] = f"always {int(y[0])} in the training decisions"
                continue
            pooled = pools if event in self.pooled_events else None
            models[event] = self._multi().fit(
                x, y, chosen, propensity, eligible=eligible, actions=actions, pools=pooled
            )
        if not models:
            raise ValueError(f"no outcome event varies in the training decisions ({'; '.join(skipped.values())})")
        first = next(iter(models.values()))
        self.models_, self.skipped_events_ = models, skipped
        self.actions_ = sorted({str(a) for m in models.values() for a in m.actions_})
        self.features_, self.skipped_ = first.features_, dict(first.skipped_)
        self.training_window_ = window_of(training_window)
        return self

    def predict_events(self, x: Any) -> dict[str, pd.DataFrame]:
        """Δp of each modelled event: event → frame with one column per action (0 where an event's model lacks it)."""
        self._check_fitted()
        out = {}
        for event, model in self.models_.items():
            frame = model.predict(x)
            out[event] = frame.reindex(columns=self.actions_, fill_value=0.0)
        return out

    def predict(self, x: Any, values: pd.DataFrame | None = None) -> pd.DataFrame:
        """Uplift in currency Σₑ Δpₑ × vₑ − ``pessimism`` × its standard error (:meth:`penalty`), one column per
        action; ``values`` holds vₑ per row in a column per event (an event missing there, or a NaN, is worth 0).
        Without ``values`` the Δp are summed unweighted."""
        parts = self.predict_events(x)
        index = next(iter(parts.values())).index
        total = pd.DataFrame(0.0, index=index, columns=self.actions_)
        for event, dp in parts.items():
            total += dp.to_numpy() * _weight(values, event, len(index))[:, None]
        return total - self.penalty(index, values)

    def penalty(self, index: pd.Index, values: pd.DataFrame | None = None) -> pd.DataFrame:
        """``pessimism`` × the standard error of Σₑ Δpₑ × vₑ per row and action, each event's change taken as
        known to the standard error of its action's average effect (``se_`` of its model), independent across
        events: √Σₑ (seₑ,ₐ × vₑ)². Largest for an action learnt from few decisions, on the customers whose
        events are worth most: a lower confidence bound, so a guess is trusted least where it could cost most."""
        spread = np.zeros((len(index), len(self.actions_)))
        for event, model in self.models_.items():
            se = np.array([model.se_.get(a, 0.0) for a in self.actions_])
            spread += (se[None, :] * _weight(values, event, len(index))[:, None]) ** 2
        return pd.DataFrame(self.pessimism * np.sqrt(spread), index=index, columns=self.actions_)

    def to_dict(self) -> dict[str, Any]:
        """Metadata (with the events) and one child document per event model (a sub-folder each)."""
        self._check_fitted()
        meta = {
            "parameters": self.get_params(deep=False),
            "training_window": self.training_window_,
            "features": self.features_,
            "metrics": {"skipped_events": self.skipped_events_, "skipped": self.skipped_},
        }
        doc = meta_record(self.model_name, FORMAT, meta)
        doc["events"] = list(self.models_)
        doc["skipped_events"] = dict(self.skipped_events_)
        doc["children"] = {f"event_{e}": m.to_dict() for e, m in self.models_.items()}
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; one lacking a field or an event model is refused."""
        doc = check_meta(doc, cls.model_name, FORMAT, extra=("events",))
        children = doc.get("children", {})
        events = [str(e) for e in doc["events"]]
        missing = [f"event_{e}" for e in events if f"event_{e}" not in children]
        if missing or not events:
            raise ValueError(f"saved component uplift model lacks the event model(s) {', '.join(missing) or 'all'}")
        model = cls(**doc["parameters"])
        models = {e: MultiUplift.from_dict(children[f"event_{e}"]) for e in events}
        first = next(iter(models.values()))
        model.models_ = models
        model.skipped_events_ = {str(k): str(v) for k, v in doc.get("skipped_events", {}).items()}
        model.actions_ = sorted({str(a) for m in models.values() for a in m.actions_})
        model.features_, model.skipped_ = first.features_, dict(first.skipped_)
        model.training_window_ = doc["training_window"]
        return model


def _weight(values: pd.DataFrame | None, event: str, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """vₑ per row: 1 without ``values``, 0 where the event (or a row's value) is missing."""
    if values is None:
        return np.ones(n)
    if event not in values.columns:
        return np.zeros(n)
    return np.asarray(np.nan_to_num(values[event].to_numpy(dtype=np.float64)), dtype=np.float64)


def _zero(text: str | None) -> bool:
    """Whether a value expression is the constant 0 (its event cannot change the uplift: no model is fitted)."""
    try:
        return text is not None and float(text) == 0.0
    except ValueError:
        return False
