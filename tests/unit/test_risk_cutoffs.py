"""Cut-off table, simulation and writing the acceptance policy into cvm.yaml."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cvm.config import load_settings, render_template
from cvm.config.settings import AcceptanceSettings, RiskSettings
from cvm.models.credit import PointsScaling
from cvm.risk import apply_cutoff, cutoff_table, simulate
from cvm.risk.cutoffs import band_of, book_figures
from cvm.risk.simulate import set_cutoff_text


def _book(n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    points = np.random.default_rng(3).normal(600, 40, n)
    return points, PointsScaling().probability_of_score(points)


def test_table_is_monotone_and_adds_up() -> None:
    points, p = _book()
    risk = RiskSettings()
    table = cutoff_table(points, p, risk)
    assert table["applicants"].sum() == points.size
    assert table["approval_rate"].iloc[0] == 1.0
    assert (np.diff(table["approval_rate"]) <= 0).all()
    assert (np.diff(table["bad_rate"]) < 0).all()
    assert (np.diff(table["accepted"]) <= 0).all()
    row = table.iloc[5]
    take = points >= row["cutoff"]
    assert row["expected_loss"] == pytest.approx(p[take].sum() * risk.exposure * risk.lgd)
    good = (1 - p[take]).sum() * risk.exposure * risk.margin
    assert row["expected_value"] == pytest.approx(good - row["expected_loss"])
    assert band_of(605.0, 20) == "600-620"
    assert row["band"].endswith(str(int(row["cutoff"] + 20)))


def test_loosening_accepts_more_with_more_loss() -> None:
    points, p = _book()
    risk = RiskSettings(acceptance=AcceptanceSettings(cutoff=600.0))
    looser = simulate(points, p, risk, 560.0)
    assert looser.direction == "loosen"
    assert looser.delta["accepted"] > 0
    assert looser.delta["expected_loss"] > 0
    assert looser.delta["bad_rate"] > 0
    tighter = simulate(points, p, risk, 640.0)
    assert tighter.direction == "tighten"
    assert tighter.delta["accepted"] < 0
    assert tighter.delta["expected_loss"] < 0
    assert simulate(points, p, RiskSettings(), 600.0).direction == "tighten"  # from accepting everyone
    # value grows with loosening while the margin on marginal customers exceeds their loss
    generous = RiskSettings(margin=0.5, acceptance=AcceptanceSettings(cutoff=600.0))
    assert simulate(points, p, generous, 580.0).delta["expected_value"] > 0
    assert book_figures(points, p, None, risk)["approval_rate"] == 1.0


def test_cutoff_text_keeps_comments_and_other_keys() -> None:
    text = render_template()
    out = set_cutoff_text(text, 612.5)
    changed = [(a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=True) if a != b]
    assert changed == [("    cutoff: null", "    cutoff: 612.5")]
    assert set_cutoff_text(out, None) == text
    bare = set_cutoff_text("store:\n  offline: duckdb\n", 600.0)
    assert bare.endswith("risk:\n  acceptance:\n    cutoff: 600.0\n")
    nested = set_cutoff_text("risk:\n  lgd: 0.4  # loss\nother: 1\n", 590.0)
    assert nested == "risk:\n  acceptance:\n    cutoff: 590.0\n  lgd: 0.4  # loss\nother: 1\n"


def test_apply_cutoff_writes_a_loadable_policy(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text(render_template(), encoding="utf-8")
    apply_cutoff(tmp_path, 605.25)
    assert load_settings(tmp_path).risk.acceptance.cutoff == 605.25
    assert "# Acceptance policy" in (tmp_path / "cvm.yaml").read_text()
    apply_cutoff(tmp_path, None)
    assert load_settings(tmp_path).risk.acceptance.cutoff is None
