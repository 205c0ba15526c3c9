"""The batch path (`cvm run`) and the real-time path (`POST /events`) decide the same for the same state."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from cvm.config.plans import PlansConfig
from cvm.contracts import DATA_TABLES
from cvm.contracts.actions import Decision
from cvm.contracts.decisionlog import uplift_attribute
from cvm.demo import generate
from cvm.engine import Engine
from cvm.plans.batch import offline_contacts
from cvm.plans.decide import decide
from cvm.plans.learned_file import FATIGUE_FILE, refit_fatigue
from cvm.store.backend import DuckDBBackend

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scored_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo base ingested and scored once per module, closed: tests never open it, they copy it."""
    root = tmp_path_factory.mktemp("batch_rt")
    data = root / "data"
    generate(1_500, 11, data, end=NOW.date())
    engine = Engine.init(root / "ws")
    try:
        for table in DATA_TABLES:
            assert engine.ingest(table, data / f"{table}.parquet").ok
        engine.scoring.score(as_of=NOW.date())
    finally:
        engine.close()
    return root / "ws"


@pytest.fixture
def scored(scored_workspace: Path, tmp_path: Path) -> Iterator[Engine]:
    """An engine on this test's own copy of the scored workspace: the actions one test enqueues no other sees."""
    engine = Engine.open(Path(shutil.copytree(scored_workspace, tmp_path / "ws")))
    engine.plans.events.clock = lambda: NOW
    engine.plans.events.snapshot.clock = lambda: NOW
    yield engine
    engine.close()


def _with_uplift(workspace: Path) -> list[str]:
    """Incremental arbitration, and an ``uplift_<action>`` score per customer and action (issue 18)."""
    path = workspace / "cvm.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    actions = [s.action or f"{n}.{s.name}" for n, p in PlansConfig().active.items() for s in p.steps]
    names = [uplift_attribute(a) for a in actions]
    doc.setdefault("plans", {})["arbitration"] = "incremental"
    segments = doc.setdefault("segments", {})
    segments["scores"] = [*segments.get("scores", []), *names]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    engine = Engine.open(workspace)
    try:
        ids = engine.offline.read("customers", ["customer_id"])["customer_id"].to_list()
        rng = np.random.default_rng(18)
        rows = pl.DataFrame(
            {
                "customer_id": [c for _ in names for c in ids],
                "as_of": NOW.date(),
                "score": [n for n in names for _ in ids],
                "value": rng.normal(2.0, 8.0, len(ids) * len(names)),  # persuadables, sure things and sleeping dogs
            }
        )
        scores = engine.offline.read("scores")
        with engine.offline.transaction() as tx:
            tx.replace("scores", pl.concat([scores, rows], how="diagonal_relaxed").select(scores.columns))
        backend = DuckDBBackend(engine.offline)
        assert refit_fatigue(workspace, backend, engine.settings.plans) is not None  # priced contact pressure too
    finally:
        engine.close()
    return names


@pytest.fixture(params=["propensity", "incremental"])
def decided(request: pytest.FixtureRequest, scored_workspace: Path, tmp_path: Path) -> Iterator[Engine]:
    """:func:`scored`, deciding by propensity or by incremental value with uplift scores present."""
    workspace = Path(shutil.copytree(scored_workspace, tmp_path / "ws"))
    if request.param == "incremental":
        _with_uplift(workspace)
    engine = Engine.open(workspace)
    engine.plans.events.clock = lambda: NOW
    engine.plans.events.snapshot.clock = lambda: NOW
    yield engine
    engine.close()


def _summary(decision: Decision) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    acts = sorted((a.plan, a.step, a.idempotency_key) for a in decision.actions)
    held = sorted((s.plan, s.step, s.reason) for s in decision.suppressed)
    return acts, held


def _compare(scored: Engine) -> tuple[list[str], list[str], int]:
    """Batch against real time for every decided customer (in id order): mismatches without and with hub contacts."""
    scored.plans.refresh_segments(NOW.date())  # stored membership: no segment entries pending as batch-only events
    batch = scored.plans.plan_batch(NOW.date(), NOW)
    assert batch.decisions, "the demo base must give the plans something to do"
    assert sum(len(d.actions) for _, d in batch.decisions) > 0
    with_hub_contacts = set(offline_contacts(scored.offline.read("contacts"), NOW))
    learned = scored.plans.learned()  # what the batch reads too (the fatigue curves, when fitted)
    real_time = partial(decide, scored.settings.plans, experiments=scored.settings.experiments, learned=learned)
    plain, hub = [], []
    for customer_id, batch_decision in sorted(batch.decisions, key=lambda d: d[0]):
        state = scored.plans.events.customer_state(customer_id, NOW)
        assert state is not None
        if _summary(real_time(state, NOW)) != _summary(batch_decision):
            (hub if customer_id in with_hub_contacts else plain).append(customer_id)
    return plain, hub, len(batch.decisions)


