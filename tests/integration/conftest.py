"""Fixtures for tests that run on every online-store backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cvm.engine import Engine


def make_workspace(path: Path, online_url: str) -> Path:
    """A workspace whose online store is at ``online_url``."""
    Engine.init(path).close()
    config = yaml.safe_load((path / "cvm.yaml").read_text())
    config["store"]["online_url"] = online_url
    (path / "cvm.yaml").write_text(yaml.safe_dump(config))
    eng = Engine.open(path)
    eng.online.migrate()
    eng.close()
    return path


@pytest.fixture
def any_engine(tmp_path: Path, online_url: str) -> Iterator[Engine]:
    """An engine on SQLite, then on PostgreSQL."""
    eng = Engine.open(make_workspace(tmp_path / "ws", online_url))
    yield eng
    eng.close()
