"""A simulated decision log written into a workspace's offline store, for the off-policy evaluation tests."""

from __future__ import annotations

import numpy as np
import polars as pl

from cvm.contracts.decisionlog import DecisionOutcome, DecisionRecord
from cvm.engine import Engine
from cvm.experiments import ope_sim
from cvm.experiments.ope_log import LOG_TABLE, OUTCOME_TABLE
from cvm.store import decision_log


def write_table(engine: Engine, table: str, frame: pl.DataFrame) -> None:
    """Append through the store, as the export and the outcome builder do."""
    with engine.offline.transaction() as tx:
        tx.append(table, frame)


def log_frames(records: list[DecisionRecord], outcomes: list[DecisionOutcome]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The decision log as the export writes it (logged at decision time), and the outcomes."""
    log = decision_log.offline_frame([decision_log.row_of(r, r.decided_at) for r in records])
    return log, pl.DataFrame([o.__dict__ for o in outcomes])


def write_simulated_log(engine: Engine, n: int, seed: int) -> tuple[list[DecisionRecord], list[DecisionOutcome]]:
    """Write :func:`cvm.experiments.ope_sim.simulated_log`'s n decisions and outcomes into the workspace."""
    records, outcomes = ope_sim.simulated_log(np.random.default_rng(seed), n)
    log, out = log_frames(records, outcomes)
    write_table(engine, LOG_TABLE, log)
    write_table(engine, OUTCOME_TABLE, out)
    return records, outcomes
