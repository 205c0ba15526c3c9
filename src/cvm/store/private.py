"""Workspace files are private to their owner: folders 0700, files 0600, whatever the umask.

A workspace holds personal data (``online.db``, Parquet parts, the inbox
archive, exports, model training extracts). The mechanism has three parts:

1. :func:`restrict_umask` adds ``077`` to the process umask when an engine opens
   a workspace. Every file and folder created afterwards by this process (by
   CVM or by SQLite, DuckDB, pyarrow, LightGBM, including ``online.db-wal`` and
   ``-shm``) is then created without group or other permissions, at creation,
   with no window in which it is readable. The umask only ever narrows
   permissions, never widens them, and the process keeps full access to its own
   files; the one visible effect outside the workspace is that files the same
   process writes elsewhere afterwards (``--out``, ``--rejects-out``) are private
   too, which suits files derived from personal data.
2. :func:`secure_root` makes the workspace folder itself 0700 each time an engine
   opens it, so that nothing below it can be reached by others even if a file
   arrives with wider bits (a file moved into the inbox keeps its own mode).
3. :func:`secure_tree` (run by ``cvm init``) and :func:`private_file` repair
   modes of files that were created elsewhere or by an older version.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def restrict_umask() -> None:
    """Add :data:`PRIVATE_UMASK` to the process umask (never loosens a stricter one)."""
    old = os.umask(PRIVATE_UMASK)  # reading the umask means setting it: set the stricter value first
    os.umask(old | PRIVATE_UMASK)


def secure_root(root: Path) -> None:
    """Make the workspace folder 0700 (only when it is ours to change)."""
    try:
        if root.is_dir() and root.stat().st_uid == os.getuid():
            os.chmod(root, DIR_MODE)
    except OSError:
        return


def private_file(path: Path) -> None:
    """Make one file 0600 (a file moved or copied in keeps the mode it had)."""
    os.chmod(path, FILE_MODE)


def secure_tree(root: Path) -> None:
    """Make every folder under ``root`` 0700 and every regular file 0600 (symbolic links are not followed)."""
    for top, dirs, files in os.walk(root):
        os.chmod(top, DIR_MODE)
        for name in files:
            path = os.path.join(top, name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                os.chmod(path, FILE_MODE)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
