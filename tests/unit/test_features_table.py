"""The persisted ``features`` table: one partition per as_of, the same values as the feature definitions, and
``segments.columns`` filled from it for every customer."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from cvm.cli.main import app
from cvm.config import ConfigError, load_settings
from cvm.contracts import DATA_TABLES
from cvm.contracts.tables import FEATURES_TABLE
from cvm.demo import generate
from cvm.engine import Engine
from cvm.features import FEATURES, build_features
from cvm.features.persist import write_features
from cvm.features.sql import product_column, product_slug
from cvm.segments import build_base
from cvm.store import OfflineStore
from cvm.store.backend import DuckDBBackend

D1, D2 = date(2024, 9, 30), date(2024, 12, 1)
COLUMNS = {"dpd_max_365d": "number", "late_share_365d": "number", "nps_last": "number", "holds_premium": "bool"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(400, seed=5, out=out, end=date(2024, 12, 31))
    return out


def _load(store: OfflineStore, demo: Path) -> OfflineStore:
    store.create()
    with store.transaction() as tx:
        for name in DATA_TABLES:
            tx.append(name, pl.read_parquet(demo / f"{name}.parquet"))
    return store


def test_stored_features_are_the_definitions_values_in_their_partition(tmp_path: Path, demo: Path) -> None:
    store = _load(OfflineStore(tmp_path / "off"), demo)
    report = write_features(DuckDBBackend(store), D2)
    assert store.partitions("features") == [D2.isoformat()]
    stored = store.read("features", partition=D2).sort("customer_id")
    fresh = build_features(store, D2)
    assert report.rows == stored.height == fresh.height > 300
    assert stored.columns == list(FEATURES_TABLE.column_names)
    assert stored.columns[2:-1] == list(FEATURES)  # the contract's columns are the definitions' columns
    cols = ["customer_id", "as_of", *FEATURES]
    assert_frame_equal(stored.select(cols), fresh.select(cols))
    products = sorted({str(p) for p in pl.read_parquet(demo / "subscriptions.parquet")["product"].unique()})
    assert list(report.products) == products
    assert len(products) >= 2
    rows = fresh.iter_rows(named=True)
    held = [";".join(product_slug(p) for p in products if r[product_column(p)] == 1) for r in rows]
    assert stored["products_held"].to_list() == held
    assert 0 < sum(";" in h for h in held) < len(held)  # some customers hold several products, others fewer


def test_features_written_in_chunks_of_customers_are_those_of_one_chunk(tmp_path: Path, demo: Path) -> None:
    """On DuckDB the feature query runs chunk by chunk of customers (bounded memory); the rows are the same."""
    whole = _load(OfflineStore(tmp_path / "whole"), demo)
    chunked = _load(OfflineStore(tmp_path / "chunked"), demo)
    write_features(DuckDBBackend(whole), D2)
    report = write_features(DuckDBBackend(chunked, chunk_customers=97), D2)
    assert len(chunked.files("features", D2)) >= 400 // 97  # a part per chunk at least
    expected = whole.read("features", partition=D2).sort("customer_id")
    got = chunked.read("features", partition=D2).sort("customer_id")
    assert report.rows == got.height == expected.height > 300
    assert_frame_equal(got, expected)


def test_a_rewrite_replaces_only_its_own_date(tmp_path: Path, demo: Path) -> None:
    store = _load(OfflineStore(tmp_path / "off", retain_seconds=0), demo)  # replaced parts deleted at the commit
    backend = DuckDBBackend(store, batch_rows=100)  # several parts per partition
    write_features(backend, D1)
    write_features(backend, D2)
    d1_files, d2_files = store.files("features", D1), store.files("features", D2)
    assert len(d2_files) > 1
    write_features(backend, D2)
    assert store.files("features", D1) == d1_files  # untouched
    assert not set(store.files("features", D2)) & set(d2_files)  # all new parts
    assert not any(p.exists() for p in d2_files)  # the old parts are gone
    by_date = store.read("features").group_by("as_of").len().sort("as_of")
    assert by_date["as_of"].to_list() == [D1, D2]
    assert by_date["len"].to_list() == [build_features(store, D1).height, build_features(store, D2).height]


def _workspace(tmp_path: Path, demo: Path, columns: dict[str, str]) -> Engine:
    ws = tmp_path / "ws"
    Engine.init(ws).close()
    config = ws / "cvm.yaml"
    text = config.read_text(encoding="utf-8")
    assert text.count("  columns: {}\n") == 1
    config.write_text(text.replace("  columns: {}\n", f"  columns: {json.dumps(columns)}\n"), encoding="utf-8")
    engine = Engine.open(ws)
    _load(engine.offline, demo)
    return engine


def test_segment_columns_hold_each_customers_feature_value(tmp_path: Path, demo: Path) -> None:
    engine = _workspace(tmp_path, demo, COLUMNS)
    try:
        assert engine.settings.segments.columns == COLUMNS
        engine.plans.refresh_segments(D2)  # writes the features of D2 first: segments.columns reads them
        assert engine.offline.partitions("features") == [D2.isoformat()]
        con = engine.offline.connect()
        con.execute("SET TimeZone = 'UTC'")
        build_base(con, engine.settings.segments, D2)
        attrs = con.sql("SELECT * FROM attrs ORDER BY customer_id").pl()
        con.close()
    finally:
        engine.close()
    fresh = build_features(engine.offline, D2, products=["premium"]).sort("customer_id")
    assert attrs["customer_id"].to_list() == fresh["customer_id"].to_list()
    for name in ("dpd_max_365d", "late_share_365d", "nps_last"):
        expected = fresh[name].cast(pl.Float64)
        assert attrs[name].to_list() == expected.to_list(), name
        assert attrs[name].null_count() == expected.null_count() < attrs.height, name  # filled where known
    assert attrs["holds_premium"].to_list() == (fresh["holds_premium"] == 1).to_list()
    assert 0 < attrs["holds_premium"].sum() < attrs.height


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"dpd_max": "number"}, "'dpd_max' is not a feature of the features table"),
        ({"nps_mean": "string"}, "'nps_mean' is a feature of kind number, not string"),
        ({"region": "string"}, "'region' is already an attribute of every customer"),
        ({"holds_basic": "string"}, "'holds_basic' is a feature of kind bool or number, not string"),
    ],
)
def test_an_unknown_column_is_a_config_error(tmp_path: Path, columns: dict[str, str], message: str) -> None:
    (tmp_path / "cvm.yaml").write_text(f"segments:\n  columns: {json.dumps(columns)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, {})
    assert "segments.columns" in str(info.value)
    assert message in str(info.value)


def test_cvm_features_build(tmp_path: Path, demo: Path) -> None:
    engine = _workspace(tmp_path, demo, {})
    engine.close()
    out = CliRunner().invoke(app, ["features", "build", "-w", str(engine.workspace), "--as-of", "2024-12-01", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert got["as_of"] == "2024-12-01"
    assert got["backend"] == "duckdb"
    assert got["rows"] == build_features(OfflineStore(engine.offline.root), D2).height
    bad = CliRunner().invoke(app, ["features", "build", "-w", str(engine.workspace), "--as-of", "12/01/2024"])
    assert bad.exit_code != 0
    assert "--as-of" in bad.output


def test_cvm_score_stores_the_features_of_its_date(tmp_path: Path, demo: Path) -> None:
    engine = _workspace(tmp_path, demo, {})
    try:
        engine.scoring.score(D2)
        assert engine.offline.partitions("features") == [D2.isoformat()]
        stored = engine.offline.read("features", partition=D2)
    finally:
        engine.close()
    assert stored.height == build_features(engine.offline, D2).height > 300
