"""Segments refresh and every report (growth, voc, cohorts, migration, churn, silent churn, scores) on DuckDB and
on Spark: the same rows.

One small demo hub (generated, ingested, with clv grades and an uplift score stored at two dates and two
stored segment refreshes) is read by both offline backends through the same queries; floats agree to 1e-9
relative, money exactly, dtypes equal. The growth bridge is exact to the cent on amounts that binary
floating point sums badly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from cvm.config import Settings
from cvm.contracts import DATA_TABLES
from cvm.demo import generate
from cvm.engine import Engine
from cvm.reporting import KINDS, ReportFilter, build_report, shared
from cvm.reporting.queries import run_local
from cvm.reporting.reports import Inputs
from cvm.rules import compile_rule
from cvm.segments.refresh import refresh_segments
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend
from cvm.store.spark import SparkBackend, to_spark_sql
from tests.cli_process import start_cvm
from tests.spark_session import SPARK_MARKS, spark

__all__ = ["spark"]  # the shared session fixture

pytestmark = SPARK_MARKS

END = date(2024, 12, 31)
REFRESHES = (date(2024, 9, 30), date(2024, 11, 30))


def _scores(ids: list[str]) -> pl.DataFrame:
    """clv and churn grades at two dates (some customers change) and an uplift score whose newest value is null."""
    rows = []
    for i, cid in enumerate(ids):
        for k, day in enumerate(REFRESHES):
            grade = ("low", "medium", "high")[(i + k * (i % 2)) % 3]
            rows.append((cid, day, "clv", float(i * 7 % 900) + k, grade))
            rows.append((cid, day, "churn", (i % 10) / 10, ("low", "medium", "high")[(i // 3 + k) % 3]))
            rows.append((cid, day, "uplift_call", None if k and i % 3 == 0 else 0.01 * (i % 10), None))
    return pl.DataFrame(rows, schema=["customer_id", "as_of", "score", "value", "grade"], orient="row")


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path]]:
    root = tmp_path_factory.mktemp("backends")
    generate(300, seed=17, out=root / "data", end=END)
    engine = Engine.init(root / "ws")
    for table in DATA_TABLES:
        assert engine.ingest(table, sorted((root / "data").glob(f"{table}.*")), actor="test").ok
    store = engine.offline
    with store.transaction() as tx:
        tx.append("scores", _scores(store.read("customers")["customer_id"].to_list()))
    for day in REFRESHES:
        refresh_segments(store, engine.settings.segments, day)
    yield engine, root / "ws"
    engine.close()


def _backends(store: OfflineStore) -> tuple[DuckDBBackend, SparkBackend]:
    return DuckDBBackend(store), SparkBackend(store, Settings().store.spark)


def assert_same(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    """Equal row for row with equal dtypes: floats to 1e-9 relative, everything else (money too) exactly."""
    assert a.schema == b.schema, what
    assert a.height == b.height, what
    for name, dtype in a.schema.items():
        x, y = a[name], b[name]
        if dtype.is_float():
            assert (x.is_null() == y.is_null()).all(), f"{what}.{name}"
            scale = pl.DataFrame({"x": x.abs(), "y": y.abs()}).max_horizontal()
            ok = ((x - y).abs() <= 1e-9 * scale) | x.is_null()
            assert ok.all(), f"{what}.{name}"
        else:
            assert x.equals(y), f"{what}.{name}: {x.to_list()[:5]} != {y.to_list()[:5]}"


def test_segments_refresh_is_the_same_on_duckdb_and_spark(hub: tuple[Engine, Path], spark: Any) -> None:
    engine, _ = hub
    duck, sparkb = _backends(engine.offline)
    cfg, day = engine.settings.segments, date(2024, 12, 31)
    r1 = refresh_segments(engine.offline, cfg, day, duck)
    rows1 = engine.offline.read("segment_membership", partition=day)
    returned: list[int] = []
    query = sparkb.query

    def counted(sql: str) -> Any:
        table = query(sql)
        returned.append(table.num_rows)
        return table

    sparkb.query = counted  # type: ignore[method-assign]
    try:
        r2 = refresh_segments(engine.offline, cfg, day, sparkb)  # computed and stored on Spark, replacing DuckDB's
    finally:
        del sparkb.query
    rows2 = engine.offline.read("segment_membership", partition=day)
    # only the previous date, the segment sizes and the changed customers came back: never the membership rows
    assert returned
    assert max(returned) <= r2.transitions.height + len(r2.counts) + len(r2.left) + len(r2.entered)
    assert max(returned) < rows2.height
    assert r1.previous_as_of == r2.previous_as_of == REFRESHES[-1]
    assert (r1.customers, r1.counts, r1.entered, r1.left) == (r2.customers, r2.counts, r2.entered, r2.left)
    assert r1.customers > 250
    assert r1.entered
    assert r1.left
    assert any(s.startswith("value_risk:") for s in r1.counts)  # the clv grades were read
    assert_same(r1.transitions, r2.transitions, "transitions")
    keys = ["customer_id", "segment"]
    assert_same(rows1.sort(keys), rows2.sort(keys), "membership")


def test_the_fatigue_counts_are_the_same_on_duckdb_and_spark(hub: tuple[Engine, Path], spark: Any) -> None:
    from cvm.plans.fatigue_sql import fatigue_counts_sql

    engine, _ = hub
    duck, sparkb = _backends(engine.offline)
    sql = fatigue_counts_sql()
    a, b = pl.from_arrow(duck.query(sql)), pl.from_arrow(sparkb.query(sql))
    assert isinstance(a, pl.DataFrame)
    assert isinstance(b, pl.DataFrame)
    assert a.height > 4
    assert a["adverse"].any()  # both outcomes occur in the hub's contacts
    assert not a["adverse"].all()
    assert_same(a, b, "fatigue counts")


def test_the_uplift_score_keeps_its_newest_null_on_both_backends(hub: tuple[Engine, Path], spark: Any) -> None:
    from cvm.segments.refresh import segmented_sql

    engine, _ = hub
    duck, sparkb = _backends(engine.offline)
    with engine.offline.connect() as con:
        _, sql = segmented_sql(con, engine.settings.segments, date(2024, 12, 31))
    query = f"SELECT customer_id, uplift_call, clv, clv_grade FROM ({sql}) s ORDER BY customer_id"
    a, b = pl.from_arrow(duck.query(query)), pl.from_arrow(sparkb.query(query))
    assert isinstance(a, pl.DataFrame)
    assert isinstance(b, pl.DataFrame)
    assert a["uplift_call"].null_count() > 50  # the newest value is null: not the older, non-null one
    assert_same(a, b, "segmented")


REPORTS: list[tuple[str, dict[str, Any], ReportFilter | None]] = [
    ("growth", {}, None),
    ("growth", {"source": "mrr", "reactivation_window": timedelta(days=90), "new_periods": 2}, None),
    ("growth", {"reactivation_window": 2}, ReportFilter(kind="B2B")),
    ("voc", {}, None),
    ("voc", {"by": "kind"}, None),
    ("voc", {"by": "value_grade"}, ReportFilter(segment="value:high,medium")),
    ("cohorts", {}, None),
    ("cohorts", {"source": "mrr"}, ReportFilter(channel="direct")),
    ("migration", {"states": "stage", "date_from": REFRESHES[0], "date_to": REFRESHES[1]}, None),
    ("migration", {"states": "activity"}, None),
    ("migration", {"states": "value_grade", "date_from": REFRESHES[0], "date_to": REFRESHES[1]}, None),
    ("churn", {}, None),
    ("churn", {"inactivity_days": 200, "since": date(2023, 6, 1), "until": END, "top": 3}, ReportFilter(kind="B2B")),
    ("silent-churn", {}, None),
    ("silent-churn", {"lookback_days": 90, "period": "Q"}, ReportFilter(channel="direct")),
    ("scores", {}, None),
    ("scores", {"score": "churn", "bins": 7, "as_of": REFRESHES[0]}, ReportFilter(segment="value:high,medium")),
    ("scores", {"score": "uplift_call", "bins": 5}, None),
]


def assert_same_json(a: Any, b: Any, where: str = "") -> None:
    """Equal JSON values, floats to 1e-9 relative (a mean of doubles depends on the order of the sum)."""
    if isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= 1e-9 * max(abs(a), abs(b)), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_json(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_json(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize(("kind", "options", "filters"), REPORTS)
def test_reports_are_the_same_on_duckdb_and_spark(
    hub: tuple[Engine, Path], spark: Any, kind: str, options: dict[str, Any], filters: ReportFilter | None
) -> None:
    engine, _ = hub
    duck, sparkb = _backends(engine.offline)
    options = dict(options)
    period = options.pop("period", "M")
    shared.clear()  # the net table is shared between reports: compute it on each backend
    a = build_report(engine.offline, kind, period, filters, backend=duck, **options)
    shared.clear()
    b = build_report(engine.offline, kind, period, filters, backend=sparkb, **options)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        assert a.tables[name].height > 0, name
        assert_same(a.tables[name], b.tables[name], f"{kind}.{name}")
    if kind == "scores":  # the grades' mean value: a sum of doubles, in another order on each backend
        assert_same_json(a.to_dict(), b.to_dict())
    else:
        assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(b.to_dict(), sort_keys=True)
    if kind in ("churn", "silent-churn"):
        assert a.summary["churned"] > 0


def test_every_report_on_spark_reads_no_table_in_this_process(
    hub: tuple[Engine, Path], spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Spark the reports are queries run where the data is: the driver opens no table with Polars or DuckDB."""
    engine, _ = hub
    _, sparkb = _backends(engine.offline)

    def refuse(self: OfflineStore, table: str = "", *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the table {table or '(all)'} was opened in this process")

    for method in ("scan", "read", "connect"):
        monkeypatch.setattr(OfflineStore, method, refuse)
    for kind in KINDS:
        shared.clear()
        report = build_report(engine.offline, kind, "M", backend=sparkb)
        assert report.tables, kind


def test_the_last_date_of_the_data_is_the_same_on_duckdb_and_spark(hub: tuple[Engine, Path], spark: Any) -> None:
    from cvm.reporting.churn import data_end

    engine, _ = hub
    store = engine.offline
    local = data_end(store.scan("transactions"), store.scan("subscriptions"))
    assert local is not None
    assert local >= END - timedelta(days=31)
    assert [Inputs(store, backend=b).data_end() for b in _backends(store)] == [local, local]


def _cents_store(tmp_path: Path) -> tuple[OfflineStore, list[float]]:
    """Amounts that binary floating point sums badly: many 0.1, 0.7 and 19.99, with refunds."""
    store = OfflineStore(tmp_path / "off")
    store.create()
    ids = [f"C{i:02d}" for i in range(12)]
    amounts = [(0.1, 0.7, 19.99, -0.1, 0.7)[i % 5] for i in range(3000)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with store.transaction() as tx:
        tx.append(
            "customers",
            pl.DataFrame({"customer_id": ids, "acquired_at": [date(2023, 1, 1)] * 12, "kind": ["B2C"] * 12}),
        )
        tx.append(
            "transactions",
            pl.DataFrame(
                {
                    "transaction_id": [f"T{i}" for i in range(3000)],
                    "customer_id": [ids[(i * 7 + i // 500) % 12] for i in range(3000)],
                    "ts": [start + timedelta(hours=3 * i) for i in range(3000)],
                    "amount": amounts,
                }
            ),
        )
    return store, amounts


def test_the_growth_bridge_is_exact_to_the_cent_on_both_backends(tmp_path: Path, spark: Any) -> None:
    store, amounts = _cents_store(tmp_path)
    exact = sum(Decimal(str(a)) for a in amounts)
    assert Decimal(repr(sum(amounts))) != exact  # binary floats do not add these up to the cent
    tables = {}
    for backend in _backends(store):
        net = Inputs(store, backend=backend).compute_net("transactions", "M", None)
        assert Decimal(int(net["net"].sum())) / 100 == exact
        shared.clear()
        growth = build_report(store, "growth", "M", backend=backend).tables["growth"]
        for r in growth.to_dicts():
            bridge = r["start"] + r["new"] + r["expansion"] + r["reactivation"] - r["contraction"] - r["churned"]
            assert bridge == r["end"]  # Decimal arithmetic: exact
        assert sum(r["end"] + r["negative_net"] for r in growth.to_dicts()) == exact
        tables[backend.name] = (net, growth)
    assert tables["duckdb"][0].equals(tables["spark"][0])
    assert_same(tables["duckdb"][1], tables["spark"][1], "growth")


def test_cvm_report_growth_runs_on_spark_from_the_environment(
    hub: tuple[Engine, Path], spark: Any, tmp_path: Path
) -> None:
    _, ws = hub
    spark_env = {
        "CVM__STORE__OFFLINE": "spark",
        "CVM__STORE__SPARK__MASTER": "local[2]",
        "CVM__STORE__SPARK__CONF__spark.sql.shuffle.partitions": "4",  # a few hundred customers: few tasks
        "CVM__STORE__SPARK__CONF__spark.ui.enabled": "false",
    }
    args = ["report", "growth", "-w", str(ws), "--json"]
    on_duckdb = start_cvm(args, {"CVM__STORE__OFFLINE": "duckdb"}, tmp_path / "duckdb")  # while Spark runs
    try:
        on_spark = start_cvm(args, spark_env, tmp_path / "spark").report(timeout=600)
    except BaseException:
        on_duckdb.stop()
        raise
    assert on_spark["tables"]["growth"]
    assert on_spark == on_duckdb.report(timeout=600)


def test_a_rule_pattern_with_a_backslash_matches_the_same_everywhere(spark: Any) -> None:
    """Spark's LIKE escapes with a backslash by default, DuckDB's and the rule evaluator's do not."""
    values = ["a\\%b", "a\\xb", "a%b", "A\\_", "N1"]
    spark.createDataFrame(list(enumerate(values)), "i long, region string").createOrReplaceTempView("rule_values")
    frame = pl.DataFrame({"i": range(len(values)), "region": values})
    for text in ["region like 'a\\%%'", "region like 'a\\_b'", "region like region", "region ilike 'a\\_'"]:
        rule = compile_rule(text, {"region": "string"})
        sql = f"SELECT {rule.sql()} AS hit FROM rule_values ORDER BY i"
        expected = [rule.evaluate({"region": v}) for v in values]
        assert any(expected), text
        assert run_local(sql, {"rule_values": frame})["hit"].to_list() == expected, text
        assert [r["hit"] for r in spark.sql(to_spark_sql(sql)).collect()] == expected, text
