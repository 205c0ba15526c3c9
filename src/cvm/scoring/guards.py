"""Guardrails of a scoring run on thin or degenerate data.

- A value model that did not converge, or whose parameters sit at a bound of the search space, writes no
  scores: :func:`check_converged` raises :class:`ModelNotConvergedError` with a plain message (which model,
  what went wrong, what to do), built from the fit's own diagnostics (``model.convergence_``).
- Python warnings raised while fitting (the models' ``ConvergenceWarning``, numerical ``RuntimeWarning``)
  are caught by :func:`captured_warnings` and become plain notes of the report, never a line with a file path.
- A score that grading by share cannot rank (every customer has the same value) gets no grade; its rows
  say why in their reasons (:func:`grade_with_reason`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from cvm.scoring.grades import GradeRule
from cvm.scoring.report import ScoringError

if TYPE_CHECKING:
    from cvm.scoring.models import FittedModel

ROLES = {"purchase": "purchase model", "spend": "spend model", "contract": "contract model"}
ADVICE = {
    "purchase": "score again with more customers or a longer purchase history, or try another purchase model "
    "(scoring.value_model: bgnbd, pnbd or mbgnbd)",
    "spend": "score again with more repeat buyers, or segment the customers (e.g. B2B and B2C)",
    "contract": "score again with more subscribers, both churned and active, or a longer history",
}


class ModelNotConvergedError(ScoringError):
    """A value model's fit cannot be trusted (no convergence, or a parameter at a bound): no scores are written."""


def check_converged(fitted: FittedModel) -> None:
    """Raise :class:`ModelNotConvergedError` unless the fit converged (``model.converged_``).

    The optimiser already reports a parameter at the edge of its search space, a flat likelihood or an
    unidentified parameter as not converged; its message (``model.convergence_.message``) says which.
    """
    model, role = fitted.model, fitted.role
    if bool(model.converged_):
        return
    params = ", ".join(f"{k}={v:.3g}" for k, v in fitted.params.items())
    raise ModelNotConvergedError(
        f"the {ROLES.get(role, role)} ({fitted.name}) fitted on {fitted.n_customers:,} customers did not converge "
        f"({model.convergence_.message}; parameters {params}), so its predictions cannot be trusted and no "
        f"value scores were written. What to do: {ADVICE.get(role, 'score again with more data')}."
    )


@contextmanager
def captured_warnings(notes: list[str]) -> Iterator[None]:
    """Catch every warning raised inside the block and append its message to ``notes`` once (no file path).

    A model's ``ConvergenceWarning`` is left out: :func:`check_converged` says the same in plain words.
    """
    from cvm.models.clv import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = f"warning while scoring: {w.message}"
        if not issubclass(w.category, ConvergenceWarning) and text not in notes:
            notes.append(text)


def grade_with_reason(
    rule: GradeRule, values: ArrayLike, reasons: list[Any], what: str
) -> tuple[NDArray[np.object_], list[Any], str | None]:
    """Grades of ``values``, and the reasons with why they are ungraded appended (on valued rows) when the
    rule cannot rank them; the third item is that note (None when they are graded)."""
    grades = rule.apply(values)
    why = rule.ungraded(values, what)
    if why is None:
        return grades, reasons, None
    known = ~np.isnan(np.asarray(values, dtype=np.float64))
    return grades, [f"{r};{why}" if k else r for r, k in zip(reasons, known, strict=True)], why


def append_reason(rows: pl.DataFrame, score: str, reason: str) -> pl.DataFrame:
    """``rows`` of the scores table with ``reason`` appended to the reasons of ``score``'s valued rows."""
    hit = (pl.col("score") == score) & pl.col("value").is_not_null()
    joined = pl.concat_str([pl.col("reasons"), pl.lit(reason)], separator=";", ignore_nulls=True)
    return rows.with_columns(pl.when(hit).then(joined).otherwise(pl.col("reasons")).alias("reasons"))
