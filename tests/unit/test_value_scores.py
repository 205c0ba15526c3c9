"""Value scores on the demo company: one row per customer and score, grades, point in time, history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from cvm.engine import Engine
from cvm.scoring import GradeRule, grade_by_share, grade_by_threshold, grade_counts
from cvm.scoring.models import model_version
from cvm.scoring.value import VALUE_SCORES

N = 3000


# -- grades -------------------------------------------------------------------------------
def test_grade_by_share_gives_ties_one_grade_and_skips_missing() -> None:
    assert grade_by_share([10, 8, 8, 5, 1], 0.2, 0.4).tolist() == ["high", "medium", "medium", "low", "low"]
    assert grade_by_share([3.0, None, 1.0, 2.0], 0.34, 0.33).tolist() == ["high", None, "low", "medium"]
    assert grade_by_share([0.0] * 10).tolist() == ["high"] * 10  # all tied at the top
    risk = grade_by_share([0.9, 0.1, 0.5, 0.3, 0.7], 0.2, 0.4, higher_is_better=False)
    assert risk.tolist() == ["low", "high", "medium", "medium", "low"]
    values = np.arange(1000.0)
    assert grade_counts(grade_by_share(values)) == {"high": 200, "medium": 300, "low": 500}
    with pytest.raises(ValueError, match="shares"):
        grade_by_share(values, 0.8, 0.3)


def test_grade_by_threshold_and_rule() -> None:
    assert grade_by_threshold([10.0, 6.0, 5.9, None], high=10, medium=6).tolist() == ["high", "medium", "low", None]
    rule = GradeRule("threshold", high_threshold=100.0, medium_threshold=10.0)
    assert rule.apply([500.0, 50.0, 5.0]).tolist() == ["high", "medium", "low"]
    assert "high >= 100.00" in rule.describe()
    with pytest.raises(ValueError, match="threshold"):
        GradeRule("threshold").apply([1.0])


def test_model_version_names_the_model_and_hashes_the_parameters() -> None:
    v = model_version("bgnbd", {"r": 0.24, "alpha": 4.4})
    assert v.startswith("bgnbd-")
    assert len(v) == len("bgnbd-") + 8
    assert v == model_version("bgnbd", {"alpha": 4.4, "r": 0.24})
    assert v != model_version("bgnbd", {"r": 0.25, "alpha": 4.4})


# -- the demo company -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Path, date]]:
    from cvm.demo import generate

    root = tmp_path_factory.mktemp("value")
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
    assert first.filter(pl.col("score") != "clv")["grade"].null_count() == first.height - clv.height
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
