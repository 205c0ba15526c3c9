"""Net margin and net CLV on the demo company: every table ingested, scored, segmented and planned end to end."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

from cvm.contracts import DATA_TABLES
from cvm.engine import Engine

N = 1500


@pytest.mark.slow
def test_demo_net_value_scores_segments_and_the_unprofitable_plan(tmp_path: Path) -> None:
    from cvm.demo import generate

    generate(N, 5, tmp_path / "data")
    end = date.fromisoformat(json.loads((tmp_path / "data" / "ground_truth" / "meta.json").read_text())["end"])
    engine = Engine.init(tmp_path / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, sorted((tmp_path / "data").glob(f"{table}.*"))).ok
        report = engine.scoring.score(as_of=end)
        scores = engine.offline.read("scores").filter(pl.col("as_of") == end)
        wide = scores.pivot(on="score", index="customer_id", values="value")
        # net margin is gross margin less the cost to serve, to the cent, for every customer
        gap = (wide["margin_12m"] - wide["cost_to_serve_12m"] - wide["net_margin_12m"]).abs()
        assert gap.null_count() == 0
        assert float(gap.max()) < 0.005  # type: ignore[arg-type]
        assert (wide["net_clv"] <= wide["clv"] + 1e-9).all()
        assert (wide["cost_to_serve_12m"] > 0).mean() > 0.5  # most customers were contacted or invoiced
        losing = wide.filter(pl.col("net_clv") < 0)
        assert 0 < losing.height < wide.height
        assert report.totals["cost_to_serve_12m"] == pytest.approx(float(wide["cost_to_serve_12m"].sum()), abs=0.01)

        # the margin of the last 12 months against the hub itself, for one customer who bought in the window
        tx = engine.offline.read("transactions")
        since = datetime.combine(end - timedelta(days=364), time(), tzinfo=UTC)
        window = tx.filter(pl.col("ts") >= since, pl.col("ts") < datetime.combine(end + timedelta(days=1), time(), UTC))
        someone = window["customer_id"][0]
        own = window.filter(pl.col("customer_id") == someone)
        gross = float((own["margin"].fill_null(own["amount"] * engine.settings.scoring.margin_rate)).sum())
        assert float(wide.filter(pl.col("customer_id") == someone)["margin_12m"][0]) == pytest.approx(gross, abs=0.01)

        # reasons are readable, and the plans act on the customers whose net CLV is negative only
        net = scores.filter(pl.col("score") == "cost_to_serve_12m", pl.col("value") > 0)
        assert net["reasons"].str.contains("contact cost").any()
        engine.plans.act(now=datetime.combine(end + timedelta(days=1), time(10), UTC))
        actions = engine.delivery.actions(limit=100_000)
        enrolled = {a["customer_id"] for a in actions if a["plan"] == "unprofitable"}
        assert enrolled
        assert enrolled <= set(losing["customer_id"].to_list())
    finally:
        engine.close()
