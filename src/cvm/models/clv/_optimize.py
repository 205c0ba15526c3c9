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
HESSIAN_STEP = 1e-4  # central differences (for gradients that are partly numerical themselves)
FORWARD_STEP = 1e-6  # forward differences of an analytic gradient: standard errors within ~1e-5 of central
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
    gradient: FloatArray  # of the mean objective


def maximize_likelihood(
    objective: Objective,
    starts: Sequence[FloatArray],
    n_total: float,
    *,
    max_restarts: int,
    tol: float,
    max_iter: int,
    hess_inv0: FloatArray | None = None,
    forward_hessian: bool = False,
) -> MLEResult:
    """Minimise ``objective`` from ``starts[0]``; on failure restart from the best point and the other starts.

    ``hess_inv0``, an inverse Hessian of the mean objective near ``starts[0]``, seeds the first run's BFGS
    updates (see :func:`presolve`). With ``forward_hessian`` the Hessian at the optimum is taken by forward
    differences of the gradient (half the evaluations; for analytic gradients on large data), else by central
    ones, which are more robust where the likelihood is nearly flat.
    """
    counter = {"nit": 0, "nfev": 0}

    def mean_objective(phi: FloatArray) -> tuple[float, FloatArray]:
        if np.any(np.abs(phi) > 2 * LOG_BOUND):
            return 1e30, -phi  # far outside the search space: push back
        with np.errstate(all="ignore"):
            value, grad = objective(phi)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e30, np.zeros_like(phi)
        return value / n_total, grad / n_total

    best: _Run | None = None
    restarts = 0
    queue = [np.clip(np.asarray(s, dtype=np.float64), -LOG_BOUND, LOG_BOUND) for s in starts]
    x0 = queue.pop(0)
    for attempt in range(max_restarts + 1):
        run = _bfgs(mean_objective, x0, tol * 1e-2, max_iter, hess_inv0 if attempt == 0 else None, counter)
        if best is None or run.value < best.value:
            best = run
        if _converged(best, tol) or attempt == max_restarts:
            break
        restarts += 1
        # Alternate a warm restart from the best point (a stalled line search often recovers) with a fresh start.
        x0 = np.clip(best.phi, -LOG_BOUND, LOG_BOUND) if attempt % 2 == 0 or not queue else queue.pop(0)
    assert best is not None
    hess = hessian(objective, best.phi, best.gradient * n_total if forward_hessian and best.value < 1e29 else None)
    return _finish(best, hess, tol, counter, restarts, n_total)


class _Stationary(Exception):  # noqa: N818 - a signal, not an error
    """Ends a BFGS run at a point whose gradient is within tolerance."""

    def __init__(self, run: _Run) -> None:
        super().__init__(run.message)
        self.run = run


def _bfgs(
    mean_objective: Objective,
    x0: FloatArray,
    gtol: float,
    max_iter: int,
    hess_inv0: FloatArray | None,
    counter: dict[str, int],
) -> _Run:
    """One BFGS run, stopped as soon as any point it evaluates has a gradient within ``gtol``.

    Near the optimum the objective is flat to rounding error, and scipy's line search would spend dozens of
    evaluations trying to lower it further ("precision loss") after the gradient is already small enough.
    """

    def fun(phi: FloatArray) -> tuple[float, FloatArray]:
        counter["nfev"] += 1
        value, grad = mean_objective(phi)
        norm = float(np.max(np.abs(grad)))
        if norm <= gtol and value < 1e29 and not _at_bound(phi):
            raise _Stationary(_Run(np.array(phi, dtype=np.float64), float(value), norm, "converged", grad))
        return value, grad

    def step(intermediate_result: OptimizeResult) -> None:
        counter["nit"] += 1
        if np.any(np.abs(intermediate_result.x) > LOG_BOUND):
            raise StopIteration  # left the search space: the likelihood peaks at zero or infinity

    options: dict[str, object] = {"maxiter": max_iter, "gtol": gtol}
    if hess_inv0 is not None:
        options["hess_inv0"] = hess_inv0
    try:
        res = minimize(fun, x0, jac=True, method="BFGS", callback=step, options=options)
    except _Stationary as done:
        return done.run
    phi = np.asarray(res.x, dtype=np.float64)
    jac = np.asarray(res.jac, dtype=np.float64)
    return _Run(phi, float(res.fun), float(np.max(np.abs(jac))), str(res.message), jac)


def presolve(
    objective: Objective,
    starts: Sequence[FloatArray],
    n_total: float,
    *,
    tol: float,
    max_iter: int,
) -> tuple[list[FloatArray], FloatArray | None]:
    """Fit a subsample's likelihood; its optimum and inverse Hessian are where the full fit starts.

    On a large sample the full fit then needs a few Newton-like BFGS steps instead of twenty-odd from a
    generic start. Returns the starts to use (the subsample optimum first when it converged) and the
    inverse Hessian of the mean objective there (None when not positive definite).
    """
    res = maximize_likelihood(objective, starts, n_total, max_restarts=1, tol=tol, max_iter=max_iter)
    if not res.converged:
        return list(starts), None
    try:
        inv = np.linalg.inv(res.hessian / n_total)
    except np.linalg.LinAlgError:
        return [res.log_params, *starts], None
    sym: FloatArray = np.asarray(0.5 * (inv + inv.T), dtype=np.float64)
    return [res.log_params, *starts], sym if _positive_definite(sym) else None


def _at_bound(phi: FloatArray) -> bool:
    return bool(np.any(np.abs(phi) >= LOG_BOUND - 1e-6))


def _converged(run: _Run, tol: float) -> bool:
    return run.value < 1e29 and run.gradient_norm <= tol and not _at_bound(run.phi)


def hessian(objective: Objective, phi: FloatArray, gradient: FloatArray | None = None) -> FloatArray:
    """Differences of the gradient, symmetrised: forward from ``gradient`` (the objective's at ``phi``) when
    given, which takes one evaluation per parameter, else central (two)."""
    k = len(phi)
    h = np.empty((k, k))
    for j in range(k):
        e = np.zeros(k)
        with np.errstate(all="ignore"):
            if gradient is None:
                e[j] = HESSIAN_STEP
                h[:, j] = (objective(phi + e)[1] - objective(phi - e)[1]) / (2 * HESSIAN_STEP)
            else:
                e[j] = FORWARD_STEP
                h[:, j] = (objective(phi + e)[1] - gradient) / FORWARD_STEP
    return np.asarray(0.5 * (h + h.T), dtype=np.float64)


def _finish(
    best: _Run, hess: FloatArray, tol: float, counter: dict[str, int], restarts: int, n_total: float
) -> MLEResult:
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
