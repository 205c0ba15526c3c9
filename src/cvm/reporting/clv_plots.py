"""Diagnostic plots of a fitted purchase model (Plotly), after lifetimes' ``plotting`` module.

- :func:`frequency_recency_matrix`: expected purchases in the next ``t`` periods by (frequency, recency);
- :func:`probability_alive_matrix`: P(alive) by (frequency, recency);
- :func:`calibration_vs_holdout`: mean actual vs predicted holdout purchases per calibration frequency;
- :func:`tracking_incremental`, :func:`tracking_cumulative`: expected vs actual repeat purchases over time.

Every function returns a ``plotly.graph_objects.Figure``; :func:`write_figures` saves them as HTML
and, when kaleido and a Chrome/Chromium are available, PNG.

Examples
--------
>>> fig = frequency_recency_matrix(model, max_frequency=20, max_recency=60)  # doctest: +SKIP
>>> write_figures({"frequency_recency": fig}, Path("plots"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import plotly.graph_objects as go  # type: ignore[import-untyped]
from numpy.typing import ArrayLike, NDArray

Figure = Any  # plotly ships no type information
_RANGE_FREQ = {"D": "D", "W": "7D", "h": "h", "M": "MS"}


class PurchaseModel(Protocol):
    """What the plots need from a fitted BG/NBD-type model."""

    def expected_purchases(
        self,
        t: ArrayLike,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,  # noqa: N803
    ) -> Any: ...

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Any: ...  # noqa: N803

    def expected_purchases_new_customer(self, t: ArrayLike) -> Any: ...


def _grid(max_frequency: int, max_recency: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if max_frequency < 0 or max_recency < 0:
        raise ValueError("max_frequency and max_recency must be non-negative")
    freq, rec = np.meshgrid(np.arange(max_frequency + 1.0), np.arange(max_recency + 1.0), indexing="ij")
    return freq, rec


def matrix_bounds(summary: pd.DataFrame) -> tuple[int, int]:
    """(max frequency, max T) of an RFM summary: lifetimes' default extent of the matrices."""
    return int(summary["frequency"].max()), int(np.ceil(summary["T"].max()))


def _heatmap(z: NDArray[np.float64], title: str, colorbar: str) -> Figure:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=np.arange(z.shape[1]),
            y=np.arange(z.shape[0]),
            colorscale="Viridis",
            colorbar={"title": {"text": colorbar}},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="recency (periods from first to last purchase)",
        yaxis_title="frequency (repeat purchases)",
        yaxis={"autorange": "reversed"},
    )
    return fig


def frequency_recency_matrix(
    model: PurchaseModel,
    max_frequency: int,
    max_recency: int,
    T: float | None = None,  # noqa: N803
    t: float = 1.0,
) -> Figure:
    """Expected purchases in the next ``t`` periods for each (frequency row, recency column).

    As in lifetimes, every cell is a customer of age ``T`` (default ``max_recency``).
    """
    freq, rec = _grid(max_frequency, max_recency)
    age = float(max_recency if T is None else T)
    z = np.asarray(model.expected_purchases(t, freq.ravel(), rec.ravel(), np.full(freq.size, age)), dtype=float)
    return _heatmap(
        z.reshape(freq.shape), f"Expected purchases in the next {t:.3g} periods (age {age:.3g})", "purchases"
    )


def probability_alive_matrix(
    model: PurchaseModel,
    max_frequency: int,
    max_recency: int,
    T: float | None = None,  # noqa: N803
) -> Figure:
    """P(alive) for each (frequency row, recency column) of a customer of age ``T``."""
    freq, rec = _grid(max_frequency, max_recency)
    age = float(max_recency if T is None else T)
    z = np.asarray(model.probability_alive(freq.ravel(), rec.ravel(), np.full(freq.size, age)), dtype=float)
    return _heatmap(z.reshape(freq.shape), f"Probability of being alive (age {age:g})", "P(alive)")


def calibration_vs_holdout_data(model: PurchaseModel, calibration: pd.DataFrame, n: int = 7) -> pd.DataFrame:
    """Mean actual and predicted holdout purchases per calibration frequency 0..n-1.

    ``calibration`` is the output of :func:`cvm.features.rfm.calibration_and_holdout`.
    """
    duration = float(calibration["duration_holdout"].iloc[0])
    predicted = model.expected_purchases(
        duration, calibration["frequency_cal"], calibration["recency_cal"], calibration["T_cal"]
    )
    frame = pd.DataFrame(
        {
            "frequency_cal": calibration["frequency_cal"].to_numpy(),
            "actual": calibration["frequency_holdout"].to_numpy(),
            "predicted": np.asarray(predicted, dtype=float),
        }
    )
    grouped = frame.groupby("frequency_cal").agg(
        actual=("actual", "mean"), predicted=("predicted", "mean"), customers=("actual", "size")
    )
    return grouped.iloc[:n]


