"""Life-cycle scores on a small demo company: train, registry, score history, risk appetite, early warning, API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
import pytest

from cvm.api import create_app
from cvm.config import load_settings
from cvm.engine import Engine
from cvm.features import build_features
from cvm.risk import Acceptor, cutoff_table, scored_book, stored_early_warning
from cvm.scoring.registry import REQUIRED, ModelRegistry, RegistryError
from cvm.scoring.training_data import labelled_dates, labelled_frame
from tests.demo_hub import trained_workspace
from tests.serving import serve

N = 2_500
END = date(2024, 12, 31)
FIRST, SECOND = date(2024, 9, 1), date(2024, 11, 15)
LIFECYCLE = {"churn", "default", "default_points"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace trained and scored at FIRST once per module, closed: tests never open it, they copy it."""
    return trained_workspace(tmp_path_factory.mktemp("lifecycle"), N, 5, END, FIRST)


@pytest.fixture
def engine(trained: Path, tmp_path: Path) -> Iterator[Engine]:
    """An engine on this test's own copy of the trained workspace, so what a test changes no other test sees."""
    eng = Engine.open(Path(shutil.copytree(trained, tmp_path / "ws")))
    yield eng
    eng.close()


def _at(engine: Engine, as_of: date) -> pl.DataFrame:
    return engine.offline.read("scores").filter(pl.col("as_of") == as_of)


def test_train_registers_versions_with_complete_metadata(engine: Engine) -> None:
    registry = ModelRegistry(engine.workspace)
    assert set(registry.names()) == {"churn", "default", "propensity"}
    for name, entry in registry.champions().items():
        assert all(field in entry.meta for field in REQUIRED)
        window = entry.meta["training_window"]
        assert window["holdout"] > max(window["snapshots"])
        assert date.fromisoformat(window["holdout"]) + timedelta(days=window["label_horizon_days"]) <= date(2025, 1, 2)
        assert entry.meta["features"]
        assert len(entry.meta["data_hash"]) == 16
        assert 0.5 < entry.meta["metrics"]["auc"] <= 1.0, name
        assert entry.meta["baseline"]["features"]
        assert entry.meta["baseline"]["scores"]
        assert entry.load() is not None
    assert {e["action"] for e in engine.access.audit_entries(20)} >= {"models.train", "score.lifecycle"}


def test_score_writes_every_customer_with_grades_and_reasons(engine: Engine) -> None:
    rows = _at(engine, FIRST)
    customers = engine.offline.scan("customers").filter(pl.col("acquired_at") < FIRST).collect().height
    names = set(rows["score"].unique())
    assert names >= LIFECYCLE
    assert any(n.startswith("propensity:") for n in names)
    for score in LIFECYCLE:
        part = rows.filter(pl.col("score") == score)
        assert part.height == customers
        assert part["grade"].null_count() == 0
        assert part["reasons"].null_count() == 0
        assert part["reasons"].str.split(";").list.len().max() <= 3
        assert set(part["grade"]) == {"low", "medium", "high"}
    churn = rows.filter(pl.col("score") == "churn")
    assert churn["value"].is_between(0, 1).all()
    assert churn["model_version"].unique().to_list() == [ModelRegistry(engine.workspace).champion("churn").tag]  # type: ignore[union-attr]
    prop = rows.filter(pl.col("score").str.starts_with("propensity:"))
    eligible = prop.filter(pl.col("value").is_not_null())
    assert eligible.height > 0
    assert eligible["grade"].null_count() == 0
    assert prop.filter(pl.col("value").is_null())["reasons"].str.contains("^(holds |no subscription)").all()


def test_default_points_follow_the_probability(engine: Engine) -> None:
    rows = _at(engine, FIRST)
    pts = rows.filter(pl.col("score") == "default_points").sort("customer_id")["value"].to_numpy()
    p = rows.filter(pl.col("score") == "default").sort("customer_id")["value"].to_numpy()
    order = np.argsort(pts)
    assert np.all(np.diff(p[order]) <= 1e-12)  # more points, less risk


def test_history_is_kept_across_dates(engine: Engine) -> None:
    engine.scoring.score(as_of=SECOND)
    dates = set(engine.offline.read("scores").filter(pl.col("score") == "churn")["as_of"])
    assert {FIRST, SECOND} <= dates


def test_cutoff_table_is_monotone(engine: Engine) -> None:
    _, book = scored_book(engine.offline)
    table = cutoff_table(book["points"].to_numpy(), book["p_bad"].to_numpy(), engine.settings.risk)
    assert table["applicants"].sum() == len(book)
    assert (np.diff(table["approval_rate"]) <= 0).all()
    assert (np.diff(table["bad_rate"]) <= 1e-12).all()
    assert (np.diff(table["expected_loss"]) <= 1e-9).all()
    assert table["approval_rate"].iloc[0] == 1.0


def test_monitor_reports_psi_and_auc(engine: Engine) -> None:
    report = engine.scoring.monitor(SECOND)
    assert {m.name for m in report.models} == {"churn", "default", "propensity"}
    churn = next(m for m in report.models if m.name == "churn")
    assert churn.feature_psi
    assert churn.score_psi
    assert churn.auc_now is not None
    assert churn.auc_train is not None
    assert "ok" in report.to_dict()


