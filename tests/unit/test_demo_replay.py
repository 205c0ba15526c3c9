"""The demo's replay (issue 18, item 9): the real decide with exploration, deterministic, honest probabilities."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS, DecisionRecord
from cvm.demo.effects import build_truth
from cvm.demo.replay import CONTEXT_KEY, decision_dates, replay, replay_ladder, store_replay
from cvm.experiments.ope_log import read_log
from cvm.experiments.policies import exploring_policy
from cvm.plans.explore import uniform
from cvm.store import OfflineStore
from cvm.store.decision_log import records as logged_records
from tests.unit.test_demo_effects import truth_frame

OFF = {name: {"enabled": False} for name in ("welcome", "qualification", "contact")}


def _config() -> PlansConfig:
    """Two plans, each one step a week for every customer with ``score > 0``: two candidates per decision."""

    def plan(step: str, channel: str, objective: str, value: str) -> dict[str, Any]:
        return {
            "trigger": {"type": "condition", "when": "score > 0"},
            "reentry_days": 7,
            "steps": [{"name": step, "objective": objective, "channel": channel, "propensity": "0.5", "value": value}],
        }

    return PlansConfig.model_validate(
        {
            "definitions": {
                **OFF,
                "up": plan("offer", "mail", "sell", "score"),
                "news": plan("news", "mail", "inform", "4"),
            },
            "policy": {"quiet_hours": {"channels": []}, "caps": {"all": {"day": 5, "week": 10, "month": 40}}},
        }
    )


def _ladder(holdout: float, exploration: float) -> ExperimentsSettings:
    return ExperimentsSettings.model_validate({"holdout_share": holdout, "ladder": {"exploration": exploration}})


def selection_probabilities(record: DecisionRecord, exploration: float) -> dict[str, float]:
    """The logging policy's probability of every option (h-ope's exploring policy around the propensity greedy)."""
    if record.rung == "global_holdout":
        return {NO_ACTION: 1.0}
    return exploring_policy(record, "propensity", exploration)


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"customer_id": f"C{i:05d}", "score": 10.0 + i % 7, "timezone": "UTC"} for i in range(n)]


def test_the_hash_rule_is_the_design_one() -> None:
    import hashlib

    expected = int(hashlib.sha256(b"s|c1|2026-01-01").hexdigest()[:15], 16) / 16**15
    assert uniform("s", "c1", "2026-01-01") == expected
    assert 0 <= expected < 1


def test_replay_is_deterministic_and_probabilities_match_selection_frequencies(tmp_path: Path) -> None:
    rows = _rows(500)
    truth = build_truth(truth_frame(500), seed=3)
    dates = decision_dates(date(2026, 7, 1), 1)  # 5 weekly decision dates
    ladder = _ladder(holdout=0.05, exploration=0.3)
    first = replay(_config(), rows, truth, dates, ladder, seed=11)
    again = replay(_config(), rows, truth, dates, ladder, seed=11)
    assert [r.to_dict() for r in first.records] == [r.to_dict() for r in again.records]
    assert first.outcomes == again.outcomes
    assert len(first.records) == len(rows) * len(dates)  # every customer, every week (re-entry after 7 days)
    # each logged probability is the logging policy's probability of what it chose
    for r in first.records:
        assert r.probability == pytest.approx(selection_probabilities(r, ladder.ladder.exploration)[r.chosen])
    # ... and the logged probabilities are the empirical selection frequencies
    live = [r for r in first.records if r.rung != "global_holdout"]
    freq = Counter(r.chosen for r in live)
    probs = [selection_probabilities(r, ladder.ladder.exploration) for r in live]
    assert {len(p) for p in probs} >= {3}  # the greedy "up.offer" (worth 5+), "news.news" (2) and none
    for action in ("up.offer", "news.news", NO_ACTION):
        expected = sum(p.get(action, 0.0) for p in probs) / len(live)
        assert freq[action] / len(live) == pytest.approx(expected, abs=0.025)
    assert freq["news.news"] > 0
    assert freq[NO_ACTION] > 0
    held = [r for r in first.records if r.rung == "global_holdout"]
    assert held
    assert {(r.chosen, r.probability) for r in held} == {(NO_ACTION, 1.0)}
    assert len({r.customer_id for r in held}) * len(dates) == len(held)  # held out permanently, every week
    assert {o.source for o in first.outcomes} == {"simulated"}
    assert {r.context[CONTEXT_KEY] for r in first.records} >= {0.0, 1.0}  # the contacts the replay sent before
    # appended to the store's decision_log and decision_outcomes, read back by their one reader without loss
    store = OfflineStore(tmp_path / "off")
    store.create()
    assert store_replay(store, first) == len(first.records)
    assert store_replay(store, again) == 0  # a second replay of the same decisions logs nothing twice
    assert logged_records(store) == sorted(first.records, key=lambda r: (r.decided_at, r.decision_id))
    records, outcomes = read_log(store)
    assert len(records) == len(outcomes) == len(first.outcomes)
    assert {o.decision_id: o for o in first.outcomes} == outcomes
    assert tuple(store.read("decision_outcomes").columns) == OUTCOME_COLUMNS


@pytest.mark.parametrize("exploration", [0.0, 0.5])
def test_replay_respects_the_contact_caps(exploration: float) -> None:
    """Contacts the replay sends count against the caps at the next decision (the real decide sees them).

    With exploration on, a capped candidate is logged not eligible and is never drawn: the ladder once keyed
    the capped candidates by object id, which the arbitration's blocked copy did not keep, and exploration sent
    up to five contacts in a month under a cap of two.
    """
    cfg = _config().model_copy(deep=True)
    cfg = PlansConfig.model_validate(
        {**cfg.model_dump(mode="json"), "policy": {"quiet_hours": {"channels": []}, "caps": {"all": {"month": 2}}}}
    )
    rows = _rows(200)
    truth = build_truth(truth_frame(200), seed=3)
    out = replay(cfg, rows, truth, decision_dates(date(2026, 7, 1), 1), _ladder(0.0, exploration), seed=1)
    sent = Counter(r.customer_id for r in out.records if r.chosen != NO_ACTION)
    assert max(sent.values()) == 2  # at most 2 in 30 days over the five weekly dates
    blocked = [r for r in out.records if any(c.blocked is not None and "cap" in c.blocked for c in r.candidates)]
    assert blocked
    assert all(r.chosen == NO_ACTION for r in blocked if all(not c.eligible for c in r.candidates))
    assert all(r.chosen not in {c.action for c in r.candidates if not c.eligible} for r in out.records)
    assert datetime(2026, 1, 1, tzinfo=UTC) < out.records[0].decided_at


def test_the_replay_explores_with_the_workspace_ladder_or_the_demo_one() -> None:
    own = _ladder(0.02, 0.2)
    assert replay_ladder(own) is own
    default = replay_ladder(ExperimentsSettings())
    assert (default.holdout_share, default.ladder.exploration) == (0.05, 0.10)
    assert ExperimentsSettings().ladder.exploration == 0.0  # a new workspace does not explore


def test_the_demo_workspace_decides_by_incremental_value_with_exploration(tmp_path: Path) -> None:
    from cvm.config.settings import Settings, load_settings
    from cvm.demo.workspace import write_demo_config

    assert write_demo_config(tmp_path)
    s = load_settings(tmp_path)
    assert (s.plans.arbitration, s.experiments.holdout_share, s.experiments.ladder.exploration) == (
        "incremental",
        0.05,
        0.3,  # the demo's outcomes are noisy: the uplift models need many randomised decisions
    )
    assert not write_demo_config(tmp_path)  # an existing cvm.yaml is left alone
    assert Settings().plans.arbitration == "propensity"  # new workspaces keep the default


def test_the_logged_contacts_are_the_attribute_the_uplift_model_scores_with() -> None:
    """The replay's contact count reached the uplift model as ``contacts_window``, a key no attribute row has, so
    ``cvm run`` scored it as missing; now the replay sets ``contacts_90d`` (the attribute base's count) before each
    decision, the context logs it, and the model learns only ``plans.uplift.features`` from the context."""
    import polars as pl

    from cvm.config.uplift import UpliftConfig
    from cvm.demo.replay import CONTACTS_ATTRIBUTE
    from cvm.scoring.uplift_train import training_data

    rows = [{**r, "value": float(i % 5)} for i, r in enumerate(_rows(200))]
    truth = build_truth(truth_frame(200), seed=3)
    result = replay(_config(), rows, truth, decision_dates(date(2026, 7, 1), 1), _ladder(0.05, 0.3), seed=11)
    assert {r.context[CONTACTS_ATTRIBUTE] for r in result.records} >= {0.0, 1.0}
    assert all(r.context[CONTACTS_ATTRIBUTE] == r.context[CONTEXT_KEY] for r in result.records)
    outcomes = pl.DataFrame({"decision_id": [o.decision_id for o in result.outcomes],
                             "margin": [o.margin for o in result.outcomes]})  # fmt: skip
    features = UpliftConfig().features
    data = training_data(result.records, outcomes, features)
    assert list(data.x.columns) == features
    assert CONTEXT_KEY not in data.x.columns  # a key cvm run cannot score with is never learnt
    by_id = {r.decision_id: r for r in result.records}
    for i, decision in enumerate(data.ids[:50]):  # each feature is the value logged at decision time
        assert data.x[CONTACTS_ATTRIBUTE].iloc[i] == by_id[decision].context[CONTACTS_ATTRIBUTE]
        assert data.x["value"].iloc[i] == by_id[decision].context["value"]
