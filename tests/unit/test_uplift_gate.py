"""The uplift model's champion gate and its promotion by held-out Qini, in a real registry folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cvm.models.uplift_multi import MultiUplift
from cvm.scoring.gate import uplift_gate
from cvm.scoring.registry import ModelRegistry, RegistryError


def test_an_action_passes_only_with_a_positive_qini_and_enough_randomised_decisions() -> None:
    verdict = uplift_gate(
        {
            "mail": {"qini": 3.2, "randomised": 800},
            "call": {"qini": -0.5, "randomised": 800},
            "sms": {"qini": None, "randomised": 800},
            "visit": {"qini": 1.0, "randomised": 120},
        },
        randomised=2000,
        minimum=500,
    )
    assert verdict["passed"]
    assert verdict["reasons"] == []
    passed = {a for a, v in verdict["actions"].items() if v["passed"]}
    assert passed == {"mail"}
    assert verdict["actions"]["call"]["reasons"] == ["its held-out Qini -0.5 is not positive"]
    assert "could not be measured" in verdict["actions"]["sms"]["reasons"][0]
    assert verdict["actions"]["visit"]["reasons"] == [
        "it has 120 randomised decisions, fewer than plans.uplift.min_randomised 500"
    ]
    failed = uplift_gate({"call": {"qini": 0.0, "randomised": 900}}, randomised=900, minimum=500)
    assert not failed["passed"]
    assert failed["reasons"] == ["call: its held-out Qini 0 is not positive"]


def _model() -> MultiUplift:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.uniform(0, 1, 400)})
    chosen = np.where(rng.random(400) < 0.5, "mail", "none")
    y = 10 * x["age"].to_numpy() * (chosen == "mail") + rng.normal(0, 1, 400)
    return MultiUplift(n_estimators=10, folds=2, n_jobs=1).fit(x, y, chosen, np.full(400, 0.5))


def _meta(gate: dict[str, object]) -> dict[str, object]:
    return {"training_window": {}, "features": ["age"], "data_hash": "h", "metrics": {}, "gate": gate}


def test_promotion_follows_the_gate_and_the_held_out_qini(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    good = uplift_gate({"mail": {"qini": 2.0, "randomised": 600}}, randomised=600, minimum=500)
    bad = uplift_gate({"mail": {"qini": -1.0, "randomised": 600}}, randomised=600, minimum=500)
    assert registry.register("uplift", _model(), _meta(bad), eligible=False).status == "challenger"
    first = registry.register("uplift", _model(), _meta(good), eligible=True)
    assert first.status == "champion"
    assert registry.champion("uplift").load().predict(pd.DataFrame({"age": [0.5]})).columns.tolist() == ["mail"]

    with pytest.raises(RegistryError, match="did not pass the champion gate: mail: its held-out Qini -1 is not"):
        registry.promote("uplift", "v1")
    later = registry.register("uplift", _model(), _meta(good), eligible=True)
    assert later.status == "challenger"
    worse = {"metric": "qini", "window": "the latest held-out decisions", "challenger_qini": 1.0, "champion_qini": 2.5}
    with pytest.raises(RegistryError, match=r"QINI 1.0000 < 2.5000; use --force to promote"):
        registry.promote("uplift", "v3", comparison=worse)
    promoted = registry.promote("uplift", "v3", comparison={**worse, "challenger_qini": 2.5})
    assert promoted.status == "champion"
    assert registry.get("uplift", "v2").status == "retired"
    assert registry.names() == ["uplift"]
