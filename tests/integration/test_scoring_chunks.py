"""Scoring in chunks of customers (scoring.chunk_customers) writes exactly the rows of scoring in one chunk,
and re-scoring a date rewrites only that date's partition of ``scores``."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from cvm.config import Settings
from cvm.engine import Engine
from cvm.scoring.value_chunks import write_value_scores
from cvm.store.chunks import customer_ranges
from tests.demo_hub import trained_workspace

N = 1_500
END = date(2024, 12, 31)
FIRST, SECOND = date(2024, 9, 1), date(2024, 11, 15)
SMALL = 317  # customers per chunk: five chunks, the last one short

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo workspace with trained champions and the scores of FIRST (in one chunk)."""
    return trained_workspace(tmp_path_factory.mktemp("chunks"), N, 7, END, FIRST)


def _engine(trained: Path, folder: Path, chunk: int) -> Engine:
    path = Path(shutil.copytree(trained, folder))
    settings = Engine.open(path).settings
    return Engine(
        path, settings.model_copy(update={"scoring": settings.scoring.model_copy(update={"chunk_customers": chunk})})
    )


def _at(engine: Engine, as_of: date) -> pl.DataFrame:
    return engine.offline.read("scores").filter(pl.col("as_of") == as_of).sort("customer_id", "score")


def test_chunks_write_the_rows_of_one_chunk(trained: Path, tmp_path: Path) -> None:
    whole, chunked = _engine(trained, tmp_path / "whole", 10 * N), _engine(trained, tmp_path / "chunked", SMALL)
    assert len(customer_ranges(chunked.offline, SMALL)) == -(-N // SMALL)
    one, many = whole.scoring.score(as_of=SECOND), chunked.scoring.score(as_of=SECOND)
    expected, got = _at(whole, SECOND), _at(chunked, SECOND)
    assert got.height == expected.height > 0
    assert {"clv", "net_clv", "churn", "default_points"} <= set(got["score"].unique())
    assert got.equals(expected)  # values, grades (ranked on the whole base), versions and reasons alike
    assert many.grades == one.grades
    assert (many.customers, many.rows) == (one.customers, one.rows)
    assert many.totals == pytest.approx(one.totals)
    assert any(n.startswith("life-cycle scores:") for n in many.notes)


def test_rescoring_a_date_rewrites_only_its_partition(trained: Path, tmp_path: Path) -> None:
    engine = _engine(trained, tmp_path / "ws", SMALL)
    engine.scoring.score(as_of=SECOND)
    first_files = engine.offline.files("scores", FIRST)
    first, second = _at(engine, FIRST), _at(engine, SECOND)
    engine.scoring.score(as_of=SECOND)
    assert engine.offline.files("scores", FIRST) == first_files  # the other date's parts are not rewritten
    assert _at(engine, FIRST).equals(first)
    assert _at(engine, SECOND).equals(second)  # replaced, not appended twice
    keys = engine.offline.read("scores").group_by("customer_id", "as_of", "score").len()
    assert keys["len"].max() == 1
    assert engine.offline.partitions("scores") == [FIRST.isoformat(), SECOND.isoformat()]


def test_rescoring_keeps_the_other_stages_rows_of_the_date(trained: Path, tmp_path: Path) -> None:
    """Value scores replace only value rows: the date's life-cycle rows stay as they were."""
    engine = _engine(trained, tmp_path / "ws", SMALL)
    before = _at(engine, FIRST)
    s = engine.settings  # value scores only, in five chunks, as `cvm score` prices contacts
    write_value_scores(engine.offline, s.scoring, FIRST, s.plans.policy.channel_cost)
    after = _at(engine, FIRST)
    assert after.equals(before)
    assert after.filter(pl.col("score") == "churn").height == before.filter(pl.col("score") == "churn").height > 0


def test_settings_refuse_an_empty_chunk() -> None:
    with pytest.raises(ValueError, match="chunk_customers"):
        Settings.model_validate({"scoring": {"chunk_customers": 0}})
