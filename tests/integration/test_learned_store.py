"""``cvm run`` stores what its decisions read besides the fatigue curves (issue 18): the Thompson posteriors of the
pilots' variants and the uplift model's version, so the batch and the real-time ``decide`` read the same ``Learned``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cvm.contracts.actions import Assignment
from cvm.delivery import write_transaction
from cvm.engine import Engine
from cvm.experiments import records
from cvm.experiments.ladder_report import variant_posteriors
from cvm.models.uplift_multi import MultiUplift
from cvm.plans.learned_file import DECIDE_FILE, load_learned
from cvm.scoring.registry import ModelRegistry
from cvm.services.learned import refresh_learned
from tests.conftest import CUSTOMERS_CSV, TRANSACTIONS_CSV, write

NOW = datetime(2024, 12, 1, tzinfo=UTC)


def _thompson(workspace: Path) -> None:
    config = yaml.safe_load((workspace / "cvm.yaml").read_text())
    arms = {"control": {"share": 0.2, "holdout": True}, "a": {"share": 0.4}, "b": {"share": 0.4, "offer": "B"}}
    config["experiments"]["pilots"] = {"t": {"plan": "welcome", "allocation": "thompson", "primary": "conversion",
                                             "arms": arms}}  # fmt: skip
    (workspace / "cvm.yaml").write_text(yaml.safe_dump(config))


def test_the_cycle_stores_the_posteriors_both_paths_decide_with(workspace: Path, tmp_path: Path) -> None:
    _thompson(workspace)
    engine = Engine.open(workspace)
    try:
        engine.ingest("customers", write(tmp_path / "c.csv", CUSTOMERS_CSV))
        engine.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS_CSV))
        at = datetime(2024, 1, 10, tzinfo=UTC)
        rows = [Assignment("t", "C1", "a", 1, at), Assignment("t", "C2", "b", 2, at), Assignment("t", "C3", "b", 3, at)]
        with write_transaction(engine.online) as conn:
            records.record(conn, rows)
        assert engine.plans.learned().variant_posteriors == {}  # nothing stored before the first cycle
        engine.plans.act(now=NOW)
        expected = variant_posteriors(engine.offline, engine.online, engine.settings, NOW)
        assert expected == {"t:a": (2.0, 1.0), "t:b": (2.0, 2.0)}
        learned = engine.plans.learned()
        assert learned.variant_posteriors == expected  # what the batch decided with
        assert (workspace / DECIDE_FILE).exists()
        ingestor = engine.plans.events
        bound = engine.plans._events
        assert bound is not None
        assert bound[1] is ingestor
        assert bound[2] is learned
    finally:
        engine.close()


def test_the_uplift_champion_version_reaches_the_decisions(workspace: Path) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"value": rng.uniform(0, 1, 400)})
    chosen = np.where(rng.random(400) < 0.5, "mail", "none")
    model = MultiUplift(n_estimators=10, n_jobs=1).fit(x, rng.normal(0, 1, 400), chosen, np.full(400, 0.5))
    meta = {"training_window": {}, "features": ["value"], "data_hash": "x", "metrics": {}, "gate": {"passed": True}}
    entry = ModelRegistry(workspace).register("uplift", model, meta, eligible=True)
    engine = Engine.open(workspace)
    try:
        assert refresh_learned(engine.ws, NOW) == {"uplift": entry.tag}
        learned = load_learned(workspace, engine.settings.plans)
        assert learned.model_versions["uplift"] == entry.tag == "uplift-v1"
    finally:
        engine.close()
