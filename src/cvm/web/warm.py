"""Warm the report cache in the background, so that the default pages answer at once.

On a large workspace a report takes seconds (a million customers: up to ~10 s each); the cache makes
every later view instant. The first dashboard request after start, and the first after each commit
to the offline store, starts one background thread that computes the growth page's reports (the page a
first request waits for), builds the customer search index, then computes the other default views (no
filter, per month) in the order a manager opens them and the growth page for each single filter value
(one kind, channel, region or sector).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from cvm.engine import Engine
from cvm.web.cache import ReportCache
from cvm.web.filters import Filters
from cvm.web.reports import cached, filter_options, manifest_version
from cvm.web.search import index

log = logging.getLogger(__name__)

DEFAULT_VIEWS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("growth", "month", {"source": "transactions"}),
    ("cohorts", "month", {"source": "transactions"}),
    ("churn", "month", {}),
    ("silent-churn", "month", {}),
    ("scores", "month", {}),
    ("voc", "month", {}),
    ("voc", "month", {"by": "region"}),
    ("migration", "month", {"states": "stage"}),  # the Segments page: the life-cycle stages of cvm.yaml
    ("growth", "quarter", {"source": "transactions"}),
    ("cohorts", "quarter", {"source": "transactions"}),
    ("growth", "year", {"source": "transactions"}),
    ("cohorts", "year", {"source": "transactions"}),
    ("growth", "month", {"source": "mrr"}),
    ("cohorts", "month", {"source": "mrr"}),
)

SLICE_VIEWS: tuple[tuple[str, str, dict[str, Any]], ...] = DEFAULT_VIEWS[:2]


class Warmer:
    """Computes :data:`DEFAULT_VIEWS` once per manifest version, in one daemon thread at a time."""

    def __init__(self, engine: Engine, cache: ReportCache) -> None:
        self.engine = engine
        self.cache = cache
        self.warmed: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        """Start warming the current version unless it is warm or a warm-up is running."""
        version = manifest_version(self.engine)
        with self._lock:
            if version == self.warmed or (self._thread is not None and self._thread.is_alive()):
                return
            self.warmed = version
            self._thread = threading.Thread(target=self._run, args=(version,), name="cvm-web-warm", daemon=True)
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running warm-up (for tests and benchmarks)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _slices(self) -> list[tuple[Filters, str, str, dict[str, Any]]]:
        """The growth page for each single filter value (B2B, one region ...), after the defaults."""
        options = filter_options(self.engine)
        slices = [Filters(**{name: v}) for name in ("kind", "channel", "region", "sector") for v in options[name]]
        return [(f, kind, period, opts) for f in slices for kind, period, opts in SLICE_VIEWS]

    def _run(self, version: int) -> None:
        try:
            first = [(Filters(), *view) for view in DEFAULT_VIEWS[: len(SLICE_VIEWS)]]
            for filters, kind, period, options in first:  # the growth page, the one a first request waits for
                cached(self.engine, self.cache, kind, filters, period, **options)
            index(self.engine, self.cache)  # then the search index, no longer competing with that page
            views = [(Filters(), *view) for view in DEFAULT_VIEWS[len(SLICE_VIEWS) :]] + self._slices()
            for filters, kind, period, options in views:
                if manifest_version(self.engine) != version:
                    return  # a newer commit: the next request warms that one
                cached(self.engine, self.cache, kind, filters, period, **options)
        except Exception:  # a warm-up must never take the server down; the page computes on demand
            log.exception("warming the dashboard's reports failed")
