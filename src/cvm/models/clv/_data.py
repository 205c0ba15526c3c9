"""Input validation and the unique-row compression shared by the CLV models."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

# Predictions on more rows than this are computed once per unique input row.
UNIQUE_PREDICTION_THRESHOLD = 20_000
# Likelihood terms are split between threads in slices of at least this many rows.
SLICE_ROWS = 50_000
# Fits on more distinct rows than four times this start from the optimum of a subsample of this size.
PRESOLVE_ROWS = 10_000
_PACKED_BITS = 62  # an integer key and its row number sorted as one int64

T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def _forget_pool() -> None:
    global _pool
    _pool = None  # a forked child has none of the parent's threads


os.register_at_fork(after_in_child=_forget_pool)


def row_slices(n: int) -> list[slice]:
    """Contiguous slices that share ``n`` rows between the available cores (one slice when ``n`` is small)."""
    k = max(1, min(_threads(), n // SLICE_ROWS))
    bounds = np.linspace(0, n, k + 1).astype(np.intp)
    return [slice(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds)]


def map_slices(func: Callable[[slice], T], slices: Sequence[slice]) -> list[T]:
    """``[func(s) for s in slices]``, on a thread pool when there are several slices.

    NumPy and SciPy's special functions release the GIL on long arrays, so vectorised likelihood terms of
    disjoint row slices run in parallel. The caller's floating-point error settings apply in the threads.
    """
    if len(slices) <= 1:
        return [func(s) for s in slices]
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="cvm-clv")
    settings = np.geterr()

    def run(s: slice) -> T:
        with np.errstate(**settings):
            return func(s)

    return list(_pool.map(run, slices))


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
    if not arr.size or (np.isfinite(arr.min()) and np.isfinite(arr.max())):  # NaN propagates: two passes, no mask
        return arr
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
    if not arr.size or arr.min() >= 0:  # False with a NaN, which the mask below ignores
        return
    neg = arr < 0
    if neg.any():
        raise ValueError(f"{name} must be non-negative: {int(neg.sum())} negative value(s), first at {_first(neg)}")


def check_integer(name: str, arr: FloatArray) -> None:
    """Raise when ``arr`` has a non-integer value (NaN is left to other checks)."""
    off = np.rint(arr)
    off -= arr  # zero where whole; NaN where not finite (which any() counts): one array instead of four
    if not off.any():
        return
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
    """The distinct rows of equal-length 1-D ``columns``, sorted (lexicographically by column), and for each input
    row the index of its distinct row.

    The columns are packed into one integer key per row (whole-number columns as they are, others by their codes
    among their sorted distinct values). Few possible keys are indexed directly (linear); otherwise the keys are
    sorted, which NumPy's vectorised sort makes about as fast as hashing.
    """
    key, span = _row_key(columns)
    if span <= len(key):  # few possible keys: index them directly (in key order)
        present = np.zeros(span, dtype=np.bool_)
        present[key] = True
        group = (np.cumsum(present, dtype=np.intp) - 1)[key]
        n_groups = int(group.max()) + 1 if len(group) else 0
    else:
        group, n_groups = _factorize(key)
    first = np.empty(n_groups, dtype=np.intp)
    first[group] = np.arange(len(group), dtype=np.intp)  # any member represents its group: all are equal
    return [col[first] for col in columns], group.astype(np.intp, copy=False)


def _factorize(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], int]:
    """Each value's index among the sorted distinct values (NaN is one value, last), and how many there are.

    Integers whose range and row numbers fit in 62 bits together are sorted packed with their row numbers: a sort
    of plain integers, which NumPy vectorises, several times faster than the argsort of ``np.unique``.
    """
    n = values.size
    if values.dtype.kind == "i" and n:
        lo = int(values.min())
        row_bits = max(1, (n - 1).bit_length())
        if (int(values.max()) - lo).bit_length() + row_bits <= _PACKED_BITS:
            packed = np.subtract(values, lo, dtype=np.int64)
            packed <<= row_bits
            packed |= np.arange(n, dtype=np.int64)
            packed.sort()
            new = np.empty(n, dtype=np.bool_)
            new[0] = True
            keys = packed >> row_bits
            np.not_equal(keys[1:], keys[:-1], out=new[1:])
            rank = np.cumsum(new, dtype=np.int64) - 1
            codes = np.empty(n, dtype=np.int64)
            codes[packed & ((1 << row_bits) - 1)] = rank
            return codes, int(rank[-1]) + 1
    uniques, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(np.int64).ravel(), len(uniques)


def _codes(column: FloatArray) -> tuple[npt.NDArray[np.int64] | None, int]:
    """Integer codes of ``column``'s values in the order of the values, from 0 up to (excluding) the returned size.

    Whole numbers spanning less than 2^31 are their offset from the minimum; other values are factorized. A column
    of one value (a horizon broadcast to every row) has no codes to add to a key: None, 1.
    """
    if column.size:
        lo, hi = float(column.min()), float(column.max())
        if lo == hi:  # False when NaN is present
            return None, 1
        if hi - lo < 2**31 and np.array_equal(column, np.floor(column)):  # False when NaN is present
            codes = np.subtract(column, lo)
            return codes.astype(np.int64), int(hi - lo) + 1
    factorized, size = _factorize(column)
    return factorized, max(size, 1)


def _row_key(columns: Sequence[FloatArray]) -> tuple[npt.NDArray[np.int64], int]:
    """One int64 per row, equal for equal rows and different for different ones, sorting as the rows do
    (lexicographically by column), and the keys' range."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    span = 1
    for col in columns:
        codes, size = _codes(col)
        if codes is None:
            continue
        if span * size >= 2**62:  # re-number the rows so far to keep the key in range
            key, span = _factorize(key)
            span = max(span, 1)
        key *= np.int64(size)
        key += codes
        span *= size
    return key, span


