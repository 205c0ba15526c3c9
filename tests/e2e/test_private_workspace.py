"""A whole `cvm demo` run leaves the workspace private whatever the umask (issue 19: online.db was 0644).

The in-process checks of single steps are in tests/unit/test_private_files.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.permissions import loose_paths

_EXPORT = """
from pathlib import Path
from cvm.delivery.exports import CsvExport, ParquetExport
from cvm.delivery.items import Outbound
from cvm.engine import Engine
engine = Engine.open(Path(sys.argv[1]))
folder = engine.workspace / engine.settings.delivery.export_dir
item = Outbound(1, 1, "k1", "mail", {"customer_id": "C1", "action": "call"})
assert CsvExport(folder, "t").deliver([item])[0].ok and ParquetExport(folder, "t").deliver([item])[0].ok
engine.close()
"""
_CLI = "from cvm.cli.main import app; app(sys.argv[1:])"


def _run(args: list[str], umask: int, env: dict[str, str], body: str = _CLI) -> None:
    code = f"import os, sys; os.umask({umask})\n{body}"
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_workspace_is_private_after_a_whole_run(tmp_path: Path, umask: int) -> None:
    """`cvm demo` (init, ingest, train, score, plans, pilots), then CSV and Parquet exports: all private."""
    ws = tmp_path / "ws"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    _run(["demo", "--customers", "120", "--seed", "3", "--workspace", str(ws)], umask, env)
    _run([str(ws)], umask, env, _EXPORT)  # the worker's CSV and Parquet transports (demo actions are not due yet)
    assert list((ws / "exports").glob("actions-t.csv"))
    assert list((ws / "exports").glob("actions-t-*.parquet"))
    assert (ws / "online.db").exists()
    assert list((ws / "models").rglob("*.json"))  # the demo trained and scored
    assert loose_paths(ws) == []
