"""Maximum likelihood on log-parameters: multi-start BFGS with analytic gradients, and the Hessian.

The objective maps log-parameters ``phi = log(theta)`` to the total negative log-likelihood and its gradient
with respect to ``phi``. The optimiser works on the per-customer mean, which keeps tolerances independent of
the sample size.

scipy's BFGS is used rather than L-BFGS-B: with at most four parameters its dense updates are trivial, and
L-BFGS-B's compiled core calls BLAS, whose threads made each iteration cost milliseconds on a busy
two-core machine. The search space is bounded by stopping a run that leaves ``|phi| <= LOG_BOUND`` (a
likelihood that peaks at zero or infinity), which is then reported as not converged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeResult, minimize  # type: ignore[import-untyped]

from cvm.models.clv._data import FloatArray

Objective = Callable[[FloatArray], tuple[float, FloatArray]]

LOG_BOUND = 25.0  # parameters are searched in [e^-25, e^25]: beyond, a run stops as "at the edge"
HESSIAN_STEP = 1e-4
# Smallest Hessian eigenvalue (total NLL, log-parameters) of an identified fit: a log-scale standard error
# above 10 along some direction means the data do not pin that combination of parameters down.
MIN_CURVATURE = 1e-2


@dataclass(frozen=True)
class MLEResult:
    """The best optimum found and how it was reached."""

    log_params: FloatArray
    neg_log_likelihood: float
    hessian: FloatArray  # of the total negative log-likelihood, with respect to log-parameters
    converged: bool
    message: str
    iterations: int
    evaluations: int
    gradient_norm: float
    restarts: int


@dataclass
class _Run:
    phi: FloatArray
    value: float
    gradient_norm: float
    message: str


def maximize_likelihood(
    objective: Objective,
    starts: Sequence[FloatArray],
    n_total: float,
    *,
    max_restarts: int,
    tol: float,
    max_iter: int,
) -> MLEResult:
    """Minimise ``objective`` from ``starts[0]``; on failure restart from the best point and the other starts."""
    counter = {"nit": 0, "nfev": 0}

    def mean_objective(phi: FloatArray) -> tuple[float, FloatArray]:
        if np.any(np.abs(phi) > 2 * LOG_BOUND):
            return 1e30, -phi  # far outside the search space: push back
        with np.errstate(all="ignore"):
            value, grad = objective(phi)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e30, np.zeros_like(phi)
        return value / n_total, grad / n_total

    def stop_at_edge(intermediate_result: OptimizeResult) -> None:
        if np.any(np.abs(intermediate_result.x) > LOG_BOUND):
            raise StopIteration

    best: _Run | None = None
    restarts = 0
    queue = [np.clip(np.asarray(s, dtype=np.float64), -LOG_BOUND, LOG_BOUND) for s in starts]
    x0 = queue.pop(0)
    for attempt in range(max_restarts + 1):
        res = minimize(
            mean_objective,
            x0,
            jac=True,
            method="BFGS",
            callback=stop_at_edge,
            options={"maxiter": max_iter, "gtol": tol * 1e-2},
        )
        counter["nit"] += int(res.nit)
        counter["nfev"] += int(res.nfev)
        run = _evaluate(mean_objective, np.asarray(res.x, dtype=np.float64), str(res.message))
        if best is None or run.value < best.value:
            best = run
        if _converged(best, tol) or attempt == max_restarts:
            break
        restarts += 1
        # Alternate a warm restart from the best point (a stalled line search often recovers) with a fresh start.
        x0 = np.clip(best.phi, -LOG_BOUND, LOG_BOUND) if attempt % 2 == 0 or not queue else queue.pop(0)
    assert best is not None
    return _finish(objective, best, tol, counter, restarts, n_total)


def _evaluate(mean_objective: Objective, phi: FloatArray, message: str) -> _Run:
    value, grad = mean_objective(phi)
    return _Run(phi, float(value), float(np.max(np.abs(grad))), message)


def _at_bound(phi: FloatArray) -> bool:
    return bool(np.any(np.abs(phi) >= LOG_BOUND - 1e-6))


def _converged(run: _Run, tol: float) -> bool:
    return run.value < 1e29 and run.gradient_norm <= tol and not _at_bound(run.phi)


def hessian(objective: Objective, phi: FloatArray, step: float = HESSIAN_STEP) -> FloatArray:
    """Central differences of the analytic gradient, symmetrised."""
    k = len(phi)
    h = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        e[j] = step
        with np.errstate(all="ignore"):
            h[:, j] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * step)
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def _finish(
    objective: Objective, best: _Run, tol: float, counter: dict[str, int], restarts: int, n_total: float
) -> MLEResult:
    hess = hessian(objective, best.phi)
    converged = _converged(best, tol)
    message = best.message
    if best.value >= 1e29:
        converged, message = False, "the likelihood could not be evaluated at any point tried"
    elif _at_bound(best.phi):
        message = "a parameter reached the edge of the search space (the likelihood peaks at zero or infinity)"
    elif best.gradient_norm > tol:
        message = f"gradient norm {best.gradient_norm:.3g} above tolerance {tol:g} ({message})"
    elif not _positive_definite(hess):
        converged, message = False, "the Hessian is not positive definite: some parameters are not identified"
    elif np.linalg.eigvalsh(hess)[0] < MIN_CURVATURE:
        converged = False
        message = "the likelihood is nearly flat along some direction (log-scale standard error above 10)"
    return MLEResult(
        log_params=best.phi,
        neg_log_likelihood=best.value * n_total,
        hessian=hess,
        converged=converged,
        message=message if not converged else "converged",
        iterations=counter["nit"],
        evaluations=counter["nfev"],
        gradient_norm=best.gradient_norm,
        restarts=restarts,
    )


def _positive_definite(matrix: FloatArray) -> bool:
    if not np.all(np.isfinite(matrix)):
        return False
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def standard_errors(log_params: FloatArray, hess: FloatArray) -> FloatArray:
    """Delta-method standard errors of ``theta = exp(phi)`` from the Hessian in ``phi``; NaN where singular."""
    if not _positive_definite(hess):
        return np.full(len(log_params), np.nan)
    cov = np.linalg.inv(hess)
    theta = np.exp(log_params)
    return np.asarray(theta * np.sqrt(np.clip(np.diag(cov), 0.0, None)), dtype=np.float64)
