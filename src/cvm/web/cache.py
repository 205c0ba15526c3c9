"""An in-memory cache of report results, keyed first by the offline store's manifest version.

Every commit to the offline store bumps the manifest ``version``, so a key that
starts with it never serves numbers from before a commit, and entries of older
versions are dropped as soon as a newer one is asked for. Each key is computed
once even when several requests ask for it at the same moment.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class ReportCache:
    """Least-recently-used results of ``compute()`` per key.

    Examples
    --------
    >>> cache = ReportCache(max_entries=2)
    >>> cache.get((1, "growth"), lambda: 42)
    42
    >>> cache.get((1, "growth"), lambda: 0)  # served from the cache
    42
    >>> cache.get((2, "growth"), lambda: 43), len(cache)  # a commit happened: version 1 is gone
    (43, 1)
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._values: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self._pending: dict[tuple[Hashable, ...], threading.Lock] = {}
        self.version = -1
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """The cached value of ``key``, computing it with ``compute`` the first time.

        ``key[0]`` is the manifest version: the first key of a newer version drops every older entry.
        """
        with self._lock:
            self._purge_before(key[0])
            if key in self._values:
                self._values.move_to_end(key)
                self.hits += 1
                value: T = self._values[key]
                return value
            gate = self._pending.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._values:  # another request computed it while we waited
                    self.hits += 1
                    cached: T = self._values[key]
                    return cached
            try:
                result = compute()
                with self._lock:
                    self.misses += 1
                    if not (isinstance(key[0], int) and key[0] < self.version):  # not stale by now
                        self._values[key] = result
                    while len(self._values) > self.max_entries:
                        self._values.popitem(last=False)
            finally:
                with self._lock:
                    self._pending.pop(key, None)
        return result

    def _purge_before(self, version: Hashable) -> None:
        if not isinstance(version, int) or version <= self.version:
            return
        self.version = version
        for stale in [k for k in self._values if isinstance(k[0], int) and k[0] < version]:
            del self._values[stale]

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
