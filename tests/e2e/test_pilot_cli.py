"""`cvm pilot` and the demo's finished pilot, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import cvm

pytestmark = pytest.mark.slow
DEMO_OUTPUT: list[str] = []
"""What the module's `cvm demo` printed."""


@pytest.fixture(scope="module")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cvm demo` run once per module; tests work on copies of its workspace."""
    ws = tmp_path_factory.mktemp("pilot") / "ws"
    out = cvm("demo", "--customers", "1000", "--seed", "4", "--workspace", str(ws))
    assert "Pilot winback_call (simulated effect)" in out.stdout
    assert "True effect by construction" in out.stdout
    DEMO_OUTPUT.append(out.stdout)
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
    """Issue 18: `cvm demo` replays past months of the real decide with exploration (SIMULATED outcomes).

    The replay's records are decide's own ``Decision.record``, appended to the store's ``decision_log``; each
    logged probability is that of the ε-uniform draw around the greedy choice (ε/(k+1), plus 1−ε for the
    greedy choice, which the exploit rung always takes).
    """
    from cvm.config.settings import load_settings
    from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS
    from cvm.demo.workspace import DEMO_EXPLORATION
    from cvm.engine import Engine
    from cvm.experiments.ope_log import read_log

    offline = Engine.open(demo_workspace).ws.offline
    records, outcomes = read_log(offline)
    simulated = [r for r in records if r.decision_id in outcomes]
    assert len(simulated) > 1000
    assert tuple(offline.read("decision_outcomes").columns) == OUTCOME_COLUMNS
    assert {o.source for o in outcomes.values()} == {"simulated"}
    explored = [r for r in simulated if r.rung == "explore"]
    assert {r.chosen for r in explored} - {NO_ACTION}  # exploration chose actions ...
    assert NO_ACTION in {r.chosen for r in explored}  # ... and no action
    live = [r for r in simulated if r.rung in ("explore", "exploit")]
    for r in live:
        eps, k = r.exploration, sum(c.eligible for c in r.candidates)
        low, high = eps / (k + 1), 1 - eps + eps / (k + 1)
        assert r.probability == pytest.approx(high if r.rung == "exploit" else r.probability)
        assert min(abs(r.probability - low), abs(r.probability - high)) < 1e-9
    assert len(explored) / len(live) == pytest.approx(DEMO_EXPLORATION, abs=0.02)  # the demo's exploration share
    held = [r for r in simulated if r.rung == "global_holdout"]
    assert held
    config = yaml.safe_load((demo_workspace / "cvm.yaml").read_text())
    # the global holdout gets no marketing at all; a service step (such as a negative net CLV's) may still reach it
    plans = load_settings(demo_workspace).plans.definitions
    kinds = {f"{name}.{step.name}": step.kind for name, plan in plans.items() for step in plan.steps}
    assert {r.probability for r in held} == {1.0}
    assert NO_ACTION in {r.chosen for r in held}
    assert all(kinds[r.chosen] != "marketing" for r in held if r.chosen != NO_ACTION)
    assert config["plans"]["arbitration"] == "incremental"
    assert config["experiments"]["ladder"]["exploration"] == DEMO_EXPLORATION


def test_policy_compare_in_the_demo_shows_the_true_value(demo_ws: Path) -> None:
    """`cvm policy compare --json` reads the replayed log and fills true_value from the demo's ground truth."""
    out = json.loads(cvm("policy", "compare", "--json", "-w", str(demo_ws)).stdout)
    names = {p["name"]: p for p in out["policies"]}
    assert set(names) == {"none", "propensity", "incremental", "current"}
    for p in names.values():
        assert isinstance(p["true_value"], float)
        assert p["estimate"]["ci_low"] <= p["estimate"]["value"] <= p["estimate"]["ci_high"]
    assert names["none"]["true_value"] == 0.0
    assert names["none"]["contacts"] == 0.0
    assert names["propensity"]["contacts"] > 0
    table = cvm("policy", "compare", "-w", str(demo_ws)).stdout
    assert "SIMULATED" in table


def test_the_demo_learns_from_the_replayed_log_and_cvm_run_decides_with_it(demo_ws: Path) -> None:
    """The closed loop: the demo trains uplift-v1 on its replayed log; the next `cvm run` scores with it."""
    uplift = json.loads(cvm("run", "--json", "-w", str(demo_ws)).stdout)["uplift"]
    assert uplift["outcomes"]["stored"] > 1000  # the replay's SIMULATED outcomes, none measured twice
    assert sum(uplift["randomised"].values()) > 1000
    assert max(uplift["randomised"].values()) >= 500  # plans.uplift.min_randomised, even for 1,000 customers
    assert uplift["trained"] is None  # the demo trained on this same data already ...
    assert "uplift: no new randomised decisions since uplift-v1" in uplift["notes"]  # ... as uplift-v1
    assert uplift["scores"]["attributes"]  # uplift_<action> scores for decide


def test_the_demo_ends_with_what_its_log_says_of_incremental_against_propensity(demo_ws: Path) -> None:
    """The loop's last step, shown: the demo's closing table is `cvm policy evaluate --versus propensity` per reward."""
    printed = DEMO_OUTPUT[0]
    assert "Policies compared on the logged decisions: incremental against propensity" in printed
    for reward, name in (("margin", "realised"), ("components", "valued")):
        assert name in printed
        got = json.loads(cvm("policy", "evaluate", "--policy", "incremental", "--versus", "propensity",
                             "--outcome", reward, "-w", str(demo_ws), "--json").stdout)["versus"]  # fmt: skip
        dr = got["estimate"]["dr"]
        expected = {"more": dr["ci_low"] > 0, "less": dr["ci_high"] < 0}
        assert got["verdict"] in ("more", "less", "unsure")
        assert all(holds == (got["verdict"] == v) for v, holds in expected.items())
        assert isinstance(got["true_value"], float)  # the demo's ground truth, SIMULATED
        verdict = {"more": "earns more", "less": "earns less", "unsure": "cannot tell yet"}[got["verdict"]]
        assert verdict.split()[0] in printed
        assert f"{abs(dr['value']):,.0f}" in printed  # the same paired estimate as the demo printed
