"""Churn: gradient-boosted trees with probabilities calibrated on a held-out fold.

:class:`BoostedClassifier` is the shared binary model (also used per product by
:class:`~cvm.models.propensity.PropensityModel`):

- LightGBM (Ke et al. 2017, "LightGBM: a highly efficient gradient boosting decision tree") on the
  columns of :class:`~cvm.models.tabular.TabularSchema` (numbers, text numbers, categories, missing
  values), with early stopping on a held-out calibration fold;
- calibration on that fold: isotonic regression (Zadrozny & Elkan 2002) or Platt scaling (Platt
  1999) of the booster's log-odds. The isotonic map is blended with 10⁻⁴ of the logistic of the
  log-odds, which makes it strictly increasing: the ranking (and AUC) of the booster is kept and a
  probability moves by at most 10⁻⁴;
- reason codes from per-row feature contributions in log-odds (TreeSHAP, Lundberg et al. 2018, via
  LightGBM's ``pred_contrib=True``); they add up to the booster's log-odds.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> x = pd.DataFrame({"recency": rng.exponential(100, 2000), "plan": rng.choice(["a", "b"], 2000)})
>>> y = (rng.random(2000) < 1 / (1 + np.exp(3 - x.recency / 60))).astype(int)
>>> model = ChurnModel(n_estimators=50).fit(x, y)
>>> model.predict_proba(x).shape
(2000, 2)
>>> model.reasons(x.head(1).assign(recency=600.0), top=1)
[['recency']]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import clone  # type: ignore[import-untyped]

from cvm.models.base import Estimator, Interval, StrOptions
from cvm.models.files import read_folder, write_folder
from cvm.models.metrics import classification_report, psi
from cvm.models.tabular import TabularSchema, check_meta, meta_record, to_binary, window_of

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
_BLEND = 1e-4
_BOOSTER_FILE = "booster.txt"
FORMAT = 1  # meta.json + state.json + booster.txt, unchanged since the first release
_STATE = ("schema", "calibrator", "best_iteration")


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _split(y: np.ndarray[Any, Any], fraction: float, seed: int) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Stratified random mask of the calibration fold (``fraction`` of each class)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(y.size, dtype=bool)
    for cls in (0, 1):
        rows = np.flatnonzero(y == cls)
        take = round(fraction * rows.size)
        held[rng.choice(rows, size=take, replace=False)] = True
    return held


class BoostedClassifier(Estimator):
    """Calibrated LightGBM binary classifier with reason codes; see the module docstring.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM hyperparameters (at most ``n_estimators`` rounds; early stopping picks fewer).
    early_stopping_rounds
        Rounds without improvement of the held-out log-loss before training stops.
    calibration
        ``"isotonic"`` or ``"platt"``.
    calibration_fraction
        Share of the training rows held out for early stopping and calibration.
    ignore
        Columns never used as inputs (identifiers).
    max_categories
        Most frequent categories kept per categorical column; rarer ones count as missing.
    random_state, n_jobs
        Seed, and LightGBM threads (0: OpenMP default).
    """

    model_name: ClassVar[str] = "boosted_classifier"
    _fitted_attribute: ClassVar[str] = "booster_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="right")],
        "num_leaves": [Interval(Integral, 2, None, closed="left")],
        "min_child_samples": [Interval(Integral, 1, None, closed="left")],
        "subsample": [Interval(Real, 0, 1, closed="right")],
        "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
        "reg_lambda": [Interval(Real, 0, None, closed="left")],
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left")],
        "calibration": [StrOptions({"isotonic", "platt"})],
        "calibration_fraction": [Interval(Real, 0, 1, closed="neither")],
        "ignore": [list, tuple],
        "max_categories": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral],
    }

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 50,
        calibration: Literal["isotonic", "platt"] = "isotonic",
        calibration_fraction: float = 0.25,
        ignore: Sequence[str] = ("customer_id", "as_of"),
        max_categories: int = 200,
        random_state: int = 0,
        n_jobs: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.ignore = ignore
        self.max_categories = max_categories
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting ----------------------------------------------------------------------------------
    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "verbosity": -1,
        }

    def fit(self, x: Any, y: Any, *, training_window: tuple[Any, Any] | None = None) -> Self:
        """Fit the booster on part of ``(x, y)`` and calibrate it on the held-out rest.

        ``y`` is 1 for the event; ``training_window`` (e.g. the as-of date and the end of the
        label horizon) is recorded in the saved metadata. ``metrics_`` are measured on the held-out
        fold: out of sample for the booster, but in sample for the calibrator (and the fold also
        picked the number of rounds), so judge calibration on other data with :meth:`evaluate`.
        """
        self._check_params()
        labels = to_binary(y)
        schema = TabularSchema.learn(x, self.max_categories, exclude=tuple(self.ignore))
        data = schema.transform(x)
        if labels.size != len(data):
            raise ValueError(f"x has {len(data)} rows but y has {labels.size}")
        if labels.min() == labels.max():
            raise ValueError("y must contain both classes")
        held = _split(labels, self.calibration_fraction, self.random_state)
        train = lgb.Dataset(data[~held], labels[~held], free_raw_data=True)
        valid = lgb.Dataset(data[held], labels[held], reference=train)
        booster = lgb.train(
            self._lgb_params(),
            train,
            num_boost_round=self.n_estimators,
            valid_sets=[valid],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
        )
        raw = np.asarray(booster.predict(data[held], raw_score=True), dtype=np.float64)
        self.schema_, self.booster_ = schema, booster
        self.calibrator_ = _fit_calibrator(self.calibration, raw, labels[held])
        self.features_ = schema.columns
        self.training_window_ = window_of(training_window)
        self.metrics_ = classification_report(labels[held], self._calibrate(raw))
        self.metrics_["n_train"] = int(labels.size)
        return self

    # -- prediction -------------------------------------------------------------------------------
    def decision_function(self, x: Any) -> FloatArray:
        """Uncalibrated log-odds of the booster."""
        self._check_fitted()
        return self.raw_scores(self.schema_.transform(x))

    def raw_scores(self, data: pd.DataFrame) -> FloatArray:
        """Log-odds of rows already passed through ``schema_.transform`` (lets callers share that step)."""
        return np.asarray(self.booster_.predict(data, raw_score=True, num_threads=self.n_jobs), dtype=np.float64)

    def proba_of_raw(self, raw: FloatArray) -> FloatArray:
        """Calibrated probability of the event from :meth:`raw_scores`."""
        return self._calibrate(raw)

    def _calibrate(self, raw: FloatArray) -> FloatArray:
        cal = self.calibrator_
        if cal["method"] == "platt":
            return _sigmoid(cal["a"] * raw + cal["b"])
        iso = np.interp(raw, np.asarray(cal["x"]), np.asarray(cal["y"]))
        return np.asarray((1.0 - _BLEND) * iso + _BLEND * _sigmoid(raw), dtype=np.float64)

    def predict_proba(self, x: Any) -> FloatArray:
        """Calibrated probabilities, shape (n, 2): column 0 no event, column 1 the event."""
        p = self._calibrate(self.decision_function(x))
        return np.column_stack([1.0 - p, p])

    def contributions(self, x: Any) -> pd.DataFrame:
        """Per-row contribution of each feature to the log-odds (TreeSHAP), plus ``bias``.

        Each row adds up to :meth:`decision_function`.
        """
        self._check_fitted()
        data = self.schema_.transform(x)
        values = np.asarray(self.booster_.predict(data, pred_contrib=True, num_threads=self.n_jobs), dtype=np.float64)
        return pd.DataFrame(values, columns=[*self.features_, "bias"], index=data.index)

    def reasons(self, x: Any, top: int = 3) -> list[list[str]]:
        """Reason codes per row: the features that raise the log-odds most, largest first.

        Only features with a positive contribution are listed, so a row can have fewer than ``top``.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        contrib = self.contributions(x).drop(columns="bias").to_numpy()
        return reason_codes(contrib, self.features_, top)

    def evaluate(self, x: Any, y: Any) -> dict[str, Any]:
        """AUC, PR-AUC, Brier, ECE, Gini, KS and lift per decile on ``(x, y)``."""
        return classification_report(to_binary(y), self.predict_proba(x)[:, 1])

    # -- persistence ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Metadata, ``state`` (schema, calibrator, best iteration) and the booster as LightGBM text (a sidecar)."""
        self._check_fitted()
        best = self.booster_.best_iteration or None
        doc = meta_record(self.model_name, FORMAT, self._meta())
        doc["state"] = {
            "schema": self.schema_.to_dict(),
            "calibrator": self.calibrator_,
            "best_iteration": self.booster_.best_iteration,
        }
        doc["sidecars"] = {_BOOSTER_FILE: self.booster_.model_to_string(num_iteration=best)}
        return doc

    def _meta(self) -> dict[str, Any]:
        return {
            "parameters": {**self.get_params(deep=False), "ignore": list(self.ignore)},
            "training_window": self.training_window_,
            "features": self.features_,
            "metrics": self.metrics_,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; one lacking a field or for another model is refused."""
        doc = check_meta(doc, cls.model_name, FORMAT, extra=("state", "sidecars"))
        state, sidecars = doc["state"], doc["sidecars"]
        missing = [f"state.{k}" for k in _STATE if k not in state]
        missing += [_BOOSTER_FILE] if _BOOSTER_FILE not in sidecars else []
        if missing:
            raise ValueError(f"saved {cls.model_name} model lacks {', '.join(missing)}; refusing to load it")
        params = dict(doc["parameters"])
        params["ignore"] = tuple(params.get("ignore", ()))
        model = cls(**params)
        model.schema_ = TabularSchema.from_dict(state["schema"])
        model.calibrator_ = state["calibrator"]
        model.booster_ = lgb.Booster(model_str=sidecars[_BOOSTER_FILE])
        model.booster_.best_iteration = int(state["best_iteration"])
        model.features_ = list(doc["features"])
        model.training_window_ = doc["training_window"]
        model.metrics_ = doc["metrics"]
        return model

    def save(self, path: str | Path) -> Path:
        """Write the model folder: ``meta.json``, ``state.json`` and ``booster.txt`` (see :mod:`cvm.models.files`)."""
        return write_folder(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by :meth:`save`; a folder lacking metadata is refused."""
        return cls.from_dict(read_folder(path))


def _fit_calibrator(method: str, raw: FloatArray, y: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Isotonic step points or Platt coefficients, as plain JSON-ready numbers."""
    if method == "platt":
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(raw.reshape(-1, 1), y)
        return {"method": "platt", "a": float(lr.coef_[0, 0]), "b": float(lr.intercept_[0])}
    from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def reason_codes(contrib: FloatArray, names: Sequence[str], top: int) -> list[list[str]]:
    """For each row, the names of the ``top`` largest positive values, largest first."""
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    picked = np.take_along_axis(contrib, order, axis=1)
    return [
        [names[j] for j, v in zip(row, vals, strict=True) if v > 0] for row, vals in zip(order, picked, strict=True)
    ]


class ChurnModel(BoostedClassifier):
    """Probability that a customer churns within the label horizon; see :mod:`cvm.models.churn`.

    Train it on :func:`cvm.features.build_features` at an ``as_of`` and
    :func:`cvm.features.labels.churn_labels` at the same date.
    """

    model_name: ClassVar[str] = "churn"


def temporal_backtest(model: BoostedClassifier, train: tuple[Any, Any], test: tuple[Any, Any]) -> dict[str, Any]:
    """Fit a fresh copy of ``model`` on an older snapshot and evaluate it on a later one.

    ``train`` and ``test`` are ``(x, y)`` pairs built at two as-of dates (the test one later, its
    labels observed after the training labels). Returns the held-out metrics of the fit, the
    metrics on the later snapshot, and the PSI of the scores between the two snapshots.
    """
    fitted = clone(model).fit(*train)
    p_train = fitted.predict_proba(train[0])[:, 1]
    p_test = fitted.predict_proba(test[0])[:, 1]
    return {
        "fit": fitted.metrics_,
        "test": classification_report(to_binary(test[1]), p_test),
        "psi": psi(p_train, p_test),
    }
