"""Contact fatigue: the marginal cost of the n-th contact on a channel within a rolling window.

A discrete-time hazard model (Allison 1982, "Discrete-time methods for the analysis of event
histories", *Sociological Methodology* 13; Singer & Willett 1993, "It's about time", *Journal of
Educational Statistics* 18(2)): each outbound contact is one person-period, ``n`` its rank among the
customer's contacts on that channel in the last ``window_days``, and the event an adverse reaction
that follows it (an unsubscribe, complaint or cancellation request, a consent withdrawn, or the
contact completing a streak of unanswered contacts). Per channel,

    logit h(n, x) = α + γ_n + β · (x − x̄),   γ_1 = 0, n capped at ``max_contacts``,

is fitted by L2-penalised logistic regression (scikit-learn; the intercept is not penalised, so a
rank with few contacts shrinks towards the first contact's hazard). The fatigue cost of the n-th
contact is ``h(n, x) × loss``: the value lost with the channel. :meth:`FatigueModel.curves` gives
it as plain data (:class:`cvm.contracts.learned.FatigueCurve`) for the pure ``decide``.

:func:`cvm.plans.fatigue_sql.fatigue_counts_sql` builds the person-periods from the hub's ``contacts`` table
where the offline backend runs, summed into weighted rows (a ``weight`` column): the fit is the same as on
one row per contact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from cvm.contracts.learned import FatigueCurve
from cvm.models.base import Estimator, Interval, check_document, cvm_version

FORMAT = 1
MODEL = "fatigue"
ADVERSE_TOPICS = ("complaint", "cancellation_request", "unsubscribe", "consent_withdrawn")
"""Inbound ``contacts`` topics that count as an adverse reaction to the outbound contacts before them."""


class FatigueModel(Estimator):
    """Per channel, the hazard of an adverse reaction to the n-th contact in a window (see the module docstring).

    Parameters
    ----------
    window_days
        The window the contacts are counted in (recorded on the curves).
    max_contacts
        Ranks from this one up share one hazard.
    covariates
        Numeric customer attributes the hazard depends on (columns of the periods frame).
    penalty_c
        Inverse L2 penalty of the logistic regression.
    """

    model_name: ClassVar[str] = MODEL
    _fitted_attribute: ClassVar[str] = "logits_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window_days": [Interval(Integral, 1, None, closed="left")],
        "max_contacts": [Interval(Integral, 1, None, closed="left")],
        "covariates": [tuple, list],
        "penalty_c": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self, window_days: int = 30, max_contacts: int = 8, covariates: Sequence[str] = (), penalty_c: float = 1.0
    ) -> None:
        self.window_days = window_days
        self.max_contacts = max_contacts
        self.covariates = covariates
        self.penalty_c = penalty_c

    def fit(self, periods: pd.DataFrame) -> Self:
        """Fit from person-periods (columns ``channel``, ``n``, ``adverse`` and the covariates).

        An optional ``weight`` column counts each row that many times (rows summed per channel, rank and outcome
        give the fit of the rows they sum: the penalised likelihood is a weighted sum).
        """
        self._check_params()
        need = ["channel", "n", "adverse", *self.covariates]
        missing = [c for c in need if c not in periods.columns]
        if missing:
            raise ValueError(f"fatigue periods: missing column(s) {', '.join(missing)}")
        if periods.empty:
            raise ValueError("fatigue periods: no contacts to learn from")
        self.logits_: dict[str, list[float]] = {}
        self.coefficients_: dict[str, dict[str, float]] = {}
        self.means_: dict[str, dict[str, float]] = {}
        self.contacts_: dict[str, list[int]] = {}
        for channel, rows in periods.groupby("channel", sort=True):
            self._fit_channel(str(channel), rows)
        return self

    def _fit_channel(self, channel: str, rows: pd.DataFrame) -> None:
        k = self.max_contacts
        n = np.clip(rows["n"].to_numpy(dtype=np.int64), 1, k)
        y = rows["adverse"].to_numpy(dtype=bool)
        w = rows["weight"].to_numpy(dtype=np.float64) if "weight" in rows.columns else np.ones(y.size)
        x = rows.loc[:, list(self.covariates)].to_numpy(dtype=np.float64)
        means = np.nanmean(x, axis=0) if x.shape[1] else np.zeros(0)
        x = np.where(np.isnan(x), means, x) - means
        self.means_[channel] = {c: float(m) for c, m in zip(self.covariates, means, strict=True)}
        self.contacts_[channel] = [int(w[n == i].sum()) for i in range(1, k + 1)]
        if y[w > 0].all() or not y[w > 0].any():  # one class: a smoothed constant hazard, no covariate effect
            rate = (w[y].sum() + 0.5) / (w.sum() + 1.0)
            self.logits_[channel] = [math.log(rate / (1 - rate))] * k
            self.coefficients_[channel] = dict.fromkeys(self.covariates, 0.0)
            return
        dummies = (n[:, None] == np.arange(2, k + 1)[None, :]).astype(np.float64)
        reg = LogisticRegression(C=self.penalty_c, max_iter=1000).fit(np.hstack([dummies, x]), y, sample_weight=w)
        alpha, coef = float(reg.intercept_[0]), reg.coef_[0]
        self.logits_[channel] = [alpha] + [alpha + float(g) for g in coef[: k - 1]]
        self.coefficients_[channel] = {c: float(b) for c, b in zip(self.covariates, coef[k - 1 :], strict=True)}

    def hazard(self, channel: str, n: int, attrs: Mapping[str, Any] | None = None) -> float:
        """The fitted probability that the ``n``-th contact on ``channel`` triggers an adverse reaction."""
        return self.curve(channel, 0.0).hazard(n, attrs)

    def curve(self, channel: str, loss: float) -> FatigueCurve:
        """The fitted curve of ``channel`` priced at ``loss`` per adverse reaction (plain data)."""
        self._check_fitted()
        if channel not in self.logits_:
            return FatigueCurve(window_days=self.window_days)
        return FatigueCurve(
            window_days=self.window_days,
            logits=tuple(self.logits_[channel]),
            coefficients=dict(self.coefficients_[channel]),
            means=dict(self.means_[channel]),
            loss=float(loss),
        )

    def curves(self, loss: Mapping[str, float]) -> dict[str, FatigueCurve]:
        """Every fitted channel's curve, priced at ``loss[channel]`` (a channel without a loss costs nothing)."""
        self._check_fitted()
        return {ch: self.curve(ch, float(loss.get(ch, 0.0))) for ch in sorted(self.logits_)}

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as a JSON-ready document."""
        self._check_fitted()
        return {
            "model": MODEL,
            "format": FORMAT,
            "cvm_version": cvm_version(),
            "parameters": {**self.get_params(deep=False), "covariates": list(self.covariates)},
            "logits": self.logits_,
            "coefficients": self.coefficients_,
            "means": self.means_,
            "contacts": self.contacts_,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A model from :meth:`to_dict`'s document; another model or format is refused."""
        required = ("parameters", "logits", "coefficients", "means", "contacts")
        doc = check_document(doc, fmt_key="format", fmt=FORMAT, model_key="model", model=MODEL, required=required)
        params = dict(doc["parameters"])
        params["covariates"] = tuple(params.get("covariates", ()))
        model = cls(**params)
        model.logits_ = {str(k): [float(v) for v in vs] for k, vs in doc["logits"].items()}
        model.coefficients_ = {str(k): {str(c): float(b) for c, b in v.items()} for k, v in doc["coefficients"].items()}
        model.means_ = {str(k): {str(c): float(m) for c, m in v.items()} for k, v in doc["means"].items()}
        model.contacts_ = {str(k): [int(c) for c in v] for k, v in doc["contacts"].items()}
        return model
