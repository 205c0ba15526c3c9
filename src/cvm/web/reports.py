"""The reports behind the dashboard pages, cached per (manifest version, report, filters, period, options).

The numbers are :meth:`cvm.services.ReportService.report`'s, the function behind ``cvm report KIND --json``:
a page shows values of ``Report.to_dict()`` and draws ``Report.tables`` with
:mod:`cvm.reporting.figures`; it never sums anything itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import polars as pl
from fastapi import Request

from cvm.engine import Engine
from cvm.i18n import use_locale
from cvm.reporting import Report, ReportFilter
from cvm.web.auth import get_engine
from cvm.web.cache import ReportCache
from cvm.web.filters import Filters
from cvm.web.language import request_lang

T = TypeVar("T")


@dataclass(frozen=True)
class Computed:
    """A report and its JSON form (what ``cvm report KIND --json`` prints for the same choices)."""

    report: Report
    data: dict[str, Any]

    def table(self, name: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.data["tables"][name]
        return rows

    def frame(self, name: str) -> pl.DataFrame:
        return self.report.tables[name]


def manifest_version(engine: Engine) -> int:
    """The offline store's commit counter: it changes on every committed write."""
    return engine.reports.data_version()


def report_filter(filters: Filters) -> ReportFilter:
    """The reporting package's filter for the page's filters."""
    return ReportFilter(**filters.as_dict())


def compute(engine: Engine, kind: str, filters: Filters, period: str, **options: Any) -> Computed:
    """Report ``kind`` for the page's filters and period."""
    report = engine.reports.report(kind, period, report_filter(filters), **options)
    return Computed(report, report.to_dict())


def cached(engine: Engine, cache: ReportCache, kind: str, filters: Filters, period: str, **options: Any) -> Computed:
    """:func:`compute`, cached until the next commit to the offline store."""
    key = (manifest_version(engine), kind, filters, period, tuple(sorted(options.items())))
    return cache.get(key, lambda: compute(engine, kind, filters, period, **options))


def report(request: Request, kind: str, filters: Filters, period: str, **options: Any) -> Computed:
    """The report for a page: :func:`cached` with the app's engine and cache."""
    return cached(get_engine(request), request.app.state.web_cache, kind, filters, period, **options)


def memo(request: Request, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Any page part (chart specs, say), cached under ``key`` until the next commit.

    The part is computed in the page's language (its titles and labels may be translated), and cached per language.
    """
    cache: ReportCache = request.app.state.web_cache
    lang = request_lang(request)

    def localised() -> T:
        with use_locale(lang):
            return compute()

    return cache.get((manifest_version(get_engine(request)), lang, *key), localised)


def filter_options(engine: Engine) -> dict[str, list[str]]:
    """The values each filter can take in the current data (segments are score grades)."""
    attrs = ("kind", "channel", "region", "sector")
    options = engine.reports.attribute_values(attrs)
    options["segment"] = sorted(f"{s}:{g}" for s, g in engine.reports.score_grades())
    return options


def options(request: Request) -> dict[str, list[str]]:
    """:func:`filter_options`, cached until the next commit."""
    engine = get_engine(request)
    cache: ReportCache = request.app.state.web_cache
    return cache.get((manifest_version(engine), "options"), lambda: filter_options(engine))
