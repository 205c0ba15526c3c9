"""The daily RFM summary of :mod:`cvm.features.rfm` by one sort, for integer customer ids.

:func:`cvm.features.rfm.summary_sql` is the definition; DuckDB runs it as two hash aggregations (customer and
day, then customer), which cost about 1 CPU-second for 3 million transactions. Here DuckDB only reads the log
through the same source query (the same casts, null handling and end-of-observation filter) into three columns:
the customer id, the day and the amount, whose exact ``DECIMAL(18, 6)`` value is recovered in micro-units. One
NumPy sort of a packed (customer, day, row) key puts each customer's days in order, and every statistic is then
a difference or a segment sum over the sorted rows: about a third of the cost. The amounts are summed as
integers, the same exact sums as the SQL's decimals, and each figure is made by the same floating-point
operations, so the result equals the SQL's bit for bit (``tests/unit/test_clv_rfm_sorted.py``). Every
timestamp resolution (s to ns, with or without a time zone) and every integer id type takes this path.

It applies to ``freq`` "D" with integer customer ids whose range and the days observed fit in 62 bits together
(the bits of each, rounded up), and
amounts of at most a billion whose sums cannot overflow 64-bit integers and whose repeat-purchase sums stay below
2^53 micro-units (about 9 billion a customer), where every converter turns them into the same float;
:func:`summary` returns None otherwise and the SQL runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import duckdb

    from cvm.features.rfm import RfmSpec

Arrays = dict[str, npt.NDArray[Any]]

_INTEGER_IDS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_KEY_BITS = 62  # (customer, day) keys and the packed (key, row) sort keys stay below 2^62
_MICRO = 1_000_000  # the SQL's amounts are DECIMAL(18, 6): whole micro-units
_EXACT = 2**53  # integers up to this convert to float64 exactly, whoever converts them
# Amounts up to this (2^50 micro-units at most) come back exactly from their nearest float: the relative error of
# the conversions, a few times 2^-53, is then below half a micro-unit.
_MAX_AMOUNT = 1e9


def summary(
    con: duckdb.DuckDBPyConnection, spec: RfmSpec, relation: str, source: str, end_literal: str
) -> Arrays | None:
    """The columns of ``summary_sql`` (``cid, frequency, recency, T, monetary_value``), or None where this
    path does not apply (see the module docstring). ``source`` is the SQL's source query over ``relation``
    and ``end_literal`` its end-of-observation timestamp literal."""
    if spec.freq != "D":
        return None
    cid_type = str(con.sql(f"SELECT cid FROM ({source}) AS s LIMIT 0").types[0])
    if cid_type not in _INTEGER_IDS:
        return None
    end_day = con.sql(f"SELECT CAST(CAST({end_literal} AS DATE) - DATE '1970-01-01' AS BIGINT)").fetchall()[0][0]
    rows = con.sql(  # the amount comes as the float nearest the exact decimal, about a third of an integer's cost
        f"SELECT cid, CAST(CAST(ts AS DATE) - DATE '1970-01-01' AS INTEGER) AS d, amount AS a "
        f"FROM ({source}) AS s WHERE CAST(ts AS DATE) <= CAST({end_literal} AS DATE)"
    ).fetchnumpy()
    # Arrays of millions of rows: each step works in place where it can (a fresh array costs its page faults).
    cid, amount = np.asarray(rows["cid"]), np.require(rows["a"], dtype=np.float64, requirements="W")
    if not cid.size or not max(float(amount.max()), -float(amount.min())) <= _MAX_AMOUNT:
        return None
    amount *= _MICRO
    np.rint(amount, out=amount)  # exact: the float is within 2^-52 relative of the decimal
    micro = amount.view(np.int64)  # the whole numbers, converted where they are
    np.copyto(micro, amount, casting="unsafe")
    day = np.require(rows["d"], requirements="W")
    return _aggregate(cid, day, micro, int(end_day), float(spec.freq_multiplier))


def _aggregate(
    cid: npt.NDArray[Any], day: npt.NDArray[Any], amount: npt.NDArray[np.int64], end_day: int, divisor: float
) -> Arrays | None:
    """The summary from per-row customer ids, days (integers) and micro-unit amounts; None where it cannot be exact.

    Each row gets one int64 key, ``customer << day_bits | day`` (offsets from the minima), with its row number
    packed below when all fit in 62 bits; one sort then orders the rows by customer and day, and shifts and masks
    (no division) take the key apart again. The three arrays are the caller's to give up: once the checks pass,
    their memory holds the intermediate results. On a cold process every fresh array of millions of rows costs its
    page faults, which cost more than the arithmetic.
    """
    n, id_dtype = cid.size, cid.dtype
    if max(int(amount.max()), -int(amount.min())) >= (2**63 - 1) // n:  # the sums could overflow: the SQL sums
        return None
    lo, d_lo = int(cid.min()), int(day.min())
    day_bits = max(1, (int(day.max()) - d_lo).bit_length())
    if (int(cid.max()) - lo).bit_length() + day_bits > _KEY_BITS:
        return None
    key = np.subtract(cid, lo, out=_scratch(cid, np.int64, n))  # orders rows by customer, then day
    key <<= day_bits
    day -= day.dtype.type(d_lo)
    key |= day
    key, sorted_amount = _sorted(key, amount, n, day)
    new = _changes(key)  # first row of each (customer, day) period
    if new.all():  # one purchase a day at most: each row is its own period
        period_key, period_amount = key, sorted_amount
        customer = np.right_shift(key, day_bits, out=_scratch(amount, np.int64, n))
    else:
        starts = np.flatnonzero(new)
        period_amount = np.add.reduceat(sorted_amount, starts, out=_scratch(amount, np.int64, starts.size))
        period_key = key[starts]
        customer = np.right_shift(period_key, day_bits, out=starts)
    del new
    firsts = np.flatnonzero(_changes(customer))  # first period of each customer
    lasts = np.empty_like(firsts)
    lasts[:-1] = firsts[1:]
    lasts[-1] = customer.size
    lasts -= firsts
    frequency = lasts.astype(np.float64)  # periods
    frequency -= 1.0
    lasts += firsts
    lasts -= 1
    repeat_amount = np.add.reduceat(period_amount, firsts)
    repeat_amount -= period_amount[firsts]
    if int(np.abs(repeat_amount).max()) > _EXACT:  # the SQL's decimal-to-double cast may round otherwise
        return None
    monetary = repeat_amount.astype(np.float64)
    monetary /= _MICRO
    np.divide(monetary, frequency, out=monetary, where=frequency > 0)
    monetary[frequency == 0] = 0.0
    day_mask = (1 << day_bits) - 1
    first_day = period_key[firsts]
    first_day &= day_mask
    recency = period_key[lasts]
    recency &= day_mask
    recency -= first_day
    ids = customer[firsts]
    ids += lo
    np.subtract(end_day - d_lo, first_day, out=first_day)
    return {
        "cid": ids.astype(id_dtype, copy=False),
        "frequency": frequency,
        "recency": _over(recency, divisor),
        "T": _over(first_day, divisor),
        "monetary_value": monetary,
    }


def _over(days: npt.NDArray[np.int64], divisor: float) -> npt.NDArray[np.float64]:
    out = days.astype(np.float64)
    out /= divisor
    return out


def _scratch(buffer: npt.NDArray[Any], dtype: type[np.integer[Any]], size: int) -> npt.NDArray[Any]:
    """The first ``size`` items of ``buffer`` when it is a writable contiguous array of ``dtype``, else a new array."""
    if buffer.dtype == dtype and buffer.size >= size and buffer.flags.writeable and buffer.flags.c_contiguous:
        return buffer[:size]
    return np.empty(size, dtype=dtype)


def _sorted(
    key: npt.NDArray[np.int64], amount: npt.NDArray[np.int64], n: int, spare: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``key`` sorted (in place) and ``amount`` in the same order (a new array). The row number is packed below the
    key when both fit in an int64, so that NumPy's vectorised sort of plain integers does the work (several times an
    argsort's speed); ``spare``, an array no longer needed, holds the row numbers when it can."""
    row_bits = max(1, (n - 1).bit_length())
    if int(key.max()) < 2 ** (_KEY_BITS - row_bits):
        index_type: type[np.signedinteger[Any]] = np.int32 if row_bits < 32 else np.int64  # half the bytes
        key <<= row_bits
        np.bitwise_or(key, np.arange(n, dtype=index_type), out=key)
        key.sort()
        order = np.bitwise_and(key, (1 << row_bits) - 1, out=_scratch(spare, index_type, n), casting="unsafe")
        key >>= row_bits
        return key, amount[order]
    order = np.argsort(key)
    return key[order], amount[order]


def _changes(sorted_values: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """True at the first row and wherever the value differs from the row before."""
    out = np.empty(sorted_values.size, dtype=np.bool_)
    out[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=out[1:])
    return out
