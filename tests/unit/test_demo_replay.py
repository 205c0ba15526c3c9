"""The demo's replay (issue 18, item 9): the real decide with exploration, deterministic, honest probabilities."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from cvm.config.plans import PlansConfig
from cvm.contracts.decisionlog import NO_ACTION, OUTCOME_COLUMNS
from cvm.demo.effects import build_truth
from cvm.demo.policy_adapter import Ladder, selection_probabilities, unit
from cvm.demo.replay import decision_dates, outcome_frame, read_log, replay, write_replay
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


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"customer_id": f"C{i:05d}", "score": 10.0 + i % 7, "timezone": "UTC"} for i in range(n)]


def test_the_hash_rule_is_the_design_one() -> None:
    import hashlib

    expected = int(hashlib.sha256(b"s|c1|2026-01-01").hexdigest()[:15], 16) / 16**15
    assert unit("s", "c1", "2026-01-01") == expected
    assert 0 <= expected < 1


def test_replay_is_deterministic_and_probabilities_match_selection_frequencies(tmp_path: Path) -> None:
    rows = _rows(500)
    truth = build_truth(truth_frame(500), seed=3)
    dates = decision_dates(date(2026, 7, 1), 1)  # 5 weekly decision dates
    ladder = Ladder(holdout=0.05, exploration=0.3)
    first = replay(_config(), rows, truth, dates, ladder, seed=11)
    again = replay(_config(), rows, truth, dates, ladder, seed=11)
    assert [r.to_dict() for r in first.records] == [r.to_dict() for r in again.records]
    assert first.outcomes == again.outcomes
    assert len(first.records) == len(rows) * len(dates)  # every customer, every week (re-entry after 7 days)
    # each logged probability is the logging policy's probability of what it chose
    for r in first.records:
        assert r.probability == pytest.approx(selection_probabilities(r, ladder.exploration)[r.chosen])
    # ... and the logged probabilities are the empirical selection frequencies
    live = [r for r in first.records if r.rung != "global_holdout"]
    freq = Counter(r.chosen for r in live)
    probs = [selection_probabilities(r, ladder.exploration) for r in live]
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
    # written and read back without loss
    write_replay(tmp_path, first)
    records, outcomes = read_log(tmp_path)
    assert records == first.records
    assert tuple(outcomes.columns) == OUTCOME_COLUMNS
    assert outcomes.equals(outcome_frame(first.outcomes))


def test_replay_respects_the_contact_caps() -> None:
    """Contacts the replay sends count against the caps at the next decision (the real decide sees them)."""
    cfg = _config().model_copy(deep=True)
    cfg = PlansConfig.model_validate(
        {**cfg.model_dump(mode="json"), "policy": {"quiet_hours": {"channels": []}, "caps": {"all": {"month": 2}}}}
    )
    rows = _rows(50)
    truth = build_truth(truth_frame(50), seed=3)
    out = replay(cfg, rows, truth, decision_dates(date(2026, 7, 1), 1), Ladder(0.0, 0.0), seed=1)
    sent = Counter(r.customer_id for r in out.records if r.chosen != NO_ACTION)
    assert max(sent.values()) == 2  # at most 2 in 30 days over the five weekly dates
    blocked = [r for r in out.records if any(c.blocked == "cap" for c in r.candidates)]
    assert blocked
    assert all(r.chosen == NO_ACTION for r in blocked)
    assert datetime(2026, 1, 1, tzinfo=UTC) < out.records[0].decided_at
