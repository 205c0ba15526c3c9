"""Workspace files are 0600 and folders 0700 whatever the umask (issue 19: online.db was 0644)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cvm.engine import Engine
from cvm.store.private import restrict_umask


def _loose(root: Path) -> list[str]:
    """Paths under ``root`` (itself included) that others could read or enter."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want:
            out.append(f"{stat.S_IMODE(mode):o} {path.relative_to(root)}")
    return out


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
    assert _loose(ws) == []


def test_init_ingest_and_inbox_archive_are_private(tmp_path: Path) -> None:
    """The fast check, in-process with a permissive umask; a file dropped 0644 in the inbox is archived 0600."""
    old = os.umask(0)
    try:
        ws = tmp_path / "ws"
        engine = Engine.init(ws)
        try:
            dropped = ws / "inbox" / "customers" / "c.csv"
            dropped.write_text("customer_id,name,acquired_at,kind\nC1,Ann,2024-01-05,B2C\n", encoding="utf-8")
            os.chmod(dropped, 0o644)
            engine.ingest("customers", ws / "inbox" / "customers" / "c.csv")
            from cvm.hub import inbox

            inbox.archive(dropped)
        finally:
            engine.close()
        assert (ws / "online.db").exists()
        assert _loose(ws) == []
    finally:
        os.umask(old)


def test_restrict_umask_never_loosens() -> None:
    old = os.umask(0o027)
    try:
        restrict_umask()
        assert os.umask(0o027) == 0o077
        os.umask(0o277)
        restrict_umask()
        assert os.umask(old) == 0o277
    finally:
        os.umask(old)
