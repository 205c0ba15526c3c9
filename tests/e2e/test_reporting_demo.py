"""Reports end to end on the demo company (generated, ingested into a workspace, reported through the store
and as HTML): against its ground truth, and equal to the pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting import (
    ReportFilter,
    churn_events,
    growth_accounting,
    mrr_by_period,
    silent_flags,
    voc,
)
from cvm.reporting.reports import records

END = date(2024, 12, 31)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    root = tmp_path_factory.mktemp("demo")
    data = root / "data"
    generate(1500, seed=11, out=data, end=END)
    engine = Engine.init(root / "ws")
    for table in DATA_TABLES:
        assert engine.ingest(table, sorted(data.glob(f"{table}.*")), actor="test").ok
    yield engine, data
    engine.close()


def truth(data: Path) -> pl.DataFrame:
    return pl.read_parquet(data / "ground_truth" / "customers_truth.parquet")


def test_silent_churn_matches_the_ground_truth_under_its_definition(demo: tuple[Engine, Path]) -> None:
    engine, data = demo
    t = truth(data)
    churned = t.filter(pl.col("churned_at").is_not_null()).select(
        "customer_id", "churned_at", revenue_lost=pl.lit(0).cast(pl.Decimal(38, 2))
    )
    flags = silent_flags(churned, engine.offline.scan("contacts"), lookback_days=180)
    assert flags.height > 100
    assert int(flags["silent"].sum()) == int(t["silent_churn"].sum())
    got = dict(zip(flags["customer_id"], flags["silent"], strict=True))
    assert all(got[c] == s for c, s in zip(t["customer_id"], t["silent_churn"], strict=True) if c in got)


def test_contract_churns_are_the_true_churns_of_subscribers(demo: tuple[Engine, Path]) -> None:
    engine, data = demo
    store = engine.offline
    events = churn_events(store.scan("transactions"), store.scan("subscriptions"), END)
    contract = events.filter(pl.col("basis") == "contract")
    subscribers = store.scan("subscriptions").select("customer_id").unique().collect()
    t = truth(data).filter(pl.col("churned_at").is_not_null()).join(subscribers, on="customer_id", how="semi")
    joined = contract.join(t, on="customer_id", how="full", coalesce=True)
    assert joined.height == contract.height == t.height
    assert (joined["churned_at"] == joined["churned_at_right"]).all()
    assert (joined["reason"] == joined["churn_reason"]).all()
    flags = silent_flags(contract, store.scan("contacts"))
    check = flags.join(t.select("customer_id", "silent_churn"), on="customer_id")
    assert (check["silent"] == check["silent_churn"]).all()
    report = engine.reports.report("silent-churn", as_of=END)
    assert report.summary["churned"] == events.height


def test_store_reports_equal_the_pure_functions(demo: tuple[Engine, Path]) -> None:
    engine, data = demo
    tx = pl.scan_parquet(data / "transactions.parquet")
    pure = growth_accounting(tx, "Q")
    report = engine.reports.report("growth", "quarter")
    assert report.tables["growth"].select(pure.columns).equals(pure)
    assert report.summary["latest_complete"]["period"] == "2024-Q4"
    subs = pl.read_parquet(data / "subscriptions.parquet")
    mrr = growth_accounting(mrr_by_period(subs, "M", as_of=END), "M")
    assert engine.reports.report("growth", "M", source="mrr").tables["growth"].select(mrr.columns).equals(mrr)
    surveys = pl.read_parquet(data / "surveys.parquet")
    pure_voc = voc(surveys, "Y")  # the report adds the small_sample, complete and partial flags (issue 16)
    assert engine.reports.report("voc", "Y").tables["voc"].select(pure_voc.columns).equals(pure_voc)


def test_filters_partition_the_bridge(demo: tuple[Engine, Path]) -> None:
    engine, _ = demo
    whole = engine.reports.report("growth", "Q").tables["growth"]
    parts = [engine.reports.report("growth", "Q", ReportFilter(kind=k)).tables["growth"] for k in ("B2B", "B2C")]
    for column in ("new", "churned", "end"):
        summed = (
            parts[0]
            .join(parts[1], on="period", how="full", coalesce=True)
            .select("period", total=pl.col(column).fill_null(0) + pl.col(f"{column}_right").fill_null(0))
        )
        assert dict(summed.iter_rows()) == dict(zip(whole["period"], whole[column], strict=True))
    direct = engine.reports.report("growth", "Q", ReportFilter(channel="direct", region=["North"]))
    assert direct.parameters["filters"] == {"channel": ["direct"], "region": ["North"]}


def test_every_report_serialises(demo: tuple[Engine, Path]) -> None:
    engine, _ = demo
    for kind in ("growth", "voc", "cohorts", "migration", "churn", "silent-churn", "scores"):
        out = engine.reports.report(kind).to_dict()
        assert out["kind"] == kind
        assert out["definitions"]
        for rows in out["tables"].values():
            assert all(isinstance(v, str | int | float | bool | type(None)) for r in rows for v in r.values())
    churn = engine.reports.report("churn", top=3)
    assert churn.tables["reasons"].height <= 3
    assert sum(churn.summary[k] for k in ("voluntary", "involuntary", "unknown")) == churn.summary["churned"]
    assert records(pl.DataFrame({"x": [float("nan")]})) == [{"x": None}]


def test_html_report_is_self_contained(demo: tuple[Engine, Path], tmp_path: Path) -> None:
    engine, _ = demo
    path = engine.reports.report_html(tmp_path / "out" / "report.html", "quarter")
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']https?:", text, flags=re.IGNORECASE)
    assert text.count("plotly-graph-div") >= 8
    for title in ("Growth accounting", "Trend and rates", "Voice of the customer", "Churn reasons", "Cohorts"):
        assert f"<h2>{title}</h2>" in text


def test_cohorts_and_hunting_add_up_to_the_bridge(demo: tuple[Engine, Path]) -> None:
    engine, _ = demo
    growth = engine.reports.report("growth", "M")
    end = dict(zip(growth.tables["growth"]["period"], growth.tables["growth"]["end"], strict=True))
    split = growth.tables["hunting_farming"]
    assert {p: h + f for p, h, f in split.select("period", "hunting", "farming").iter_rows()} == end
    cohorts = engine.reports.report("cohorts", "M").tables["cohorts"]
    per_period = cohorts.group_by("period").agg(pl.col("revenue").sum())
    assert dict(per_period.iter_rows()) == {p: v for p, v in end.items() if p in set(per_period["period"])}
    assert set(end) == set(per_period["period"])


def test_as_of_ignores_later_data(demo: tuple[Engine, Path]) -> None:
    engine, data = demo
    cut = date(2024, 6, 15)
    report = engine.reports.report("growth", "M", as_of=cut)
    tx = pl.read_parquet(data / "transactions.parquet").filter(pl.col("ts").dt.date() <= cut)
    pure = growth_accounting(tx, "M")
    assert report.tables["growth"].select(pure.columns).equals(pure)
    assert report.parameters["as_of"] == cut
    assert report.tables["growth"]["period"][-1] == "2024-06"
    assert report.summary["latest_complete"]["period"] == "2024-05"
    assert engine.reports.report("growth").parameters["as_of"] == END
