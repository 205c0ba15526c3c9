"""Value scores end to end: the demo company ingested and scored through the engine (one row per customer and
score, grades, point in time, history, against the ground truth), and a whole run without enough buyers.

The grading helpers themselves are unit-tested in tests/unit/test_score_grades.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from scipy.stats import spearmanr

from cvm.engine import Engine
from cvm.scoring.value import VALUE_SCORES

N = 3000


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Engine, Path, date]]:
    """The demo company ingested into a fresh workspace (per test: the test ingests and scores into it)."""
    from cvm.demo import generate

    root = tmp_path
    data = root / "data"
    generate(N, 7, data)
    engine = Engine.init(root / "ws")
    for table in ("customers", "subscriptions", "transactions"):
        assert engine.ingest(table, sorted(data.glob(f"{table}.*"))).ok
    end = date.fromisoformat(__import__("json").loads((data / "ground_truth" / "meta.json").read_text())["end"])
    yield engine, data, end
    engine.close()


def _scores(engine: Engine, as_of: date) -> pl.DataFrame:
    return engine.offline.read("scores").filter(pl.col("as_of") == as_of).sort("customer_id", "score")


@pytest.mark.slow
def test_scores_point_in_time_history_and_ground_truth(demo: tuple[Engine, Path, date]) -> None:
    engine, data, end = demo
    as_of = end - timedelta(days=90)
    report = engine.scoring.score(as_of=as_of)
    customers = engine.offline.scan("customers").filter(pl.col("acquired_at") <= as_of).collect()
    assert report.customers == customers.height
    assert report.rows == len(VALUE_SCORES) * customers.height
    first = _scores(engine, as_of)
    assert first.height == report.rows
    assert first.group_by("customer_id", "score").len()["len"].max() == 1
    assert set(first["score"].unique()) == set(VALUE_SCORES)
    clv = first.filter(pl.col("score") == "clv")
    counts = clv["grade"].value_counts()
    shares = {g: n / clv.height for g, n in counts.iter_rows()}
    assert shares["high"] == pytest.approx(0.2, abs=0.02)
    assert shares["medium"] == pytest.approx(0.3, abs=0.03)
    graded = first.filter(pl.col("score").is_in(["clv", "net_clv", "net_margin_12m"]))  # issue 18: net value graded
    assert first["grade"].null_count() == first.height - graded.height
    assert {m["role"] for m in report.models} == {"purchase", "spend", "contract"}
    assert clv["model_version"].str.starts_with("bgnbd-").any()
    assert clv["model_version"].str.starts_with("sbg-").any()
    assert clv["reasons"].null_count() == 0

    # A purchase after as_of, and a re-run of the same date: nothing changes, nothing is duplicated.
    someone = clv["customer_id"][0]
    late = pl.DataFrame(
        {
            "transaction_id": ["LATE1"],
            "customer_id": [someone],
            "ts": [datetime.combine(as_of + timedelta(days=1), datetime.min.time(), tzinfo=UTC)],
            "amount": [99_999.0],
            "margin": [50_000.0],
            "product": ["hardware"],
        }
    )
    assert engine.ingest("transactions", late).ok
    engine.scoring.score(as_of=as_of)
    again = _scores(engine, as_of)
    assert again.height == first.height
    assert again.equals(first)  # bit for bit, reasons included

    # A later date adds its own rows; the earlier ones stay.
    engine.scoring.score(as_of=end)
    dates = engine.offline.read("scores")["as_of"].unique().sort().to_list()
    assert dates == [as_of, end]
    assert _scores(engine, as_of).equals(again)

    # At the end of the simulation, against the hidden truth: the customers still alive buy at their
    # true rate, the others not at all. The 12-month prediction ranks them accordingly.
    truth = pl.read_parquet(data / "ground_truth" / "customers_truth.parquet")
    latest = _scores(engine, end).join(truth, on="customer_id")
    pred = latest.filter(pl.col("score") == "exp_purchases_12m")
    alive = pred.filter(pl.col("alive"))
    assert spearmanr(alive["value"], alive["purchase_rate"]).statistic > 0.6
    future_rate = pred["purchase_rate"] * pred["alive"].cast(pl.Float64)
    assert spearmanr(pred["value"], future_rate).statistic > 0.5
    p_alive = latest.filter(pl.col("score") == "p_alive")
    assert p_alive.filter(pl.col("alive"))["value"].mean() > p_alive.filter(~pl.col("alive"))["value"].mean() + 0.3
    graded = latest.filter(pl.col("score") == "clv").group_by("grade").agg(pl.col("spend_scale").mean())
    spend = dict(graded.iter_rows())
    assert spend["high"] > spend["medium"] > spend["low"]

    view = engine.customers.customer(someone)
    latest = {s["score"]: s for s in view["scores"]}
    assert set(latest) == set(VALUE_SCORES)
    assert latest["clv"]["as_of"] == end.isoformat()
    assert latest["revenue_hist"]["value"] >= 99_999.0  # the late purchase counts at the later date


def test_too_few_buyers_is_a_clear_error_and_run_skips_scoring(loaded: Engine) -> None:
    from cvm.scoring import NotEnoughDataError

    with pytest.raises(NotEnoughDataError, match=r"scoring\.min_customers"):
        loaded.scoring.score(as_of=date(2024, 6, 1))
    report = loaded.run()
    assert report.scores is not None
    assert report.scores.skipped
    assert report.to_dict()["scores"]["rows"] == 0
