"""Vectorised helpers shared by the demo generators: ragged ranges, sampling, ids, dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    """The simulated period: times are float days since ``start``; ``horizon`` is the end of ``end``.

    Examples
    --------
    >>> w = Window.from_end(date(2024, 3, 31), years=1)
    >>> (w.start, w.horizon)
    (datetime.date(2023, 3, 31), 367.0)
    """

    start: date
    end: date

    @classmethod
    def from_end(cls, end: date, years: int) -> Window:
        """Cover ``years`` calendar years that end on ``end`` (inclusive)."""
        try:
            start = end.replace(year=end.year - years)
        except ValueError:  # 29 February
            start = (end - timedelta(days=1)).replace(year=end.year - years)
        return cls(start=start, end=end)

    @property
    def last_day(self) -> int:
        """Day number of ``end``: every date must have a day number at most this."""
        return (self.end - self.start).days

    @property
    def horizon(self) -> float:
        """Exclusive upper bound of simulated times (midnight after ``end``)."""
        return float(self.last_day + 1)

    @property
    def epoch_offset(self) -> int:
        """Days from 1970-01-01 to ``start``."""
        return (self.start - _EPOCH).days


def sigmoid(x: FloatArray) -> FloatArray:
    """Logistic function."""
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def logit(p: float) -> float:
    """Log-odds of a probability."""
    return float(np.log(p / (1.0 - p)))


def ragged_arange(counts: IntArray) -> IntArray:
    """Concatenate ``arange(c)`` for every count ``c`` (the position of each row within its group).

    Examples
    --------
    >>> ragged_arange(np.array([2, 0, 3])).tolist()
    [0, 1, 0, 1, 2]
    """
    counts = counts.astype(np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def group_rank(groups: IntArray) -> IntArray:
    """Position of each row within its run of equal, sorted ``groups`` values."""
    if groups.size == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.r_[True, groups[1:] != groups[:-1]]
    first = np.flatnonzero(new)
    counts = np.diff(np.r_[first, groups.size])
    return ragged_arange(counts)


def categorical(rng: np.random.Generator, weights: FloatArray) -> IntArray:
    """Draw one column index per row of a non-negative weight matrix (rows need not sum to one)."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(weights.shape[0]) * cum[:, -1]
    index: IntArray = np.minimum((u[:, None] >= cum).sum(axis=1), weights.shape[1] - 1).astype(np.int64)
    return index


def poisson_times(
    rng: np.random.Generator, rate: FloatArray, lo: FloatArray, hi: FloatArray
) -> tuple[IntArray, FloatArray]:
    """Poisson events with ``rate`` per day on ``[lo, hi)`` per customer: (customer index, time)."""
    span = np.maximum(hi - lo, 0.0)
    counts = rng.poisson(rate * span)
    cust = np.repeat(np.arange(rate.size, dtype=np.int64), counts)
    t = lo[cust] + rng.random(cust.size) * span[cust]
    return cust, t


def sort_events(cust: IntArray, t: FloatArray) -> IntArray:
    """Order that sorts rows by customer, then time."""
    return np.lexsort((t, cust))


def ids(prefix: str, count: int, width: int) -> pa.Array:
    """Sequential string ids ``prefix`` + zero-padded 1..count."""
    numbers = pc.cast(pa.array(np.arange(1, count + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width=width, padding="0"), "")


def id_width(count: int, minimum: int) -> int:
    """Digits needed for ids up to ``count``, at least ``minimum``."""
    return max(minimum, len(str(max(count, 1))))


def _finite(t: FloatArray) -> FloatArray:
    """``t`` with NaN and infinities (null placeholders) replaced by 0."""
    return np.where(np.isfinite(t), t, 0.0)


def date_array(window: Window, t: FloatArray, mask: BoolArray | None = None) -> pa.Array:
    """Arrow date32 of the day that contains each time (``mask`` marks nulls)."""
    days = (window.epoch_offset + np.floor(_finite(t))).astype(np.int32)
    return pa.array(days, type=pa.int32(), mask=mask).cast(pa.date32())


def epoch_seconds(window: Window, t: FloatArray) -> IntArray:
    """Whole seconds since 1970 of each time, the time of day mapped into 08:00-18:00 UTC.

    The mapping is monotone within a day, so the order of events is kept.
    """
    t = _finite(t)
    day = np.floor(t)
    seconds = np.floor((day + window.epoch_offset) * SECONDS_PER_DAY + (8 + 10 * (t - day)) * 3600)
    return seconds.astype(np.int64)


def timestamp_array(window: Window, t: FloatArray, mask: BoolArray | None = None) -> pa.Array:
    """Arrow timestamp[us, UTC] of :func:`epoch_seconds` (``mask`` marks nulls)."""
    micros = epoch_seconds(window, t) * 1_000_000
    return pa.array(micros, type=pa.int64(), mask=mask).cast(pa.timestamp("us", tz="UTC"))


def strings(options: tuple[str, ...], index: IntArray, mask: BoolArray | None = None) -> pa.Array:
    """Arrow string array ``options[index]`` (``mask`` marks nulls)."""
    out = pa.array(options, type=pa.string()).take(pa.array(index))
    if mask is None:
        return out
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), out)
