"""File-mode checks of a workspace, for tests: what others could read or enter."""

from __future__ import annotations

import stat
from pathlib import Path


def loose_paths(root: Path) -> list[str]:
    """Paths under ``root`` (itself included) that others could read or enter: files not 0600, folders not 0700."""
    out = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        want = 0o700 if stat.S_ISDIR(mode) else 0o600
        if stat.S_IMODE(mode) != want:
            out.append(f"{stat.S_IMODE(mode):o} {path.relative_to(root)}")
    return out
