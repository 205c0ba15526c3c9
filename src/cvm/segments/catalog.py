"""What ``cvm segments list`` and ``show`` print: definitions, sizes and history of every segment."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from cvm.config.plans import SegmentsConfig
from cvm.errors import UnknownError
from cvm.segments.compute import SegmentModel
from cvm.segments.margins import segment_margins
from cvm.store import OfflineStore

GRADES = ("high", "medium", "low")


def definitions(cfg: SegmentsConfig) -> list[dict[str, str]]:
    """Every segment the configuration defines: name (as stored), kind and definition."""
    out = [{"segment": f"stage:{n}", "kind": "stage", "definition": w} for n, w in cfg.lifecycle.items()]
    out.append({"segment": f"stage:{cfg.fallback_stage}", "kind": "stage", "definition": "none of the other stages"})
    out += [
        {"segment": f"value_risk:{v}/{r}", "kind": "matrix",
         "definition": f"{cfg.value_column} = '{v}' and {cfg.risk_column} = '{r}'"}
        for v in GRADES for r in GRADES
    ]  # fmt: skip
    out.append({"segment": "vip", "kind": "vip", "definition": cfg.vip})
    out += [{"segment": n, "kind": "named", "definition": d.when} for n, d in cfg.definitions.items() if n != "vip"]
    return out


def _latest(store: OfflineStore) -> date | None:
    value = store.scan("segment_membership").select(pl.col("as_of").max()).collect().item()
    return value if isinstance(value, date) else None


def list_segments(store: OfflineStore, cfg: SegmentsConfig) -> tuple[list[dict[str, Any]], date | None]:
    """Definitions with their size at the latest refresh, and that refresh's date."""
    as_of = _latest(store)
    counts: dict[str, int] = {}
    if as_of is not None:
        frame = store.scan("segment_membership").filter(pl.col("as_of") == as_of).group_by("segment").len().collect()
        counts = dict(zip(frame["segment"].to_list(), frame["len"].to_list(), strict=True))
    rows = [{**d, "customers": counts.get(d["segment"], 0)} for d in definitions(cfg)]
    return rows, as_of


def overview(store: OfflineStore, cfg: SegmentsConfig, points: int = 6) -> dict[str, Any]:
    """Every segment with its definition, size at the latest refresh and sizes at the last ``points`` refreshes.

    Returns ``{"as_of": date | None, "dates": [...], "segments": [{segment, kind, definition, customers,
    trend: [customers per date], margin_12m, net_margin_12m, scored}]}`` (the members' gross and net margin of
    the last 12 months, :mod:`cvm.segments.margins`), segments in :func:`definitions` order (stages first).
    """
    rows, as_of = list_segments(store, cfg)
    stored = store.scan("segment_membership")
    dates = stored.select(pl.col("as_of").unique()).collect()["as_of"].sort().tail(points).to_list()
    sizes = stored.filter(pl.col("as_of").is_in(dates)).group_by("segment", "as_of").len().collect()
    by = {(seg, day): int(n) for seg, day, n in sizes.iter_rows()}
    margins = segment_margins(store, as_of) if as_of is not None else {}
    none = {"margin_12m": None, "net_margin_12m": None, "scored": 0}
    segments = [
        {**row, "trend": [by.get((row["segment"], day), 0) for day in dates], **margins.get(row["segment"], none)}
        for row in rows
    ]
    return {"as_of": as_of, "dates": dates, "segments": segments}


def resolve(cfg: SegmentsConfig, name: str) -> dict[str, str]:
    """The definition of ``name`` (``at_risk`` is read as ``stage:at_risk``), or ``KeyError``."""
    known = {d["segment"]: d for d in definitions(cfg)}
    for candidate in (name, f"stage:{name}"):
        if candidate in known:
            return known[candidate]
    raise UnknownError(f"unknown segment {name!r}; known segments: {', '.join(known)}")


def _sql(cfg: SegmentsConfig, segment: str) -> str:
    from cvm.rules.sql import to_sql

    model = SegmentModel(cfg)
    if segment.startswith("stage:"):
        return f"{to_sql(model.trees['stage'])} = '{segment[len('stage:') :]}'"
    if segment.startswith("value_risk:"):
        return f"{to_sql(model.trees['value_risk'])} = '{segment[len('value_risk:') :]}'"
    return to_sql(model.trees[f"seg_{segment}"])


def describe_segment(store: OfflineStore, cfg: SegmentsConfig, name: str, limit: int = 20) -> dict[str, Any]:
    """One segment: definition, the DuckDB SQL it compiles to, size per refresh and members at the latest one."""
    info = resolve(cfg, name)
    seg = info["segment"]
    rows = store.scan("segment_membership").filter(pl.col("segment") == seg)
    history = rows.group_by("as_of").len().sort("as_of").collect()
    as_of = _latest(store)
    members = (
        rows.filter(pl.col("as_of") == as_of).select("customer_id").sort("customer_id").head(limit).collect()
        if as_of is not None
        else pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.Utf8})
    )
    return {
        **info,
        "sql": _sql(cfg, seg),
        "history": [{"as_of": d, "customers": n} for d, n in history.iter_rows()],
        "as_of": as_of,
        "members": members["customer_id"].to_list(),
    }
