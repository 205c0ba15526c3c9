"""Credit scorecard: optimal binning, weight of evidence, logistic regression and points scaling.

The method is the classic application/behavioural scorecard (Siddiqi 2006, "Credit Risk Scorecards";
Anderson 2007), built with optbinning (Navas-Palencia 2020):

1. each characteristic is binned optimally against the bad flag (monotone where the data allow),
   missing values in their own bin, an unseen category at scoring time gets a WoE of 0 (neutral);
2. **weight of evidence** per bin: ``WoE = ln(%good / %bad)`` — positive for bins safer than
   average (the usual credit-scoring convention; optbinning uses the same sign), and
   ``IV = Σ (%good − %bad)·WoE``; characteristics with IV below ``min_iv`` are dropped, the
   ``max_characteristics`` strongest kept, and the ones in ``keep`` (the external rating) always kept;
3. a logistic regression of the bad flag on the WoE values;
4. **points**: ``score = offset + factor·ln(good:bad odds)`` with ``factor = PDO / ln 2`` and
   ``offset = target_score − factor·ln(target_odds)`` (PDO 20 and 50:1 at 600 give
   ``487.12 + 28.854·ln(odds)``), spread over the characteristics so that the points of a row's
   bins add up to its score exactly (no rounding).

Reason codes are the characteristics where a row loses the most points against the best bin of
that characteristic (the adverse-action convention).

Examples
--------
>>> s = PointsScaling(pdo=20, odds=50, target_score=600)
>>> round(s.offset, 2), round(s.factor, 3)
(487.12, 28.854)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from cvm.models.base import Estimator, FormatError, Interval, StrOptions
from cvm.models.churn import reason_codes
from cvm.models.files import read_folder, write_folder
from cvm.models.metrics import classification_report
from cvm.models.platt import out_of_fold_platt
from cvm.models.tabular import TabularSchema, check_meta, meta_record, to_binary, window_of
from cvm.models.woe import BinnedCharacteristic, table_of

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
# Format 2: bins, WoE, coefficients and the table as JSON. Format 1 (scorecard.pkl: optbinning's Python objects)
# is refused.
FORMAT = 2
_STATE = ("schema", "bins", "coefficients", "intercept", "table")
_TABLE_INTS = ("bin_id", "count", "goods", "bads")


@dataclass(frozen=True)
class PointsScaling:
    """``score = offset + factor·ln(odds)``: ``pdo`` points double the good:bad odds; ``odds`` at ``target_score``."""

    pdo: float = 20.0
    odds: float = 50.0
    target_score: float = 600.0

    def __post_init__(self) -> None:
        if self.pdo <= 0 or self.odds <= 0:
            raise ValueError(f"pdo and odds must be positive, got pdo={self.pdo}, odds={self.odds}")

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Score at even odds: ``target_score − factor·ln(odds)``."""
        return self.target_score - self.factor * math.log(self.odds)

    def score_of_odds(self, odds: Any) -> FloatArray:
        """Score of good:bad ``odds``."""
        return np.asarray(self.offset + self.factor * np.log(np.asarray(odds, dtype=np.float64)))

    def score_of_probability(self, p_bad: Any) -> FloatArray:
        """Score of a probability of bad."""
        p = np.asarray(p_bad, dtype=np.float64)
        return self.score_of_odds((1.0 - p) / p)

    def odds_of_score(self, score: Any) -> FloatArray:
        """Good:bad odds of a score."""
        return np.asarray(np.exp((np.asarray(score, dtype=np.float64) - self.offset) / self.factor))

    def probability_of_score(self, score: Any) -> FloatArray:
        """Probability of bad of a score."""
        return np.asarray(1.0 / (1.0 + self.odds_of_score(score)))


