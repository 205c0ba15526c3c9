"""``learned/decide.json``: the variant posteriors and model versions ``cvm run`` stores, merged with the fatigue
curves into the one ``Learned`` both decision paths read."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from cvm.config.plans import PlansConfig
from cvm.contracts.learned import Learned
from cvm.plans.learned_file import DECIDE_FILE, learned_stamp, load_learned, refit_fatigue, store_learned
from tests.fatigue_reference import contacts_backend


def test_stored_posteriors_and_versions_come_back_beside_the_fatigue_curves(tmp_path: Path) -> None:
    config = PlansConfig()
    assert load_learned(tmp_path, config) == Learned()
    before = learned_stamp(tmp_path)
    store_learned(tmp_path, {"t:a": (2.0, 1.0)}, {"uplift": "uplift-v3"})
    assert learned_stamp(tmp_path) != before  # the services' cache reloads
    learned = load_learned(tmp_path, config)
    assert learned.variant_posteriors == {"t:a": (2.0, 1.0)}
    assert learned.model_versions == {"uplift": "uplift-v3"}
    t = pd.Timestamp("2026-05-01", tz="UTC")
    rows = [(f"c{i}", t + pd.Timedelta(days=k), "email", "outbound", "news") for i in range(40) for k in range(4)]
    rows += [(f"c{i}", t + pd.Timedelta(days=4), "phone", "inbound", "complaint") for i in range(0, 40, 5)]
    assert refit_fatigue(tmp_path, contacts_backend(tmp_path / "hub", rows), config) is not None
    both = load_learned(tmp_path, config)
    assert set(both.model_versions) == {"fatigue", "uplift"}
    assert both.fatigue
    assert both.variant_posteriors == {"t:a": (2.0, 1.0)}


def test_an_unreadable_store_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / DECIDE_FILE).parent.mkdir(parents=True)
    (tmp_path / DECIDE_FILE).write_text('{"variant_posteriors": {"t:a": [1.0]}}', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert load_learned(tmp_path, PlansConfig()) == Learned()
    assert "decide.json: ignored" in caplog.text
