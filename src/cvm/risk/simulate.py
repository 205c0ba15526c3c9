"""What moving the acceptance cut-off does, and writing the chosen one into ``cvm.yaml``.

Loosening the cut-off accepts more customers, with more expected loss and (while the margin on the
marginal customers exceeds their loss) more expected value; tightening does the opposite.

:func:`apply_cutoff` rewrites only the ``cutoff:`` line of the ``risk.acceptance`` block of
``cvm.yaml`` (comments and everything else are kept), adding the block when it is missing, then
checks that the file still loads; the write is atomic.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cvm.config import CONFIG_FILE, load_settings
from cvm.config.settings import RiskSettings
from cvm.errors import BadValueError
from cvm.risk.cutoffs import FloatArray, book_figures


@dataclass(frozen=True)
class Simulation:
    """The book at the current and at a proposed cut-off, and the differences."""

    current: dict[str, Any]
    proposed: dict[str, Any]

    @property
    def delta(self) -> dict[str, float]:
        keys = ("accepted", "approval_rate", "bad_rate", "expected_loss", "expected_value")
        return {k: float(self.proposed[k]) - float(self.current[k]) for k in keys}

    @property
    def direction(self) -> str:
        a, b = self.current["cutoff"], self.proposed["cutoff"]
        if a == b:
            return "unchanged"
        if a is None or b is None:
            return "tighten" if a is None else "loosen"
        return "loosen" if b < a else "tighten"

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "current": self.current, "proposed": self.proposed, "delta": self.delta}


def simulate(points: FloatArray, p_bad: FloatArray, risk: RiskSettings, cutoff: float) -> Simulation:
    """Compare the book at ``risk.acceptance.cutoff`` (None: everyone) with the book at ``cutoff``."""
    pts, p = np.asarray(points, dtype=np.float64), np.asarray(p_bad, dtype=np.float64)
    return Simulation(book_figures(pts, p, risk.acceptance.cutoff, risk), book_figures(pts, p, float(cutoff), risk))


_TOP = re.compile(r"^(\S[^:#]*):")


def _block(lines: list[str], start: int, indent: int) -> int:
    """Index of the first line after the block that begins at ``start`` (a key at ``indent``)."""
    for i in range(start + 1, len(lines)):
        text = lines[i]
        if text.strip() and not text.lstrip().startswith("#") and len(text) - len(text.lstrip()) <= indent:
            return i
    return len(lines)


def _find(lines: list[str], key: str, indent: int, lo: int, hi: int) -> int | None:
    pattern = re.compile(rf"^ {{{indent}}}{re.escape(key)}:")
    return next((i for i in range(lo, hi) if pattern.match(lines[i])), None)


def set_cutoff_text(text: str, cutoff: float | None) -> str:
    """``cvm.yaml`` text with ``risk.acceptance.cutoff`` set, other lines untouched."""
    value = "null" if cutoff is None else repr(float(cutoff))
    lines = text.splitlines()
    risk = _find(lines, "risk", 0, 0, len(lines))
    if risk is None:
        return text.rstrip("\n") + f"\n\nrisk:\n  acceptance:\n    cutoff: {value}\n"
    end = _block(lines, risk, 0)
    acc = _find(lines, "acceptance", 2, risk + 1, end)
    if acc is None:
        lines[risk + 1 : risk + 1] = ["  acceptance:", f"    cutoff: {value}"]
        return "\n".join(lines) + "\n"
    acc_end = _block(lines, acc, 2)
    line = _find(lines, "cutoff", 4, acc + 1, acc_end)
    if line is None:
        lines.insert(acc + 1, f"    cutoff: {value}")
    else:
        comment = lines[line].split("#", 1)[1] if "#" in lines[line] else None
        lines[line] = f"    cutoff: {value}" + (f"  #{comment}" if comment is not None else "")
    return "\n".join(lines) + "\n"


def apply_cutoff(workspace: Path | str, cutoff: float | None) -> Path:
    """Write ``cutoff`` as the acceptance policy of the workspace's ``cvm.yaml``; refuses a file that then fails."""
    path = Path(workspace) / CONFIG_FILE
    original = path.read_text(encoding="utf-8")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(set_cutoff_text(original, cutoff), encoding="utf-8")
    os.replace(tmp, path)
    try:
        loaded = load_settings(Path(workspace)).risk.acceptance.cutoff
        if loaded != cutoff:
            raise BadValueError(f"cvm.yaml: risk.acceptance.cutoff reads {loaded} after writing {cutoff}")
    except Exception:
        path.write_text(original, encoding="utf-8")
        raise
    return path