@contextmanager
def _quiet_optbinning() -> Iterator[None]:
    """optbinning 1.0 grows its binning tables in a way pandas 3 deprecates; that warning is its own."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=pd.errors.Pandas4Warning, module=r"optbinning\.")
        yield


class Scorecard(Estimator):
    """Points-based credit scorecard for a binary *bad* flag; see :mod:`cvm.models.credit`.

    Parameters
    ----------
    pdo, odds, target_score
        Points scaling: ``pdo`` points to double the odds, good:bad ``odds`` at ``target_score``.
    max_n_bins, min_bin_size
        Binning limits per characteristic (``min_bin_size`` is a share of the rows).
    min_iv, max_characteristics, max_correlation
        Characteristics need an information value of at least ``min_iv``; at most
        ``max_characteristics`` are kept, none whose WoE correlates above ``max_correlation``
        with a stronger one.
    max_pvalue
        Neighbouring bins whose bad rates do not differ at this significance are merged (None, the default:
        no test; ``min_bin_size``, monotonicity and ``min_iv`` already keep noise out, and the test cost
        AUC on the public credit data of ``bench/quality.py --credit``).
    monotonic
        Bad rate monotone (ascending or descending, chosen from the data) over the bins of a numeric
        characteristic, as scorecard practice asks.
    keep
        Characteristics kept whatever their IV (when present in ``x``), e.g. the external rating.
    c
        Inverse L2 strength of the logistic regression (its ``C``).
    calibration, calibration_folds
        ``"platt"``: shrink the regression's coefficients and shift its intercept by Platt scaling of its
        out-of-fold log-odds over ``calibration_folds`` stratified folds (:mod:`cvm.models.platt`), so that
        probabilities and points hold on new rows; None keeps the in-sample fit.
    ignore
        Columns never used (identifiers).
    """

    model_name: ClassVar[str] = "scorecard"
    _fitted_attribute: ClassVar[str] = "bins_"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "pdo": [Interval(Real, 0, None, closed="neither")],
        "odds": [Interval(Real, 0, None, closed="neither")],
        "target_score": [Real],
        "max_n_bins": [Interval(Integral, 2, None, closed="left")],
        "min_bin_size": [Interval(Real, 0, 0.5, closed="neither")],
        "min_iv": [Interval(Real, 0, None, closed="left")],
        "max_characteristics": [Interval(Integral, 1, None, closed="left")],
        "max_correlation": [Interval(Real, 0, 1, closed="right")],
        "max_pvalue": [Interval(Real, 0, 1, closed="right"), None],
        "monotonic": ["boolean"],
        "keep": [list, tuple],
        "c": [Interval(Real, 0, None, closed="neither")],
        "calibration": [StrOptions({"platt"}), None],
        "calibration_folds": [Interval(Integral, 2, None, closed="left")],
        "ignore": [list, tuple],
    }

    def __init__(
        self,
        *,
        pdo: float = 20.0,
        odds: float = 50.0,
        target_score: float = 600.0,
        max_n_bins: int = 6,
        min_bin_size: float = 0.05,
        min_iv: float = 0.02,
        max_characteristics: int = 15,
        max_correlation: float = 0.8,
        max_pvalue: float | None = None,
        monotonic: bool = True,
        keep: Sequence[str] = ("rating_score",),
        c: float = 1.0,
        calibration: str | None = "platt",
        calibration_folds: int = 5,
        ignore: Sequence[str] = ("customer_id", "as_of"),
    ) -> None:
        self.pdo = pdo
        self.odds = odds
        self.target_score = target_score
        self.max_n_bins = max_n_bins
        self.min_bin_size = min_bin_size
        self.min_iv = min_iv
        self.max_characteristics = max_characteristics
        self.max_correlation = max_correlation
        self.max_pvalue = max_pvalue
        self.monotonic = monotonic
        self.keep = keep
        self.c = c
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.ignore = ignore

    @property
    def scaling(self) -> PointsScaling:
        """The points scaling of this scorecard."""
        return PointsScaling(self.pdo, self.odds, self.target_score)

    def _frame(self, x: Any) -> pd.DataFrame:
        """Numbers as float, categories as text with NaN for missing or unknown values."""
        data = self.schema_.transform(x)
        for name in self.schema_.categorical:
            data[name] = data[name].astype(object).where(data[name].notna(), np.nan)
        return data

    def fit(self, x: Any, y: Any, *, training_window: tuple[Any, Any] | None = None) -> Self:
        """Bin, select, regress and scale; ``y`` is 1 for bad.

        Selection: characteristics with IV of at least ``min_iv``, strongest first, skipping one
        whose WoE correlates above ``max_correlation`` with one already chosen; then, while the
        regression gives a characteristic a wrong sign (more points for a riskier bin), the
        weakest such one is dropped (never one in ``keep``).
        """
        from optbinning import Scorecard as OptScorecard  # type: ignore[import-untyped]
        from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

        self._check_params()
        labels = to_binary(y)
        self.schema_ = TabularSchema.learn(x, exclude=tuple(self.ignore))
        data = self._frame(x)
        if labels.size != len(data) or labels.min() == labels.max():
            raise ValueError("y must have one label per row of x and contain both classes")
        with _quiet_optbinning():
            chosen = self._select(data, labels)
            card = OptScorecard(
                binning_process=self._binning(chosen, selection=False),
                estimator=LogisticRegression(C=self.c, max_iter=2000),
                scaling_method="pdo_odds",
                scaling_method_params={"pdo": self.pdo, "odds": self.odds, "scorecard_points": self.target_score},
                rounding=False,
            )
            card.fit(data[chosen], labels, metric_missing="empirical")
            self.table_ = table_of(card)
        process = card.binning_process_
        names = [str(n) for n in process.get_support(names=True)]
        self.bins_ = [BinnedCharacteristic.from_optbinning(n, process.get_binned_variable(n)) for n in names]
        self.coefficients_ = np.asarray(card.estimator_.coef_, dtype=np.float64).ravel()
        self.intercept_ = float(card.estimator_.intercept_[0])
        if self.calibration == "platt":
            a, b = out_of_fold_platt(self.woe(x).to_numpy(), labels, self.c, self.calibration_folds, 0)
            if a > 0:  # a ≤ 0: the out-of-fold scores do not rank at all; keep the fit rather than flip its signs
                self.coefficients_, self.intercept_ = a * self.coefficients_, a * self.intercept_ + b
                self.table_ = self._rescored(self.table_)
        self.characteristics_ = chosen
        self.training_window_ = window_of(training_window)
        self.metrics_ = classification_report(labels, self.predict_proba(x)[:, 1])
        return self

    def _rescored(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with the coefficients and points of the current coefficients and intercept."""
        coef = dict(zip((b.name for b in self.bins_), self.coefficients_, strict=True))
        k, s = len(self.bins_), self.scaling
        out = table.copy()
        out["coefficient"] = out["characteristic"].map(coef).astype(float)
        out["points"] = -(out["woe"] * out["coefficient"] + self.intercept_ / k) * s.factor + s.offset / k
        return out

    def _binning(self, names: list[str], selection: bool) -> Any:
        from optbinning import BinningProcess

        keep = [k for k in self.keep if k in names]
        trend = {n: {"monotonic_trend": "auto_asc_desc"} for n in names if n in self.schema_.numeric}
        return BinningProcess(
            names,
            categorical_variables=[n for n in names if n in self.schema_.categorical],
            max_n_bins=self.max_n_bins,
            min_bin_size=self.min_bin_size,
            max_pvalue=self.max_pvalue,
            binning_fit_params=trend if self.monotonic else None,
            selection_criteria={"iv": {"min": self.min_iv}} if selection else None,
            fixed_variables=keep if selection and keep else None,
        )

    def _select(self, data: pd.DataFrame, labels: np.ndarray[Any, Any]) -> list[str]:
        """Characteristics by IV, without near-duplicates and without wrong-signed coefficients."""
        from sklearn.linear_model import LogisticRegression

        process = self._binning(self.schema_.columns, selection=True).fit(data, labels)
        support = [str(n) for n in process.get_support(names=True)]
        iv = process.summary().set_index("name")["iv"].astype(float)
        woe = process.transform(data, metric="woe", metric_missing="empirical")[support]
        corr = woe.corr().abs().fillna(1.0)
        chosen = [k for k in self.keep if k in support]
        for name in sorted(support, key=lambda n: -iv[n]):
            if len(chosen) >= self.max_characteristics:
                break
            if name not in chosen and all(corr.loc[name, c] <= self.max_correlation for c in chosen):
                chosen.append(name)
        while chosen:
            lr = LogisticRegression(C=self.c, max_iter=2000).fit(woe[chosen], labels)
            wrong = [n for n, c in zip(chosen, lr.coef_.ravel(), strict=True) if c >= 0 and n not in self.keep]
            if not wrong:
                break
            chosen.remove(min(wrong, key=lambda n: iv[n]))
        if not chosen:
            raise ValueError(f"no characteristic reaches an information value of {self.min_iv}")
        return chosen

    # -- scoring ----------------------------------------------------------------------------------
    def woe(self, x: Any) -> pd.DataFrame:
        """The WoE of each characteristic per row (see :mod:`cvm.models.woe`)."""
        self._check_fitted()
        frame = self._frame(x)
        return pd.DataFrame({b.name: b.transform(frame[b.name]) for b in self.bins_}, index=frame.index)

    def decision_function(self, x: Any) -> FloatArray:
        """Log-odds of bad: ``intercept + Σ coefficient·WoE``."""
        return np.asarray(self.woe(x).to_numpy() @ self.coefficients_ + self.intercept_, dtype=np.float64)

    def predict_proba(self, x: Any) -> FloatArray:
        """Probabilities, shape (n, 2): column 0 good, column 1 bad."""
        p = 1.0 / (1.0 + np.exp(-self.decision_function(x)))
        return np.column_stack([1.0 - p, p])

    def points(self, x: Any) -> pd.DataFrame:
        """Points of each characteristic per row; a row's points add up to its :meth:`scores`."""
        woe = self.woe(x)
        k, s = len(self.bins_), self.scaling
        values = -(woe.to_numpy() * self.coefficients_ + self.intercept_ / k) * s.factor + s.offset / k
        return pd.DataFrame(values, columns=woe.columns, index=woe.index)

    def scores(self, x: Any) -> FloatArray:
        """Scorecard points per row: ``offset + factor·ln(good:bad odds)``."""
        return np.asarray(self.points(x).sum(axis=1).to_numpy(), dtype=np.float64)

    def reasons(self, x: Any, top: int = 3) -> list[list[str]]:
        """Characteristics that cost a row the most points against their best bin, worst first."""
        if top < 1:
            raise ValueError(f"top must be at least 1, got {top}")
        pts = self.points(x)
        best = self.table_[self.table_["count"] > 0].groupby("characteristic")["points"].max()
        lost = best.reindex(pts.columns).to_numpy() - pts.to_numpy()
        return reason_codes(np.where(lost > 1e-9, lost, 0.0), list(pts.columns), top)

    def evaluate(self, x: Any, y: Any) -> dict[str, Any]:
        """AUC, Gini, KS, PR-AUC, Brier, ECE and lift per decile on ``(x, y)`` (y = 1 bad)."""
        return classification_report(to_binary(y), self.predict_proba(x)[:, 1])

    # -- the table and persistence ----------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """The scorecard: one row per characteristic and bin, with counts, WoE, IV and points."""
        self._check_fitted()
        return self.table_.copy()

    def to_dict(self) -> dict[str, Any]:
        """Metadata and ``state``: the schema, each characteristic's bins and WoE, the coefficients and the table."""
        self._check_fitted()
        meta = {
            "parameters": {**self.get_params(deep=False), "keep": list(self.keep), "ignore": list(self.ignore)},
            "training_window": self.training_window_,
            "features": self.characteristics_,
            "metrics": self.metrics_,
        }
        doc = meta_record(self.model_name, FORMAT, meta)
        table = self.table_
        doc["state"] = {
            "schema": self.schema_.to_dict(),
            "bins": [b.to_dict() for b in self.bins_],
            "coefficients": self.coefficients_.tolist(),
            "intercept": self.intercept_,
            "table": {"columns": list(table.columns), "rows": table.to_numpy(dtype=object).tolist()},
        }
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Self:
        """A scorecard from :meth:`to_dict`'s document; refuses format 1 (Python objects) and incomplete ones."""
        if isinstance(doc, Mapping) and doc.get("model") == cls.model_name and doc.get("format") == 1:
            raise FormatError(
                "this scorecard was saved in format 1 (scorecard.pkl, optbinning's Python objects), which cvm "
                "no longer loads because loading it could run code: train the models again (`cvm train`)"
            )
        doc = check_meta(doc, cls.model_name, FORMAT, extra=("state",))
        state = doc["state"]
        missing = [f"state.{k}" for k in _STATE if k not in state]
        if missing:
            raise FormatError(f"saved scorecard lacks {', '.join(missing)}; refusing to load it")
        params = dict(doc["parameters"])
        params["keep"], params["ignore"] = tuple(params["keep"]), tuple(params["ignore"])
        model = cls(**params)
        model.schema_ = TabularSchema.from_dict(state["schema"])
        model.bins_ = [BinnedCharacteristic.from_dict(b) for b in state["bins"]]
        model.coefficients_ = np.asarray(state["coefficients"], dtype=np.float64)
        if model.coefficients_.shape != (len(model.bins_),):
            raise FormatError(
                f"saved scorecard has {model.coefficients_.size} coefficients for {len(model.bins_)} bins"
            )
        model.intercept_ = float(state["intercept"])
        table = pd.DataFrame(state["table"]["rows"], columns=state["table"]["columns"])
        model.table_ = table.astype({c: "int64" for c in _TABLE_INTS} | {"characteristic": str, "bin": str})
        model.characteristics_ = list(doc["features"])
        model.training_window_ = doc["training_window"]
        model.metrics_ = doc["metrics"]
        return model

    def save(self, path: str | Path) -> Path:
        """A folder with ``meta.json`` and ``state.json`` (see :mod:`cvm.models.files`)."""
        return write_folder(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by :meth:`save`; a folder lacking metadata is refused."""
        return cls.from_dict(read_folder(path))
