"""`cvm pilot` and the demo's finished pilot, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import cvm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cvm demo` run once per module; tests work on copies of its workspace."""
    ws = tmp_path_factory.mktemp("pilot") / "ws"
    out = cvm("demo", "--customers", "1000", "--seed", "3", "--workspace", str(ws))
    assert "Pilot winback_call (simulated effect)" in out.stdout
    assert "True effect by construction" in out.stdout
    return ws


@pytest.fixture
def demo_ws(demo_workspace: Path, tmp_path: Path) -> Path:
    """This test's own copy of the demo workspace (a pilot one test adds, no other sees)."""
    return Path(shutil.copytree(demo_workspace, tmp_path / "ws"))


def test_the_demo_shows_a_finished_simulated_pilot(demo_ws: Path) -> None:
    listed = json.loads(cvm("pilot", "list", "-w", str(demo_ws), "--json").stdout)
    [pilot] = [p for p in listed["data"] if p["name"] == "winback_call"]
    assert (pilot["kind"], pilot["status"], pilot["simulated"]) == ("finished", "finished", True)
    report = json.loads(cvm("pilot", "report", "winback_call", "-w", str(demo_ws), "--json").stdout)
    assert report["notes"][0].startswith("SIMULATED")
    assert {a["arm"] for a in report["arms"]} == {"control", "call"}
    assert report["srm"]["mismatch"] is False
    assert {o["outcome"] for o in report["outcomes"]} == {"revenue", "margin", "retention", "conversion", "nps"}
    assert report["recommendation"]["decision"] in ("roll out", "stop", "keep testing")
    assert report["value"][0]["cost"] == pytest.approx(4.0 * report["arms"][1]["assigned"])
    text = cvm("pilot", "report", "winback_call", "-w", str(demo_ws)).stdout
    assert "Sample-ratio check" in text
    assert "Recommendation:" in text
    # the customer 360 shows the arm
    timeline = json.loads(cvm("customer", "show", _first_assigned(demo_ws), "-w", str(demo_ws), "--json").stdout)
    assert any(e["type"] == "pilot" and "winback_call" in e["summary"] for e in timeline["timeline"])


def _first_assigned(ws: Path) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{ws / 'online.db'}")
    with engine.connect() as conn:
        cid = conn.execute(sa.text("SELECT customer_id FROM assignments ORDER BY customer_id LIMIT 1")).scalar_one()
    engine.dispose()
    return str(cid)


def test_create_list_and_report_a_live_pilot(demo_ws: Path) -> None:
    ws = str(demo_ws)
    created = cvm("pilot", "create", "review_call", "--plan", "contact", "--step", "account_review",
                  "--arm", "control:0.5:holdout", "--arm", "call:0.5:channel=phone,cost=6",
                  "--primary", "retention", "--segment-by", "kind", "--segment-by", "region", "-w", ws)  # fmt: skip
    assert "Pilot review_call added" in created.stdout
    config = yaml.safe_load((demo_ws / "cvm.yaml").read_text())
    assert config["experiments"]["pilots"]["review_call"]["arms"]["call"] == {"share": 0.5, "channel": "phone",
                                                                             "cost": 6.0}  # fmt: skip
    assert "# Pilots: randomized tests" in (demo_ws / "cvm.yaml").read_text()  # comments kept
    names = {p["name"]: p for p in json.loads(cvm("pilot", "list", "-w", ws, "--json").stdout)["data"]}
    assert names["review_call"]["kind"] == "live"
    report = json.loads(cvm("pilot", "report", "review_call", "-w", ws, "--json").stdout)
    assert report["recommendation"]["decision"] == "keep testing"
    again = cvm("pilot", "create", "review_call", "--plan", "contact", "-w", ws, ok=False)
    assert again.returncode == 2
    assert "already exists" in again.stderr
    bad = cvm("pilot", "create", "x", "--plan", "contact", "--arm", "a:0.7", "--arm", "b:0.7", "-w", ws, ok=False)
    assert bad.returncode == 2
    assert "add up to 1" in bad.stderr
    missing = cvm("pilot", "report", "nope", "-w", ws, ok=False)
    assert missing.returncode == 2
    assert "unknown pilot 'nope'" in missing.stderr


def test_the_demo_leaves_a_randomised_decision_log(demo_workspace: Path) -> None:
    """Issue 18: `cvm demo` replays past months of the real decide with exploration (SIMULATED outcomes)."""
    from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS
    from cvm.demo.policy_adapter import Ladder, selection_probabilities
    from cvm.demo.replay import read_log

    records, outcomes = read_log(demo_workspace / "demo-data" / "replay")
    assert records
    assert len(records) == outcomes.height
    assert tuple(outcomes.columns) == OUTCOME_COLUMNS
    assert set(outcomes["source"]) == {"simulated"}
    assert set(outcomes["decision_id"]) == {r.decision_id for r in records}
    explored = [r for r in records if r.rung == "explore"]
    assert {r.chosen for r in explored} - {NO_ACTION}  # exploration chose actions ...
    assert NO_ACTION in {r.chosen for r in explored}  # ... and no action
    for r in records:
        assert r.probability == pytest.approx(selection_probabilities(r, Ladder().exploration)[r.chosen])