def test_promote_refuses_a_worse_challenger(engine: Engine) -> None:
    from cvm.models import ChurnModel

    registry = ModelRegistry(engine.workspace)
    champion = registry.champion("churn")
    assert champion is not None
    day = labelled_dates("churn", engine.settings, date(2025, 1, 1))[1]
    x, y = labelled_frame(engine.offline, "churn", day, engine.settings, champion.meta["products"])
    noise = np.random.default_rng(0).permutation(y["churn"].to_numpy())  # labels without signal
    bad = ChurnModel(n_estimators=30).fit(x, noise)
    meta: dict[str, Any] = {k: champion.meta[k] for k in ("training_window", "features", "data_hash", "metrics")}
    challenger = registry.register("churn", bad, {**meta, "products": champion.meta["products"]})
    assert challenger.status == "challenger"
    with pytest.raises(RegistryError, match="worse than the champion"):
        engine.scoring.promote("churn", challenger.version)
    forced = engine.scoring.promote("churn", challenger.version, force=True)
    assert forced.status == "champion"
    assert registry.get("churn", champion.version).status == "retired"
    engine.scoring.promote("churn", champion.version, force=True)  # back to the good one
    assert registry.champion("churn").version == champion.version  # type: ignore[union-attr]
    assert "models.promote" in {e["action"] for e in engine.access.audit_entries(10)}


def test_applied_cutoff_drives_acceptance(engine: Engine) -> None:
    _, book = scored_book(engine.offline)
    cutoff = float(np.median(book["points"]))
    engine.scoring.set_cutoff(cutoff)
    assert load_settings(engine.workspace).risk.acceptance.cutoff == cutoff
    assert "# Acceptance policy" in (engine.workspace / "cvm.yaml").read_text()
    features = build_features(engine.offline, SECOND).to_pandas()
    decisions = Acceptor.open(engine.workspace).decide_many(features)
    points = np.array([d.points for d in decisions])
    assert all(d.accepted == (d.points >= cutoff) for d in decisions)
    assert 0 < np.mean(points >= cutoff) < 1
    one = Acceptor.open(engine.workspace).decide({"late_share_365d": 1.0})  # the rest missing
    assert one.band
    assert one.cutoff == cutoff
    assert len(one.reasons) <= 3
    engine.scoring.set_cutoff(None)
    assert load_settings(engine.workspace).risk.acceptance.cutoff is None


def test_api_roles_and_routes(engine: Engine) -> None:
    keys = {role: engine.access.create_key(role)[1] for role in ("analyst", "ingest", "admin")}
    cid = _at(engine, FIRST)["customer_id"][0]  # scored by the fixture: no other test needed first
    with serve(create_app(engine)) as base, httpx.Client(base_url=base, timeout=30) as client:
        for path in ("/risk/early-warning", f"/customers/{cid}/scores"):
            assert client.get(path).status_code == 401
            assert client.get(path, headers={"X-API-Key": keys["ingest"]}).status_code == 403
            for role in ("analyst", "admin"):
                assert client.get(path, headers={"X-API-Key": keys[role]}).status_code == 200
        body = client.get(f"/customers/{cid}/scores", headers={"X-API-Key": keys["analyst"]}).json()
        assert body["count"] == len(body["data"]) > 0
        assert {r["score"] for r in body["data"]} >= LIFECYCLE
        got = client.get("/customers/NOPE/scores", headers={"X-API-Key": keys["analyst"]})
        assert got.status_code == 404


def test_early_warning_finds_a_degraded_payer(engine: Engine) -> None:
    """Late payments appended to one good customer flag them at a later scoring (on this test's own copy)."""
    first = _at(engine, FIRST).filter(pl.col("score") == "default_points").sort("value", descending=True)
    payers = set(engine.offline.read("payments")["customer_id"])
    target = next(c for c in first["customer_id"] if c in payers)
    due = [FIRST + timedelta(days=d) for d in (3, 5, 8, 12, 15)]
    late = pl.DataFrame(
        {
            "invoice_id": [f"EW-{i}" for i in range(len(due))],
            "customer_id": [target] * len(due),
            "due_date": due,
            "paid_date": [None] * len(due),
            "amount": [900.0] * len(due),
        }
    )
    assert engine.ingest("payments", late).ok
    engine.scoring.score(as_of=SECOND)
    day, flagged = stored_early_warning(engine.offline)
    assert day == SECOND
    hit = flagged.filter(pl.col("customer_id") == target)
    assert hit.height == 1
    assert hit["value"][0] > engine.settings.risk.early_warning_drop or "grade" in hit["reasons"][0]
    assert hit["reasons"][0].startswith("points ")
    with serve(create_app(engine)) as base:
        key = engine.access.create_key("analyst")[1]
        body = httpx.get(f"{base}/risk/early-warning", headers={"X-API-Key": key}, timeout=30).json()
    assert target in {r["customer_id"] for r in body["data"]}
