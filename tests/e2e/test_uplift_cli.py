"""`cvm run` and `cvm train --uplift` say when the uplift models cannot decide yet, as a user sees it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cvm.engine import Engine
from tests.e2e.test_cli import cvm
from tests.integration.test_uplift_loop import _hub

MESSAGE = "uplift: not enough randomised decisions (40 < 500): the propensity policy decides"


@pytest.mark.slow
def test_run_and_train_say_the_propensity_policy_decides(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    engine = Engine.init(ws)
    try:
        _hub(engine, 40)  # 40 randomised decisions with elapsed horizons, as h-log's export writes them
    finally:
        engine.close()

    report = json.loads(cvm("run", "-w", str(ws), "--json").stdout)
    assert report["uplift"]["message"] == MESSAGE
    assert report["uplift"]["randomised"] == {"mail": 40}
    assert report["uplift"]["outcomes"]["added"] == 40

    assert MESSAGE in cvm("train", "--uplift", "-w", str(ws)).stdout.replace("\n", " ")