def compress(columns: Sequence[FloatArray], weights: FloatArray) -> tuple[list[FloatArray], FloatArray]:
    """Distinct rows of ``columns`` with the summed ``weights`` of the rows they stand for (zero weights dropped).

    The distinct rows come sorted, so that a fit sees the same rows in the same order whether it is given one
    row per customer or the distinct rows with their counts (:func:`cvm.features.rfm.rfm_counts`): both give
    the same parameters, to the last bit when the weights are whole numbers.
    """
    keep = weights > 0
    if not keep.all():
        columns = [col[keep] for col in columns]
        weights = weights[keep]
    uniq, group = unique_rows(columns)
    return uniq, np.asarray(np.bincount(group, weights=weights, minlength=len(uniq[0])), dtype=np.float64)


def thin(weights: FloatArray, rows: int = PRESOLVE_ROWS, seed: int = 0) -> tuple[IntArray, FloatArray] | None:
    """A random subsample of about ``rows`` rows' customers: the rows kept and their weights.

    Each row's weight is Poisson-thinned, so a subsample's log-likelihood is an unbiased estimate of the full
    one, scaled down. None when there are fewer than ``4 * rows`` rows (fitting all of them is cheap).
    """
    if len(weights) < 4 * rows:
        return None
    thinned = np.random.default_rng(seed).poisson(weights * (rows / len(weights))).astype(np.float64)
    kept = np.flatnonzero(thinned > 0).astype(np.intp)
    return kept, thinned[kept]


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


def per_row_threaded(func: Callable[..., FloatArray], arrays: Sequence[FloatArray]) -> FloatArray:
    """``func(*arrays)`` for equal-length 1-D arrays, on row slices shared between the cores."""
    slices = row_slices(len(arrays[0]))
    if len(slices) == 1:
        return np.asarray(func(*arrays), dtype=np.float64)
    parts = map_slices(lambda rows: np.asarray(func(*(a[rows] for a in arrays)), dtype=np.float64), slices)
    return np.concatenate(parts)


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