def test_batch_and_real_time_decide_identically(decided: Engine) -> None:
    """Every customer without an outbound contact logged in the hub's own ``contacts`` table decides the same.

    Under both arbitration modes; with ``incremental``, the customers' ``uplift_<action>`` scores reach both paths.
    """
    plain, _, count = _compare(decided)
    assert count >= 300
    assert plain == []
    if decided.settings.plans.arbitration == "incremental":
        batch = decided.plans.plan_batch(NOW.date(), NOW)
        reasons = [a.reasons[1] for _, d in batch.decisions for a in d.actions]
        assert any(r.startswith("incremental value") for r in reasons)
        assert decided.plans.learned().fatigue  # the fatigue curves fitted on the demo's contacts were read


HUB_CONTACTS_GAP = (
    "the batch counts the hub's logged outbound contacts (a CRM e-mail yesterday) against the caps "
    "(plans.batch.offline_contacts) but the real-time state counts only the outbox's: C0000626's e-mail of "
    "2026-05-31 holds the batch's 'contact news' and not the real-time one (found when the check went from "
    "the first 300 decisions, which held no such customer in earlier runs, to all of them, in id order)"
)


@pytest.mark.xfail(strict=True, reason=HUB_CONTACTS_GAP)
def test_hub_contacts_count_against_the_caps_in_real_time_too(scored: Engine) -> None:
    _, hub, _ = _compare(scored)
    assert hub == []


def test_running_the_cycle_again_never_repeats_an_action(scored: Engine) -> None:
    first = scored.plans.act(now=NOW)
    assert first["enqueued"] > 0
    again = scored.plans.act(now=NOW)
    assert again["duplicates"] == 0
    status = scored.delivery.actions_status()
    assert status["pending"] + status["in_flight"] + status["delivered"] == first["enqueued"] + again["enqueued"]


def test_the_cycle_stores_the_segments_it_decided_on(scored: Engine) -> None:
    later = NOW + timedelta(days=1)
    result = scored.plans.act(now=later)
    rows, as_of = scored.plans.segments()
    assert as_of == later.date()
    stored = {r["segment"]: r["customers"] for r in rows if r["customers"]}
    assert stored == {k: v for k, v in result["segments"].items() if v}
    refreshed = scored.plans.refresh_segments(later.date())  # the same segmentation, computed on its own
    assert dict(refreshed.counts) == result["segments"]


def test_the_cycle_learns_the_fatigue_curves_that_both_paths_read(decided: Engine) -> None:
    """``cvm run`` refits the fatigue model in incremental mode only; the events path then prices with it."""
    fitted = decided.workspace / FATIGUE_FILE
    fitted.unlink(missing_ok=True)
    decided.plans.act(now=NOW)
    incremental = decided.settings.plans.arbitration == "incremental"
    assert fitted.exists() == incremental
    learned = decided.plans.learned()
    assert bool(learned.fatigue) == incremental
    ingestor = decided.plans.events
    bound = decided.plans._events
    assert bound is not None
    assert bound[1] is ingestor
    assert bound[2] is learned  # the real-time decide is bound to the same curves


def test_batch_and_real_time_log_the_same_record(scored: Engine) -> None:
    """The decision record (candidates and terms, choice, probability, rung, versions, context) is path-independent."""
    scored.plans.refresh_segments(NOW.date())
    batch = scored.plans.plan_batch(NOW.date(), NOW)
    with_hub_contacts = set(offline_contacts(scored.offline.read("contacts"), NOW))
    real_time = partial(decide, scored.settings.plans, experiments=scored.settings.experiments, path="realtime")
    compared = 0
    for customer_id, batch_decision in sorted(batch.decisions, key=lambda d: d[0]):
        if customer_id in with_hub_contacts or batch_decision.record is None:
            continue
        state = scored.plans.events.customer_state(customer_id, NOW)
        assert state is not None
        logged = real_time(state, NOW).record
        assert logged is not None
        assert logged.path == "realtime"
        assert replace(logged, decision_id="", path="batch") == replace(batch_decision.record, decision_id="")
        compared += 1
    assert compared >= 300


def test_the_cycle_logs_every_decision_and_exports_the_log(scored: Engine) -> None:
    from cvm.store import decision_log

    first = scored.plans.act(now=NOW)
    with scored.online.begin() as conn:
        online = decision_log.online_records(conn)
    assert first["logged"] == len(online) > 300
    assert {r.path for r in online} == {"batch"}
    assert first["decisions_exported"] == len(online)
    assert sorted(decision_log.records(scored.offline), key=lambda r: r.decision_id) == sorted(
        online, key=lambda r: r.decision_id
    )
    again = scored.plans.act(now=NOW)  # the same decisions again: nothing logged or exported twice
    assert again["decisions_exported"] == 0
    assert scored.offline.count("decision_log") == len(online)
