"""The inbox: files dropped in ``<workspace>/inbox/<table>/`` are ingested by ``cvm run``.

Tables load parents first (customers before their children). A file whose batch
commits (or was already committed) moves to ``inbox/<table>/archive/``; a refused
file stays where it is, so that the next run retries it once it is fixed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from cvm.contracts import DATA_TABLES
from cvm.store.private import private_file

INBOX = "inbox"
ARCHIVE = "archive"
SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".gz")


def create_inbox(workspace: Path) -> Path:
    """Create one inbox folder per hub table."""
    root = workspace / INBOX
    for table in DATA_TABLES:
        (root / table).mkdir(parents=True, exist_ok=True)
    return root


def pending(workspace: Path) -> Iterator[tuple[str, Path]]:
    """Files waiting in the inbox, parents first, then by name."""
    for table in DATA_TABLES:
        folder = workspace / INBOX / table
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.name.lower().endswith(SUFFIXES):
                    yield table, path


def archive(path: Path) -> Path:
    """Move an ingested file to its table's archive folder."""
    target_dir = path.parent / ARCHIVE
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    shutil.move(str(path), target)
    private_file(target)  # a moved file keeps its mode: the archive holds personal data
    return target


def archived(workspace: Path, table: str, source: str) -> Path | None:
    """Where the inbox file ``source`` of ``table`` was archived, if it came from the inbox and is still there."""
    folder = (workspace / INBOX / table).resolve()
    original = Path(source)
    if original.parent.resolve() != folder:
        return None
    path = folder / ARCHIVE / original.name
    return path if path.is_file() else None


def drain(workspace: Path, ingest: Callable[[str, Path], bool]) -> list[tuple[str, Path, bool]]:
    """Ingest every pending file with ``ingest(table, path) -> ok``; archive the ones that went in."""
    done = []
    for table, path in pending(workspace):
        ok = ingest(table, path)
        if ok:
            archive(path)
        done.append((table, path, ok))
    return done
