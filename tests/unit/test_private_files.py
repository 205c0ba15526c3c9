"""Workspace files are 0600 and folders 0700 whatever the umask (issue 19: online.db was 0644).

The same after a whole `cvm demo` run: tests/e2e/test_private_workspace.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from cvm.engine import Engine
from cvm.store.private import restrict_umask
from tests.permissions import loose_paths


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
        assert loose_paths(ws) == []
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
