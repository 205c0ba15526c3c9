"""Input validation and the unique-row compression shared by the CLV models."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Predictions on more rows than this are computed once per unique input row.
UNIQUE_PREDICTION_THRESHOLD = 20_000


def wsum(weights: FloatArray, values: FloatArray) -> float:
    """``Σ weights · values``, without BLAS: ``np.dot`` on long vectors starts BLAS threads, and on a busy
    machine with few cores their spin-waiting can cost more than the arithmetic."""
    return float(np.add.reduce(weights * values, axis=None))


def as_float_array(name: str, value: npt.ArrayLike, *, allow_nan: bool = False) -> FloatArray:
    """``value`` as a float64 array, with an error naming ``name`` when it is not numeric or not finite."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from exc
    bad = ~np.isfinite(arr)
    if allow_nan:
        bad &= ~np.isnan(arr)
    if bad.any():
        what = "infinite" if allow_nan or not np.isnan(arr).any() else "NaN or infinite"
        raise ValueError(f"{name} contains {int(bad.sum())} {what} value(s), first at position {_first(bad)}")
    return arr


def _first(mask: npt.NDArray[np.bool_]) -> int:
    return int(np.flatnonzero(mask.ravel())[0])


def check_non_negative(name: str, arr: FloatArray) -> None:
    """Raise when ``arr`` has a negative value."""
    neg = arr < 0
    if neg.any():
        raise ValueError(f"{name} must be non-negative: {int(neg.sum())} negative value(s), first at {_first(neg)}")


def check_integer(name: str, arr: FloatArray) -> None:
    """Raise when ``arr`` has a non-integer value (NaN is left to other checks)."""
    frac = np.isfinite(arr) & (arr != np.round(arr))
    if frac.any():
        raise ValueError(f"{name} must hold whole numbers: {int(frac.sum())} value(s) are not, first at {_first(frac)}")


def check_le(name_lo: str, lo: FloatArray, name_hi: str, hi: FloatArray) -> None:
    """Raise when ``lo > hi`` anywhere."""
    over = lo > hi
    if over.any():
        raise ValueError(f"{name_lo} exceeds {name_hi} in {int(over.sum())} row(s), first at position {_first(over)}")


def columns_1d(named: Sequence[tuple[str, npt.ArrayLike]], *, allow_nan: Sequence[str] = ()) -> list[FloatArray]:
    """Validate fitting columns: numeric, finite, one-dimensional, non-empty and of one length."""
    arrays = [np.atleast_1d(as_float_array(name, value, allow_nan=name in allow_nan)) for name, value in named]
    for (name, _), arr in zip(named, arrays, strict=True):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    lengths = {name: len(arr) for (name, _), arr in zip(named, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    if not arrays[0].size:
        raise ValueError(f"{named[0][0]} is empty: there is nothing to fit")
    return arrays


def fit_weights(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    """Validated per-row weights (customer counts); ones when ``weights`` is None."""
    if weights is None:
        return np.ones(n)
    w = np.atleast_1d(as_float_array("weights", weights))
    if w.shape != (n,):
        raise ValueError(f"weights must have one value per row ({n}), got shape {w.shape}")
    check_non_negative("weights", w)
    if not w.sum() > 0:
        raise ValueError("weights sum to zero: there is nothing to fit")
    return w


def unique_rows(columns: Sequence[FloatArray]) -> tuple[list[FloatArray], IntArray]:
    """The distinct rows of equal-length 1-D ``columns`` and, for each input row, the index of its distinct row.

    Hash-based (pandas factorize), so linear in the number of rows. Whole-number columns (counts, days) are
    packed into one integer key and hashed once.
    """
    key = _integer_key(columns)
    if key is None:
        key = np.zeros(len(columns[0]), dtype=np.int64)
        for col in columns:
            codes, uniques = pd.factorize(col, sort=False)
            key = key * np.int64(len(uniques)) + codes.astype(np.int64)
            key = pd.factorize(key, sort=False)[0].astype(np.int64)  # keeps the key below n
    group, reps = pd.factorize(key, sort=False)
    first = np.empty(len(reps), dtype=np.intp)
    first[group] = np.arange(len(group), dtype=np.intp)  # any member represents its group: all are equal
    return [col[first] for col in columns], group.astype(np.intp)


def _integer_key(columns: Sequence[FloatArray]) -> npt.NDArray[np.int64] | None:
    """One int64 per row that packs whole-number, non-negative columns; None when they are not such."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for col in columns:
        if not col.size:
            return None
        top = float(col.max())
        span *= int(top) + 1
        if col.min() < 0 or span >= 2**62 or not np.array_equal(col, np.floor(col)):
            return None
        key = key * np.int64(int(top) + 1) + col.astype(np.int64)
    return key


def compress(columns: Sequence[FloatArray], weights: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Distinct rows of ``columns`` with the summed ``weights`` of the rows they stand for (zero weights dropped)."""
    keep = weights > 0
    if not keep.all():
        columns = [col[keep] for col in columns]
        weights = weights[keep]
    uniq, group = unique_rows(columns)
    return uniq, np.asarray(np.bincount(group, weights=weights, minlength=len(uniq[0])), dtype=np.float64)


def broadcast_inputs(named: Sequence[tuple[str, npt.ArrayLike]]) -> list[FloatArray]:
    """Validate prediction inputs (numeric, finite, non-negative) and broadcast them to one shape."""
    arrays = [as_float_array(name, value) for name, value in named]
    for (name, _), arr in zip(named, arrays, strict=True):
        check_non_negative(name, arr)
    try:
        return [np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(*arrays)]
    except ValueError as exc:
        shapes = {name: np.shape(arr) for (name, _), arr in zip(named, arrays, strict=True)}
        raise ValueError(f"inputs cannot be broadcast together: {shapes}") from exc


def per_unique_row(func: Callable[..., FloatArray], arrays: Sequence[FloatArray]) -> FloatArray:
    """``func(*arrays)``, evaluated once per distinct row when the inputs are long 1-D arrays.

    Floating-point warnings are silenced: the formulas handle their limits (e.g. ``log 0``) themselves.
    """
    with np.errstate(all="ignore"):
        if arrays[0].ndim != 1 or arrays[0].size < UNIQUE_PREDICTION_THRESHOLD:
            return np.asarray(func(*arrays), dtype=np.float64)
        uniq, group = unique_rows(arrays)
        if len(uniq[0]) > 0.7 * len(group):
            return np.asarray(func(*arrays), dtype=np.float64)
        return np.asarray(func(*uniq), dtype=np.float64)[group]
