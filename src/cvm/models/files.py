"""The one writer and reader of model folders: a model's ``to_dict`` document as JSON and text files.

A document is laid out as:

- ``meta.json``: every top-level field except the three below;
- ``state.json``: the ``state`` field (learned numbers: schema, calibrator, bins, coefficients);
- one text file per entry of ``sidecars`` (e.g. ``booster.txt``, a LightGBM model as text, or
  ``scorecard.csv``, the scorecard table for people reading the folder);
- one sub-folder per entry of ``children`` (e.g. the per-target models of a propensity model).

Files are written to temporary names and renamed, ``meta.json`` last, so a folder whose ``meta.json`` exists
is complete. :class:`cvm.scoring.registry.ModelRegistry` writes every registered model through
:func:`write_folder`; ``save`` / ``load`` on the models are shortcuts to the same two functions.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

META_FILE = "meta.json"
STATE_FILE = "state.json"
SIDECAR_SUFFIXES = (".txt", ".csv")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_folder(folder: str | Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` (a model's ``to_dict``) to ``folder`` as laid out in the module docstring."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for name, child in doc.get("children", {}).items():
        write_folder(target / name, child)
    for name, text in doc.get("sidecars", {}).items():
        if not name.endswith(SIDECAR_SUFFIXES) or "/" in name or name.startswith("."):
            raise ValueError(f"sidecar {name!r} must be a plain file name ending in {' or '.join(SIDECAR_SUFFIXES)}")
        _write_text(target / name, text)
    if "state" in doc:
        _write_text(target / STATE_FILE, json.dumps(doc["state"]) + "\n")
    meta = {k: v for k, v in doc.items() if k not in ("state", "sidecars", "children")}
    _write_text(target / META_FILE, json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n")
    return target


def read_folder(folder: str | Path) -> dict[str, Any]:
    """The document :func:`write_folder` wrote to ``folder``; a folder without ``meta.json`` is refused."""
    source = Path(folder)
    meta_file = source / META_FILE
    if not meta_file.is_file():
        raise ValueError(f"{source} is not a saved model: {META_FILE} is missing")
    doc: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"{meta_file} is not a JSON object")
    if (source / STATE_FILE).is_file():
        doc["state"] = json.loads((source / STATE_FILE).read_text(encoding="utf-8"))
    sidecars = {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(source.iterdir())
        if p.is_file() and p.name.endswith(SIDECAR_SUFFIXES) and not p.name.startswith(".")
    }
    if sidecars:
        doc["sidecars"] = sidecars
    children = {p.name: read_folder(p) for p in sorted(source.iterdir()) if p.is_dir() and (p / META_FILE).is_file()}
    if children:
        doc["children"] = children
    return doc
