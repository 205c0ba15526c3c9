"""What every CLV model shares: fitted state, convergence diagnostics, ``summary()`` and JSON persistence.

Estimators follow scikit-learn: ``__init__`` stores hyperparameters only, ``fit`` validates its data and
returns ``self``, learned attributes end in ``_`` and predictions check that the model is fitted.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

from cvm.models.base import Estimator, Interval, check_document, cvm_version, not_fitted
from cvm.models.clv._data import FloatArray
from cvm.models.clv._optimize import MLEResult, Objective, maximize_likelihood, presolve, standard_errors

if TYPE_CHECKING:  # pandas is imported by summary() alone (it costs ~0.2 s to import)
    import pandas as pd

FORMAT = "cvm.models.clv"
FORMAT_VERSION = 1
_REQUIRED: tuple[str, ...] = (
    "format",
    "format_version",
    "cvm_version",
    "model",
    "hyperparameters",
    "params",
    "standard_errors",
    "metrics",
    "convergence",
    "training",
)
_Z95 = 1.959963984540054
FORWARD_HESSIAN_ROWS = 100_000


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without meeting the convergence criteria; the best fit found is kept."""


@dataclass(frozen=True)
class Convergence:
    """How the maximum-likelihood search ended (``model.convergence_``)."""

    converged: bool
    message: str
    iterations: int
    evaluations: int
    gradient_norm: float  # max |d mean-NLL / d log-parameter| at the optimum
    restarts: int


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class ClvModel(Estimator):
    """Base class of the maximum-likelihood CLV models.

    Parameters
    ----------
    max_restarts : int, default 6
        How many further optimisations to try (warm restarts from the best point, alternating with fresh
        starting points) when the first one does not converge.
    tol : float, default 1e-6
        Convergence criterion: the largest absolute derivative of the mean negative log-likelihood with
        respect to a log-parameter.
    max_iter : int, default 2000
        Iteration limit of each BFGS run.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "max_restarts": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
    }
    _fitted_attribute: ClassVar[str] = "params_"
    param_names: ClassVar[tuple[str, ...]] = ()
    # Whether the likelihood's gradient is analytic throughout: on large data the Hessian is then taken by
    # forward differences (one gradient per parameter instead of two).
    exact_gradient: ClassVar[bool] = True

    params_: dict[str, float]
    standard_errors_: dict[str, float]
    log_likelihood_: float
    converged_: bool
    convergence_: Convergence
    n_customers_: float
    training_: dict[str, Any]

    def __init__(self, *, max_restarts: int = 6, tol: float = 1e-6, max_iter: int = 2000) -> None:
        self.max_restarts = max_restarts
        self.tol = tol
        self.max_iter = max_iter

    def __repr__(self) -> str:
        state = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items()) if self._is_fitted() else "not fitted"
        return f"{type(self).__name__}({state})"

    def _check_hyperparameters(self) -> None:
        self._check_params()

    def _run_mle(
        self,
        objective: Objective,
        starts: Sequence[FloatArray],
        n_total: float,
        n_rows: int,
        subsample: tuple[Objective, float] | None = None,
    ) -> None:
        """Maximise the likelihood and store the learned attributes; warn when it did not converge.

        ``subsample`` (the objective of a random subsample and its customer count) is fitted first, to start
        the full fit near its optimum (:func:`~cvm.models.clv._optimize.presolve`).
        """
        self._check_hyperparameters()
        hess_inv0 = None
        if subsample is not None:
            sub_objective, sub_total = subsample
            starts, hess_inv0 = presolve(sub_objective, starts, sub_total, tol=self.tol, max_iter=self.max_iter)
        result = maximize_likelihood(
            objective,
            starts,
            n_total,
            max_restarts=self.max_restarts,
            tol=self.tol,
            max_iter=self.max_iter,
            hess_inv0=hess_inv0,
            forward_hessian=self.exact_gradient and n_rows >= FORWARD_HESSIAN_ROWS,
        )
        self._store(result, n_total, n_rows)
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge: {result.message}; the best fit found is kept "
                f"(see convergence_)",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _store(self, result: MLEResult, n_total: float, n_rows: int) -> None:
        theta = np.exp(result.log_params)
        ses = standard_errors(result.log_params, result.hessian)
        self.params_ = {name: float(v) for name, v in zip(self.param_names, theta, strict=True)}
        self.standard_errors_ = {name: float(v) for name, v in zip(self.param_names, ses, strict=True)}
        self.log_likelihood_ = -result.neg_log_likelihood
        self.converged_ = result.converged
        self.convergence_ = Convergence(
            converged=result.converged,
            message=result.message,
            iterations=result.iterations,
            evaluations=result.evaluations,
            gradient_norm=result.gradient_norm,
            restarts=result.restarts,
        )
        self.n_customers_ = float(n_total)
        self.training_ = {"n_customers": float(n_total), "n_unique_rows": int(n_rows)}

    def _is_fitted(self) -> bool:
        return self.__sklearn_is_fitted__()

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise not_fitted(f"this {type(self).__name__} is not fitted: call fit() or from_json() first")

    def _theta(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(self.params_[name] for name in self.param_names)

    def summary(self) -> pd.DataFrame:
        """Parameters with standard errors and Wald 95% intervals (``coef ± 1.96 se``)."""
        import pandas as pd

        self._check_fitted()
        coef = pd.Series(self.params_, dtype=float)
        se = pd.Series(self.standard_errors_, dtype=float)
        return pd.DataFrame(
            {"coef": coef, "se": se, "lower 95%": coef - _Z95 * se, "upper 95%": coef + _Z95 * se},
            index=pd.Index(self.param_names, name="param"),
        )

    # ---------------------------------------------------------------- persistence
    def to_json(self, training_window: Mapping[str, Any] | None = None) -> str:
        """The fitted model as JSON text: :meth:`to_dict`, indented."""
        return json.dumps(self.to_dict(training_window), indent=2, sort_keys=False)

    def to_dict(self, training_window: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The fitted model as a JSON-ready document: parameters, version, training facts and metrics.

        ``training_window`` (e.g. ``{"start": "2024-01-01", "end": "2024-12-31"}``) is stored under
        ``training.window``; the key is always written, as null when not given.
        """
        self._check_fitted()
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "cvm_version": cvm_version(),
            "model": type(self).__name__,
            "hyperparameters": self.get_params(deep=False),
            "params": self.params_,
            "standard_errors": {k: _finite_or_none(v) for k, v in self.standard_errors_.items()},
            "metrics": {"log_likelihood": self.log_likelihood_, "n_customers": self.n_customers_},
            "convergence": {
                k: _finite_or_none(v) if isinstance(v, float) else v for k, v in asdict(self.convergence_).items()
            },
            "training": {**self.training_, "window": dict(training_window) if training_window is not None else None},
        }

    @classmethod
    def from_json(cls, text: str) -> Self:
        """A model saved by :meth:`to_json`; refuses a document that lacks any field or is for another model."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; refuses one that lacks any field or is for another model."""
        doc = check_document(
            doc, fmt_key="format", fmt=FORMAT, model_key="model", model=cls.__name__, required=_REQUIRED
        )
        if doc["format_version"] != FORMAT_VERSION:
            raise ValueError(f"unsupported format {doc['format']!r} version {doc['format_version']!r}")
        try:
            model = cls(**doc["hyperparameters"])
        except TypeError as exc:
            raise ValueError(f"saved hyperparameters do not fit {cls.__name__}: {exc}") from exc
        model._restore(doc)
        return model

    def _restore(self, doc: Mapping[str, Any]) -> None:
        params, ses = doc["params"], doc["standard_errors"]
        for what, mapping in (("params", params), ("standard_errors", ses)):
            if not isinstance(mapping, dict) or set(mapping) != set(self.param_names):
                raise ValueError(f"saved {what} must have exactly the keys {list(self.param_names)}")
        if not all(isinstance(v, int | float) and np.isfinite(v) and v > 0 for v in params.values()):
            raise ValueError("saved params must be positive finite numbers")
        missing = [k for k in ("log_likelihood", "n_customers") if k not in doc["metrics"]]
        missing += [f"convergence.{f}" for f in Convergence.__dataclass_fields__ if f not in doc["convergence"]]
        missing += [f"training.{f}" for f in ("n_customers", "n_unique_rows", "window") if f not in doc["training"]]
        if missing:
            raise ValueError(f"saved model lacks field(s) {missing}")
        self.params_ = {k: float(params[k]) for k in self.param_names}
        self.standard_errors_ = {k: np.nan if ses[k] is None else float(ses[k]) for k in self.param_names}
        self.log_likelihood_ = float(doc["metrics"]["log_likelihood"])
        self.n_customers_ = float(doc["metrics"]["n_customers"])
        conv = doc["convergence"]
        self.convergence_ = Convergence(
            converged=bool(conv["converged"]),
            message=str(conv["message"]),
            iterations=int(conv["iterations"]),
            evaluations=int(conv["evaluations"]),
            gradient_norm=np.nan if conv["gradient_norm"] is None else float(conv["gradient_norm"]),
            restarts=int(conv["restarts"]),
        )
        self.converged_ = bool(self.convergence_.converged)
        self.training_ = dict(doc["training"])
