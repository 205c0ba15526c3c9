"""Deciding for many customers, in worker processes when there are many.

:func:`cvm.plans.decide.decide` is pure, so customers can be split across
processes freely; chunks are handed out in customer order and the results are
put back in that order, so the outcome is the same with any number of workers.
Workers are started with ``spawn`` (no inherited DuckDB threads) and import only
the decision code. Worth it only with many CPUs and expensive rules: see :func:`workers_for`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import Any

from cvm.config.plans import CHANNELS, PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.actions import Decision
from cvm.contracts.decisions import CustomerState, Event
from cvm.contracts.learned import Learned
from cvm.plans.decide import decide

Contact = tuple[datetime, str, str]
Rows = list[dict[str, Any]]
PARALLEL_MIN = 20_000
CHUNK = 5_000

_config: PlansConfig | None = None
_experiments: ExperimentsSettings | None = None
_learned: Learned | None = None


def state_of(row: dict[str, Any], contacts: Sequence[Contact], plan_state: Mapping[str, Any]) -> CustomerState:
    """The :class:`CustomerState` of one row of the attribute base."""
    consents = {c: bool(row[f"consent_{c}"]) for c in CHANNELS if row.get(f"consent_{c}") is not None}
    return CustomerState(
        customer_id=row["customer_id"],
        attributes=row,
        consents=consents,
        timezone=row.get("timezone") or "",
        contacts_sent=contacts,
        open_complaint=bool(row.get("open_complaint")),
        plan_state=plan_state,
    )


def decide_rows(
    config: PlansConfig,
    rows: Rows,
    now: datetime,
    states: Mapping[str, Mapping[str, Any]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
    experiments: ExperimentsSettings | None = None,
    learned: Learned | None = None,
) -> list[tuple[str, Decision]]:
    """Decisions of ``rows`` that do something: an action, a held step, or a changed plan state."""
    out = []
    for row in rows:
        cid = row["customer_id"]
        before = states.get(cid, {})
        state = state_of(row, contacts.get(cid, ()), before)
        d = decide(config, state, now, events.get(cid, ()), experiments, learned=learned)
        if d.actions or d.suppressed or d.plan_state != before:
            out.append((cid, d))
    return out


def _init(config: PlansConfig, experiments: ExperimentsSettings | None = None, learned: Learned | None = None) -> None:
    global _config, _experiments, _learned
    _config, _experiments, _learned = config, experiments, learned


def _work(payload: tuple[Rows, datetime, dict[str, Any], dict[str, Any], dict[str, Any]]) -> list[tuple[str, Decision]]:
    assert _config is not None
    return decide_rows(_config, *payload, _experiments, _learned)


def workers_for(candidates: int, workers: int | None) -> int:
    """How many processes: ``workers`` when given (``0``: one per CPU, at most 8) for big batches, else one.

    Serial is the default: pickling the rows and the decisions costs about as much as deciding
    (measured: 38,616 candidates in 2.35 s serially, 3.3 s with two spawned workers on two CPUs).
    """
    if workers is None or workers == 1 or candidates < PARALLEL_MIN:
        return 1
    return workers if workers > 0 else min(os.cpu_count() or 1, 8)


def decide_all(
    config: PlansConfig,
    rows: Rows,
    now: datetime,
    states: Mapping[str, Mapping[str, Any]],
    contacts: Mapping[str, Sequence[Contact]],
    events: Mapping[str, Sequence[Event]],
    workers: int | None = None,
    experiments: ExperimentsSettings | None = None,
    *,
    learned: Learned | None = None,
) -> list[tuple[str, Decision]]:
    """:func:`decide_rows` for all rows, split over ``workers`` processes (see :func:`workers_for`)."""
    n = workers_for(len(rows), workers)
    if n == 1:
        return decide_rows(config, rows, now, states, contacts, events, experiments, learned)
    chunks = []
    for i in range(0, len(rows), CHUNK):
        part = rows[i : i + CHUNK]
        ids = [r["customer_id"] for r in part]
        pick = {k: v for k, v in ((c, states.get(c)) for c in ids) if v is not None}
        sent = {k: v for k, v in ((c, contacts.get(c)) for c in ids) if v is not None}
        evs = {k: v for k, v in ((c, events.get(c)) for c in ids) if v is not None}
        chunks.append((part, now, pick, sent, evs))
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init, initargs=(config, experiments, learned)) as pool:
        return [d for part in pool.map(_work, chunks) for d in part]
