"""The demo's replay of past months of decisions (issue 18): attributes from the workspace, log next to the data.

Reads every customer's attributes as of the demo data's end (the same segmentation the batch decides on),
replays :mod:`cvm.demo.replay` over them and appends the SIMULATED decision log and outcomes to the
offline ``decision_log`` and ``decision_outcomes`` tables, where ``cvm run`` and ``cvm policy`` read them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from cvm.config.plans import SegmentsConfig
from cvm.config.settings import Settings
from cvm.demo.replay import Replay, decision_dates, load_truth, replay, replay_ladder, store_replay
from cvm.segments.refresh import segment_base
from cvm.store import OfflineStore


def attribute_rows(offline: OfflineStore, segments: SegmentsConfig, as_of: date) -> list[dict[str, Any]]:
    """Every customer's attributes, scores and segment flags as of ``as_of`` (the columns ``decide`` reads)."""
    con = offline.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        segment_base(con, segments, as_of)
        rows: list[dict[str, Any]] = con.sql("SELECT * FROM segmented ORDER BY customer_id").pl().to_dicts()
        return rows
    finally:
        con.close()


def replay_demo(offline: OfflineStore, settings: Settings, data: Path, months: int) -> Replay:
    """Replay ``months`` of decisions over a demo workspace and append them to the store's decision log."""
    truth, end, seed = load_truth(data)
    rows = attribute_rows(offline, settings.segments, end)
    ladder = replay_ladder(settings.experiments)
    result = replay(settings.plans, rows, truth, decision_dates(end, months), ladder, seed)
    store_replay(offline, result)
    return result
