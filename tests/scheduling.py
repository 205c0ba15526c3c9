"""The order in which ``make test``'s two workers take the test files: the longest first.

``--dist loadfile`` hands each worker whole files, and pytest-xdist starts with the files that hold the most tests.
A one-test file of three minutes (the standalone Spark cluster) then starts near the end, while the other worker
soon has nothing left to do. Here the files measured slowest go first, longest first, and the rest follow in
xdist's own order (most tests first): a greedy longest-first schedule, whose end is at most one short file after
the other worker's.

The e2e package is one unit, run by one worker: its package fixtures (one Chromium, the dashboard pages'
workspace) are then built once. Split across workers, or interleaved with other packages' files, they were torn
down and built again each time the worker came back to an e2e file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

#: The e2e package: one unit of work (a third of the suite's work in that run; should it near half, split it).
E2E = "tests/e2e"

#: The longest units, longest first: the files over about 40 s in a whole run on 2 cores on 2026-12-06 (under a
#: load of 15-20: e2e 2,930 s, the Spark scoring file 1,390 s, ...). A file missing here still runs, in xdist's
#: order; refresh the list when files grow (``pytest -n 2 --dist loadfile --junitxml=...`` has each test's time).
LONGEST_FIRST: tuple[str, ...] = (
    E2E,
    "tests/integration/test_scoring_spark.py",
    "tests/integration/test_segments_reports_backends.py",
    "tests/integration/test_plans_partitioned.py",
    "tests/integration/test_spark_cluster.py",  # 100 s in that run, 3 to 7 minutes alone on a busy machine
    "tests/integration/test_worker_reliability.py",
    "tests/integration/test_events_hub.py",
    "tests/integration/test_events_hardening.py",
    "tests/integration/test_events_api.py",
    "tests/integration/test_api_schema.py",
    "tests/integration/test_lifecycle_scores.py",
    "tests/integration/test_batch_realtime.py",
    "tests/unit/test_decision_ladder.py",
    "tests/integration/test_api_contract.py",
    "tests/integration/test_delivery_deadline.py",
    "tests/integration/test_scoring_chunks.py",
    "tests/integration/test_web_security.py",
    "tests/integration/test_quarantine_status.py",
    "tests/integration/test_outbox.py",
    "tests/integration/test_api.py",
    "tests/integration/test_value_spark.py",
    "tests/unit/test_experiments_simulation.py",
    "tests/integration/test_uplift_loop.py",
)


def unit_of(nodeid: str) -> str:
    """The unit of work of a test: its file, or the whole e2e package."""
    path = nodeid.split("::", 1)[0]
    return E2E if path.startswith(E2E + "/") else path


def longest_first(items: list[pytest.Item]) -> None:
    """Sort ``items`` in place: the listed units in their order, then the others by number of tests, most first.

    The sort is stable and keyed by unit, so each unit stays together, its tests in their collected order.
    """
    counts = Counter(unit_of(item.nodeid) for item in items)
    rank = {unit: k for k, unit in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> tuple[int, int, str]:
        unit = unit_of(item.nodeid)
        return rank.get(unit, len(rank)), -counts[unit], unit

    items.sort(key=key)


class LongestFirstScheduling(LoadFileScheduling):
    """``--dist loadfile`` over the units of :func:`unit_of`, in the order the workers collected them."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False  # keep the collected (longest-first) order, not the test counts'

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
