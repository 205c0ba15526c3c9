"""One unit of work writes one audit entry, when the work succeeds (cvm.services.workspace)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cvm.engine import Engine
from cvm.services import Audit, Workspace, audited


def _described(result: int, call: Mapping[str, Any]) -> Audit | None:
    return None if result == 0 else Audit("probe.count", call["name"], result, {"twice": call["twice"]})


class Probe:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    @audited(_described)
    def count(self, name: str, rows: int, twice: bool = False, *, actor: str | None = None) -> int:
        if rows < 0:
            raise ValueError("rows must not be negative")
        return rows * (2 if twice else 1)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine.init(tmp_path / "ws")


def _entries(engine: Engine) -> list[tuple[str, str, str | None, int | None, Any]]:
    return [(e["actor"], e["action"], e["target"], e["rows"], e["detail"]) for e in engine.access.audit_entries()]


def test_a_decorated_method_writes_one_entry_from_its_result_and_arguments(engine: Engine) -> None:
    probe = Probe(engine.ws)
    assert probe.count("t", 3, actor="api:k1") == 3
    assert probe.count("u", 2, twice=True) == 4
    newest, older = _entries(engine)[:2]
    assert older == ("api:k1", "probe.count", "t", 3, {"twice": False})
    assert newest[1:] == ("probe.count", "u", 4, {"twice": True})
    assert newest[0].startswith("cli")  # no named caller: the local user


def test_no_entry_when_the_work_fails_or_changes_nothing(engine: Engine) -> None:
    probe = Probe(engine.ws)
    before = _entries(engine)
    with pytest.raises(ValueError, match="negative"):
        probe.count("t", -1)
    assert probe.count("t", 0) == 0
    assert _entries(engine) == before


def test_a_unit_with_a_transaction_commits_the_entry_with_the_work(engine: Engine) -> None:
    key, _secret = engine.access.create_key("analyst", actor="api:admin")
    with pytest.raises(ValueError, match="unknown role"):
        engine.access.create_key("superuser", actor="api:admin")  # refused: neither key nor entry
    entries = _entries(engine)
    assert [e[1] for e in entries] == ["key.create", "workspace.init"]
    assert entries[0] == ("api:admin", "key.create", key.id, 1, {"role": "analyst"})
    assert [k.id for k in engine.access.list_keys()] == [key.id]
