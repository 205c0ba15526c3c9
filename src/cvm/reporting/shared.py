"""Net revenue per customer and period, computed once per store version for every report that reads it.

The growth bridge, hunting vs farming and the cohorts all start from the same table
(:func:`cvm.reporting.queries.net_sql`: a scan of every transaction). The dashboard's growth page
shows all three, and its background warm-up computes them again: on a million customers that scan is
most of a cold page. :func:`shared_net` keeps the last few tables, keyed by the store's data files (so
a commit never serves numbers from before it), the filters, the source, the period and ``as_of``;
two threads asking for the same table at once compute it once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import polars as pl

MAX_TABLES = 4  # month, quarter, year and MRR of one view: a million customers' table is tens of MB

_lock = threading.Lock()
_tables: OrderedDict[tuple[Hashable, ...], pl.DataFrame] = OrderedDict()
_pending: dict[tuple[Hashable, ...], threading.Lock] = {}


def shared_net(key: tuple[Hashable, ...], compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """The table of ``key`` (store, data files, filters, source, period, as_of), computed by ``compute`` once."""
    with _lock:
        if key in _tables:
            _tables.move_to_end(key)
            return _tables[key]
        gate = _pending.setdefault(key, threading.Lock())
    with gate:
        with _lock:
            if key in _tables:  # another thread computed it while this one waited
                return _tables[key]
        try:
            table = compute()
            with _lock:
                _tables[key] = table
                while len(_tables) > MAX_TABLES:
                    _tables.popitem(last=False)
        finally:
            with _lock:
                _pending.pop(key, None)
    return table


def clear() -> None:
    """Forget every table (tests)."""
    with _lock:
        _tables.clear()
