"""`cvm clv fit` on a plain transaction file, and `cvm score` on a demo workspace."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.test_cli import cvm

with warnings.catch_warnings():
    # lifetimes 0.11 sets pandas' `mode.chained_assignment`, deprecated since pandas 3, when imported.
    warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
    from lifetimes.datasets import load_dataset


@pytest.fixture(scope="module")
def cdnow_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    df = load_dataset("CDNOW_sample.txt", header=None, sep=r"\s+")
    df.columns = ["cust", "order_id", "date", "qty", "sales"]
    df["date"] = pd.to_datetime(df["date"].astype(str), format="%Y%m%d")
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    df[["cust", "date", "sales"]].to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_clv_fit_json_predictions_and_plots(cdnow_csv: Path, tmp_path: Path) -> None:
    cols = ["--customer-col", "cust", "--time-col", "date", "--amount-col", "sales"]
    out = tmp_path / "pred.parquet"
    proc = cvm(
        "clv",
        "fit",
        str(cdnow_csv),
        *cols,
        "--end",
        "1997-09-30",
        "--json",
        "--out",
        str(out),
        "--plots",
        str(tmp_path / "plots"),
    )
    info = json.loads(proc.stdout)
    bg, gg = info["purchase_model"], info["spend_model"]
    assert info["customers"] == 2357
    assert (bg["model"], bg["converged"], bg["n_customers"]) == ("bgnbd", True, 2357)
    # The published values on the same 39 weeks (FHL 2005, 2005b); in days, alpha is 7 times the weekly one.
    published = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert bg["params"][name] == pytest.approx(value, rel=2e-3), name
    assert set(bg["standard_errors"]) == set(published)
    assert bg["log_likelihood"] < 0
    assert (gg["model"], gg["converged"], gg["n_customers"]) == ("gg", True, 946)
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert gg["params"][name] == pytest.approx(value, rel=2e-3), name
    pred = pd.read_parquet(out)
    assert len(pred) == 2357
    expected = ["cust", "frequency", "recency", "T", "monetary_value", "exp_purchases", "p_alive", "exp_spend", "clv"]
    assert list(pred.columns) == expected
    assert pred["clv"].sum() == pytest.approx(info["totals"]["clv"], rel=1e-6)
    assert (pred["p_alive"].between(0, 1)).all()
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    for plot in ("frequency_recency", "p_alive", "calibration_holdout", "tracking_incremental", "tracking_cumulative"):
        assert f"{plot}.html" in names


@pytest.mark.slow
def test_clv_fit_table_other_models_and_errors(cdnow_csv: Path) -> None:
    cols = ["--customer-col", "cust", "--time-col", "date", "--amount-col", "sales"]
    table = cvm("clv", "fit", str(cdnow_csv), *cols, "--model", "pnbd", "--spend", "none", "--freq", "W")
    assert "Purchase model: pnbd" in table.stdout
    assert "Spend model" not in table.stdout
    missing = cvm("clv", "fit", str(cdnow_csv), "--json", ok=False)
    assert missing.returncode == 2
    assert "lack the column(s) customer_id, ts, amount" in json.loads(missing.stdout)["error"]  # --json: JSON errors
    bad_out = cvm("clv", "fit", str(cdnow_csv), *cols, "--out", "pred.xlsx", ok=False)
    assert bad_out.returncode == 2
    assert "--out must end in .parquet or .csv" in bad_out.stderr


@pytest.mark.slow
def test_demo_run_scores_and_cvm_score_replaces_a_date(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run = json.loads(cvm("demo", "--customers", "400", "--seed", "3", "-w", str(ws), "--json").stdout)
    scores = run["scores"]
    assert scores["skipped"] is None
    # value scores per customer (scoring.value.VALUE_SCORES): revenue_hist, margin_hist, exp_purchases_12m,
    # p_alive, clv and, since issue 18, margin_12m, cost_to_serve_12m, net_margin_12m and net_clv
    assert scores["rows"] == 9 * scores["customers"]
    assert sum(scores["grades"].values()) == scores["customers"]
    first = json.loads(cvm("score", "--as-of", "2026-01-31", "-w", str(ws), "--json").stdout)
    again = json.loads(cvm("score", "--as-of", "2026-01-31", "-w", str(ws), "--json").stdout)
    assert again["rows"] == first["rows"]
    assert again["models"] == first["models"]
    assert "Scores as of 2026-01-31" in cvm("score", "--as-of", "2026-01-31", "-w", str(ws)).stdout
    bad = cvm("score", "--as-of", "31/01/2026", "-w", str(ws), ok=False)
    assert bad.returncode == 2
    assert "YYYY-MM-DD" in bad.stderr
    show = json.loads(cvm("customer", "show", "C0000001", "-w", str(ws), "--json").stdout)
    assert {s["score"] for s in show["scores"]} >= {
        "revenue_hist",
        "margin_hist",
        "exp_purchases_12m",
        "p_alive",
        "clv",
    }
    assert "churn" in {s["score"] for s in show["scores"]}  # `cvm demo` trains the life-cycle models too