def calibration_vs_holdout(model: PurchaseModel, calibration: pd.DataFrame, n: int = 7) -> Figure:
    """Actual vs model-predicted mean holdout purchases by calibration frequency."""
    data = calibration_vs_holdout_data(model, calibration, n)
    fig = go.Figure()
    fig.add_scatter(x=data.index, y=data["actual"], mode="lines+markers", name="actual")
    fig.add_scatter(x=data.index, y=data["predicted"], mode="lines+markers", name="model")
    fig.update_layout(
        title="Actual vs predicted purchases in the holdout period",
        xaxis_title="purchases in the calibration period",
        yaxis_title="mean purchases in the holdout period",
    )
    return fig


def _period_numbers(index: pd.DatetimeIndex, freq: str) -> NDArray[np.int64]:
    if freq == "M":
        return np.asarray(index.year * 12 + index.month - 1, dtype=np.int64)
    unit = {"D": 86_400, "W": 7 * 86_400, "h": 3_600}[freq]
    seconds = index.as_unit("s").asi8
    return np.asarray(np.floor_divide(seconds, unit), dtype=np.int64)


def tracking_data(model: PurchaseModel, activity: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """Expected and actual repeat purchases per period, from first to last active period.

    ``activity`` is the output of :func:`cvm.features.rfm.activity_by_period`. A customer whose
    first purchase falls in period ``b`` has, by the end of period ``k``, made
    ``expected_purchases_new_customer(k + 1 - b)`` repeat purchases in expectation (time runs
    from the start of the first period, as in the RFM summary).

    Returns
    -------
    pandas.DataFrame
        Indexed by period start; columns ``actual``, ``expected`` (incremental),
        ``actual_cumulative`` and ``expected_cumulative``.
    """
    if activity.empty:
        raise ValueError("no activity to track")
    numbers = _period_numbers(pd.DatetimeIndex(activity.index), freq)
    start = int(numbers.min())
    periods = int(numbers.max()) - start + 1
    actual = np.bincount(numbers - start, weights=activity["repeat_purchases"].to_numpy(float), minlength=periods)
    births = activity["first_purchases"].to_numpy(float)
    age = (np.arange(periods)[:, None] + 1 - (numbers - start)[None, :]).astype(float)
    alive = age > 0
    expected_each = np.zeros_like(age)
    expected_each[alive] = np.asarray(model.expected_purchases_new_customer(age[alive]), dtype=float)
    expected_cum = expected_each @ births
    index = pd.date_range(pd.Timestamp(activity.index.min()), periods=periods, freq=_RANGE_FREQ[freq])
    return pd.DataFrame(
        {
            "actual": actual,
            "expected": np.diff(expected_cum, prepend=0.0),
            "actual_cumulative": np.cumsum(actual),
            "expected_cumulative": expected_cum,
        },
        index=index,
    )


def _tracking(data: pd.DataFrame, cumulative: bool) -> Figure:
    suffix = "_cumulative" if cumulative else ""
    fig = go.Figure()
    fig.add_scatter(x=data.index, y=data[f"actual{suffix}"], mode="lines", name="actual")
    fig.add_scatter(x=data.index, y=data[f"expected{suffix}"], mode="lines", name="model", line={"dash": "dash"})
    kind = "Cumulative" if cumulative else "Incremental"
    fig.update_layout(title=f"{kind} repeat purchases: actual vs model", xaxis_title="period", yaxis_title="purchases")
    return fig


def tracking_incremental(data: pd.DataFrame) -> Figure:
    """Repeat purchases per period, actual vs expected (``data`` from :func:`tracking_data`)."""
    return _tracking(data, cumulative=False)


def tracking_cumulative(data: pd.DataFrame) -> Figure:
    """Cumulative repeat purchases, actual vs expected (``data`` from :func:`tracking_data`)."""
    return _tracking(data, cumulative=True)


@dataclass(frozen=True)
class WrittenPlots:
    """Files written by :func:`write_figures`; ``png_error`` says why PNGs are missing, if they are."""

    files: list[Path] = field(default_factory=list)
    png_error: str | None = None


def write_figures(figures: Mapping[str, Figure], directory: Path, png: bool = True) -> WrittenPlots:
    """Write each figure as ``<name>.html`` (sharing one ``plotly.min.js``) and, if possible, ``<name>.png``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for name, fig in figures.items():
        path = directory / f"{name}.html"
        fig.write_html(path, include_plotlyjs="directory")
        files.append(path)
    if not png or not figures:
        return WrittenPlots(files)
    try:
        import kaleido  # type: ignore[import-untyped]  # noqa: F401
        import plotly.io as pio  # type: ignore[import-untyped]

        paths = [directory / f"{name}.png" for name in figures]
        pio.write_images(list(figures.values()), paths)
    except Exception as exc:  # kaleido missing, or no Chrome it can drive
        return WrittenPlots(files, png_error=f"PNG skipped ({type(exc).__name__}: {exc})".strip())
    return WrittenPlots(files + paths)
