"""Propensity to buy: one calibrated boosted model per product (cross-sell) plus upsell.

Each target column of ``y`` (e.g. ``adopt_basic``, ``adopt_support``, ``upsell`` from
:func:`cvm.features.labels.adoption_labels`) gets its own
:class:`~cvm.models.churn.BoostedClassifier` (LightGBM, Ke et al. 2017, calibrated on a held-out
fold), trained on the rows where that target is not missing. A missing target marks a customer
who is not eligible, typically because they already hold the product: the model for a product is
thus a cross-sell model over non-holders, and an upgrade to a higher tier shows up as adoption of
that tier by the holders of a lower one. ``upsell`` (MRR expansion) is one more target.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(1)
>>> x = pd.DataFrame({"spend": rng.gamma(2.0, 50.0, 3000), "kind": rng.choice(["B2B", "B2C"], 3000)})
>>> y = pd.DataFrame({"adopt_plus": (rng.random(3000) < x.spend / 800).astype(float)})
>>> model = PropensityModel(n_estimators=40).fit(x, y)
>>> list(model.predict_proba(x.head(2)).columns)
['adopt_plus']
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd

from cvm.models.base import Estimator, Interval
from cvm.models.churn import FORMAT, BoostedClassifier, FloatArray
from cvm.models.files import read_folder, write_folder
from cvm.models.tabular import check_meta, meta_record, to_pandas, window_of

_BOOSTED = BoostedClassifier._parameter_constraints
_SHARED = (
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "min_child_samples",
    "calibration",
    "calibration_fraction",
    "ignore",
    "random_state",
    "n_jobs",
)


class PropensityModel(Estimator):
    """Calibrated probability of adopting each target product within the label horizon.

    Parameters
    ----------
    min_events
        Fewest events (and non-events) a target needs among its eligible rows; fewer is refused.
    n_estimators, learning_rate, num_leaves, min_child_samples, calibration, calibration_fraction
        Passed to each product's :class:`~cvm.models.churn.BoostedClassifier`.
    ignore, random_state, n_jobs
        Passed to each product's :class:`~cvm.models.churn.BoostedClassifier`.
    """

    model_name: ClassVar[str] = "propensity"
    _fitted_attribute: ClassVar[str] = "models_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "min_events": [Interval(Integral, 1, None, closed="left")],
        **{name: _BOOSTED[name] for name in _SHARED},
    }

    def __init__(
        self,
        *,
        min_events: int = 10,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        calibration: Literal["isotonic", "platt"] = "isotonic",
        calibration_fraction: float = 0.25,
        ignore: Sequence[str] = ("customer_id", "as_of"),
        random_state: int = 0,
        n_jobs: int = 0,
    ) -> None:
        self.min_events = min_events
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.ignore = ignore
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _classifier(self) -> BoostedClassifier:
        params = self.get_params(deep=False)
        params.pop("min_events")
        return BoostedClassifier(**params)

    def fit(self, x: Any, y: Any, *, training_window: tuple[Any, Any] | None = None) -> Self:
        """Fit one model per column of ``y`` (1 adopted, 0 not, missing = not eligible)."""
        self._check_params()
        frame, targets = to_pandas(x), to_pandas(y)
        if len(frame) != len(targets):
            raise ValueError(f"x has {len(frame)} rows but y has {len(targets)}")
        if targets.shape[1] == 0:
            raise ValueError("y has no target columns")
        models: dict[str, BoostedClassifier] = {}
        for name in targets.columns:
            label = pd.to_numeric(targets[name], errors="raise").to_numpy(dtype=np.float64)
            rows = ~np.isnan(label)
            events = int(label[rows].sum())
            if min(events, int(rows.sum()) - events) < self.min_events:
                raise ValueError(
                    f"target {name!r} has {events} events among {int(rows.sum())} eligible rows; "
                    f"each class needs at least min_events={self.min_events}"
                )
            models[str(name)] = self._classifier().fit(frame.loc[rows], label[rows], training_window=training_window)
        self.models_ = models
        self.targets_ = list(models)
        self.training_window_ = window_of(training_window)
        return self

    def predict_proba(self, x: Any) -> pd.DataFrame:
        """Probability of each target per row (one column per target, index of ``x``).

        Every row gets a probability for every target; mask the products a customer already
        holds (the rows that were not eligible in training) before ranking offers.
        """
        self._check_fitted()
        frame = to_pandas(x)
        prepared: dict[str, pd.DataFrame] = {}  # models with the same input schema share one transform
        out: dict[str, FloatArray] = {}
        for name, model in self.models_.items():
            key = json.dumps(model.schema_.to_dict(), sort_keys=True)
            if key not in prepared:
                prepared[key] = model.schema_.transform(frame)
            out[name] = model.proba_of_raw(model.raw_scores(prepared[key]))
        return pd.DataFrame(out, index=frame.index)

    def reasons(self, x: Any, top: int = 3, target: str | None = None) -> list[list[str]]:
        """Reason codes per row for ``target``, or for each row's most likely target when None."""
        self._check_fitted()
        frame = to_pandas(x)
        if target is not None:
            if target not in self.models_:
                raise ValueError(f"unknown target {target!r}; known: {', '.join(self.targets_)}")
            return self.models_[target].reasons(frame, top)
        best = self.predict_proba(frame).to_numpy().argmax(axis=1)
        out: list[list[str]] = [[] for _ in range(len(frame))]
        for k, name in enumerate(self.targets_):
            rows = np.flatnonzero(best == k)
            if rows.size:
                for row, codes in zip(rows, self.models_[name].reasons(frame.iloc[rows], top), strict=True):
                    out[row] = codes
        return out

    def evaluate(self, x: Any, y: Any) -> dict[str, dict[str, Any]]:
        """Metrics per target on its eligible rows (see :func:`cvm.models.metrics.classification_report`)."""
        self._check_fitted()
        frame, targets = to_pandas(x), to_pandas(y)
        out: dict[str, dict[str, Any]] = {}
        for name in self.targets_:
            if name not in targets.columns:
                raise ValueError(f"y lacks the target column {name!r}")
            label = pd.to_numeric(targets[name]).to_numpy(dtype=np.float64)
            rows = ~np.isnan(label)
            out[name] = self.models_[name].evaluate(frame.loc[rows], label[rows])
        return out

    def to_dict(self) -> dict[str, Any]:
        """Metadata, and one child document per target model (``target_0``, ``target_1``, ...)."""
        self._check_fitted()
        meta = {
            "parameters": {**self.get_params(deep=False), "ignore": list(self.ignore)},
            "training_window": self.training_window_,
            "features": next(iter(self.models_.values())).features_,
            "metrics": {t: m.metrics_ for t, m in self.models_.items()},
            "targets": self.targets_,
        }
        doc = meta_record(self.model_name, FORMAT, meta)
        doc["children"] = {f"target_{k}": model.to_dict() for k, model in enumerate(self.models_.values())}
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; one lacking a field or a target model is refused."""
        doc = check_meta(doc, cls.model_name, FORMAT, extra=("targets",))
        children = doc.get("children", {})
        targets = [str(t) for t in doc["targets"]]
        missing = [f"target_{k}" for k in range(len(targets)) if f"target_{k}" not in children]
        if missing:
            raise ValueError(f"saved propensity model lacks the target model(s) {', '.join(missing)}")
        params = dict(doc["parameters"])
        params["ignore"] = tuple(params.get("ignore", ()))
        model = cls(**params)
        model.targets_ = targets
        model.models_ = {t: BoostedClassifier.from_dict(children[f"target_{k}"]) for k, t in enumerate(targets)}
        model.training_window_ = doc["training_window"]
        return model

    def save(self, path: str | Path) -> Path:
        """A folder with ``meta.json`` and one sub-folder per target model (see :mod:`cvm.models.files`)."""
        return write_folder(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by :meth:`save`; a folder lacking metadata is refused."""
        return cls.from_dict(read_folder(path))
