"""The suite's own schedule (tests/scheduling.py): the longest units first, each unit kept together."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.scheduling import E2E, LONGEST_FIRST, longest_first, unit_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_unit_exists() -> None:
    assert [u for u in LONGEST_FIRST if not (ROOT / u).exists()] == []
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_the_e2e_package_is_one_unit_and_other_files_their_own() -> None:
    assert unit_of("tests/e2e/test_pages.py::test_x[390]") == E2E
    assert unit_of("tests/e2e/sub/test_y.py::T::test_z") == E2E
    assert unit_of("tests/integration/test_a.py::test_b") == "tests/integration/test_a.py"
    assert unit_of("tests/e2e_like/test_a.py::t") == "tests/e2e_like/test_a.py"


def test_listed_units_go_first_in_their_order_then_the_most_tests_each_unit_together() -> None:
    listed = LONGEST_FIRST[1]
    ids = [
        "tests/unit/test_few.py::a",
        "tests/e2e/test_b.py::x",
        "tests/unit/test_many.py::a",
        f"{listed}::only",
        "tests/unit/test_many.py::b",
        "tests/e2e/test_a.py::y",
        "tests/unit/test_many.py::c",
    ]
    items: list[Any] = [SimpleNamespace(nodeid=i) for i in ids]
    longest_first(items)
    assert [i.nodeid for i in items] == [
        "tests/e2e/test_b.py::x",  # E2E is listed first; within a unit the collected order stays
        "tests/e2e/test_a.py::y",
        f"{listed}::only",
        "tests/unit/test_many.py::a",
        "tests/unit/test_many.py::b",
        "tests/unit/test_many.py::c",
        "tests/unit/test_few.py::a",
    ]
