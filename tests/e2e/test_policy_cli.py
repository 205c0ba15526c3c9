"""`cvm policy evaluate` and `cvm policy compare` as a user runs them, on a workspace holding a simulated log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cvm.engine import Engine
from cvm.experiments import ope_sim
from tests.decision_logs import write_simulated_log

pytestmark = pytest.mark.slow  # seven real `cvm` processes


def cvm(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "cvm.cli.main", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, proc.stderr
    return proc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("policy_cli") / "ws"
    engine = Engine.init(root)
    write_simulated_log(engine, 3_000, seed=11)
    engine.close()
    return root


def test_compare_gives_exactly_the_issue_s_json_per_1000_eligible_customers(workspace: Path) -> None:
    proc = cvm("policy", "compare", "-w", str(workspace), "--json")
    data: Any = json.loads(proc.stdout)  # strict JSON: no NaN
    assert list(data) == ["policies"]
    assert [p["name"] for p in data["policies"]] == ["none", "propensity", "incremental", "current"]
    for p in data["policies"]:
        assert set(p) == {"name", "estimate", "contacts", "true_value"}
        assert set(p["estimate"]) == {"value", "ci_low", "ci_high"}
        assert p["estimate"]["ci_low"] <= p["estimate"]["value"] <= p["estimate"]["ci_high"]
        assert p["true_value"] is None  # not a demo workspace: no ground truth
    by = {p["name"]: p for p in data["policies"]}
    assert by["none"]["estimate"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    assert by["none"]["contacts"] == 0.0
    truth = ope_sim.true_values()
    # per 1,000 decisions: the incremental policy earns more than the propensity policy, as the simulation's truth says
    assert by["incremental"]["estimate"]["value"] > by["propensity"]["estimate"]["value"]
    for name in ("propensity", "incremental"):
        assert by[name]["estimate"]["ci_low"] - 500 < 1000 * truth[name] < by[name]["estimate"]["ci_high"] + 500
    assert 0 < by["incremental"]["contacts"] <= 1000
    assert by["current"]["estimate"] == by["propensity"]["estimate"]  # no exploration configured: propensity


def test_evaluate_gives_every_estimator_and_a_readable_table(workspace: Path) -> None:
    data = json.loads(cvm("policy", "evaluate", "--policy", "incremental", "-w", str(workspace), "--json").stdout)
    assert data["name"] == "incremental"
    assert set(data["incremental"]) == set(data["value"]) == {"ips", "snips", "dr"}
    assert data["decisions"] == 3_000
    assert 0 < data["effective_sample_size"] <= 3_000
    assert "bootstrap" not in data
    table = cvm("policy", "evaluate", "--policy", "propensity", "--bootstrap", "200", "-w", str(workspace)).stdout
    assert "DR" in table
    assert "SNIPS" in table
    assert "customer-bootstrap intervals" in table
    compare = cvm("policy", "compare", "-w", str(workspace), "--lang", "fr").stdout
    assert "propension" in compare  # the policy labels, in French
    assert "actuelle" in compare  # "configuration actuelle" (may wrap in its cell)
    assert "Apparié sur les mêmes décisions" in compare  # the paired differences' table, in French
    assert "que propension" in compare or "contre propension" in compare  # its verdict names both policies
    paired = json.loads(
        cvm(
            "policy", "evaluate", "--policy", "incremental", "--versus", "propensity", "-w", str(workspace), "--json"
        ).stdout
    )["versus"]
    assert (paired["name"], paired["versus"]) == ("incremental", "propensity")
    assert set(paired["estimate"]) == {"ips", "snips", "dr"}
    assert paired["verdict"] in {"more", "less", "unsure"}


def test_no_log_yet_says_to_run_with_exploration_on(tmp_path: Path) -> None:
    Engine.init(tmp_path / "empty").close()
    proc = cvm("policy", "compare", "-w", str(tmp_path / "empty"), "--json", code=2)
    error = json.loads(proc.stdout)["error"]
    assert "cvm run" in error
    assert "exploration" in error
    bad = cvm("policy", "evaluate", "--policy", "best", "-w", str(tmp_path / "empty"), code=2)
    assert "best" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_the_components_reward_says_what_it_counts_and_when_to_check_it_with_the_margin(workspace: Path) -> None:
    proc = cvm("policy", "compare", "--outcome", "components", "-w", str(workspace), "--lang", "nl")
    flat = " ".join((proc.stdout + proc.stderr).split())  # notes go to stderr; the console wraps them
    assert "valued per customer" not in flat  # the notes are in Dutch
    assert "--outcome margin" in flat  # the caution names the reward to check a verdict with
    assert "plans.uplift.values" in flat  # what its verdict rests on: the configured values of the events
    assert "gebeurtenissen" in flat
