"""The model registry of a workspace: versions, metadata and the champion of each model.

Layout: ``<workspace>/models/<name>/<version>/`` holds ``artifact/`` (the model's ``to_dict()`` document,
written by :func:`cvm.models.files.write_folder`: JSON plus text sidecars, never Python objects) and ``meta.json``:

- ``name``, ``version`` (``v1``, ``v2``, ...), ``kind`` (the estimator class), ``created_at``;
- ``training_window``: the snapshot dates, the label horizon and the last day of data used;
- ``features``, ``products`` (the ``holds_<product>`` columns the features were built with);
- ``data_hash``: a hash of the offline store's files and the snapshot dates;
- ``metrics``: out-of-time metrics on the held-out (latest labelled) window;
- ``baseline``: the training population's feature and score distributions (for PSI);
- ``status``: ``champion``, ``challenger`` or ``retired``.

The first version of a model becomes its champion; later ones are challengers until promoted.
Metadata is written atomically (temporary file, then ``os.replace``); a version whose metadata
lacks a field is refused (style rule 3), and so is an artifact this version cannot read (an unknown kind or
format, or a scorecard of format 1, which stored optbinning's Python objects): :class:`RegistryError` says which.

Examples
--------
>>> reg = ModelRegistry(workspace)  # doctest: +SKIP
>>> reg.champion("churn").version  # doctest: +SKIP
'v3'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cvm.contracts.csvsafe import safe_pandas
from cvm.errors import ConflictError
from cvm.models import Scorecard
from cvm.models.files import write_folder

Status = Literal["champion", "challenger", "retired"]
MODEL_NAMES = ("churn", "default", "propensity")
"""The life-cycle models; ``uplift`` (:mod:`cvm.scoring.uplift`) shares the registry but not their checks."""
META = "meta.json"
ARTIFACT = "artifact"
SCORECARD_CSV = "scorecard.csv"
REQUIRED = (
    "name",
    "version",
    "kind",
    "created_at",
    "training_window",
    "features",
    "data_hash",
    "metrics",
    "status",
)
_VERSION = re.compile(r"^v(\d+)$")


class RegistryError(ConflictError, ValueError):
    """An unknown model or version, incomplete metadata, or a refused promotion."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: its folder and metadata."""

    path: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.meta["name"])

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def status(self) -> str:
        return str(self.meta["status"])

    @property
    def tag(self) -> str:
        """The ``model_version`` written to the scores table, e.g. ``churn-v3``."""
        return f"{self.name}-{self.version}"

    @property
    def artifact(self) -> Path:
        return self.path / ARTIFACT

    def load(self) -> Any:
        """The fitted estimator, from its artifact's document; one this version cannot read is refused."""
        return model_from_document(self.meta["kind"], self.document(), self.tag)

    def document(self) -> dict[str, Any]:
        """The artifact's document (plain JSON and text: what a Spark worker rebuilds the model from)."""
        from cvm.models.files import read_folder

        return read_folder(self.artifact)

    def summary(self) -> dict[str, Any]:
        """Metadata without the (long) baseline, for listings."""
        return {k: v for k, v in self.meta.items() if k != "baseline"}


def model_from_document(kind: str, doc: dict[str, Any], tag: str) -> Any:
    """The fitted estimator of ``kind`` from its document (:meth:`ModelVersion.document`); unknown kinds refused."""
    from cvm.models import ChurnModel, ComponentUplift, MultiUplift, PropensityModel, Scorecard

    kinds: dict[str, Any] = {"ChurnModel": ChurnModel, "Scorecard": Scorecard, "PropensityModel": PropensityModel}
    kinds["MultiUplift"], kinds["ComponentUplift"] = MultiUplift, ComponentUplift
    if kind not in kinds:
        raise RegistryError(f"{tag}: unknown model kind {kind!r}; known: {', '.join(kinds)}")
    try:
        return kinds[kind].from_dict(doc)
    except ValueError as exc:
        raise RegistryError(f"{tag} cannot be loaded: {exc}") from exc


def _document(model: Any) -> dict[str, Any]:
    """The model's ``to_dict()``, plus a scorecard's table as ``scorecard.csv`` for people reading the folder.

    The CSV is written here rather than by the pure model so that it follows the project's
    spreadsheet rule (:mod:`cvm.contracts.csvsafe`).
    """
    doc: dict[str, Any] = model.to_dict()
    if isinstance(model, Scorecard):
        doc["sidecars"] = {**doc.get("sidecars", {}), SCORECARD_CSV: safe_pandas(model.table()).to_csv(index=False)}
    return doc


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else -1


class ModelRegistry:
    """The ``models/`` folder of one workspace."""

    def __init__(self, workspace: Path | str) -> None:
        self.root = Path(workspace) / "models"

    def names(self) -> list[str]:
        """Models with at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.iterdir()))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return [self._read(p) for p in sorted(found, key=lambda p: _number(p.name))]

    def list(self) -> list[ModelVersion]:
        """Every version of every model."""
        return [v for name in self.names() for v in self.versions(name)]

    def get(self, name: str, version: str) -> ModelVersion:
        path = self.root / name / version
        if not (path / META).exists():
            known = ", ".join(v.version for v in self.versions(name)) or "none"
            raise RegistryError(f"no version {version!r} of model {name!r} (versions: {known})")
        return self._read(path)

    def champion(self, name: str) -> ModelVersion | None:
        """The champion of ``name``, or None."""
        found = [v for v in self.versions(name) if v.status == "champion"]
        return found[-1] if found else None

    def champions(self) -> dict[str, ModelVersion]:
        """The champion of each model that has one."""
        return {n: c for n in self.names() if (c := self.champion(n)) is not None}

    def _read(self, path: Path) -> ModelVersion:
        file = path / META
        if not file.exists():
            raise RegistryError(f"{path} has no {META}")
        meta: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
        missing = [f for f in REQUIRED if f not in meta]
        if missing:
            raise RegistryError(f"{file} lacks {', '.join(missing)}; refusing to use it")
        return ModelVersion(path, meta)

    def register(self, name: str, model: Any, meta: dict[str, Any], eligible: bool = True) -> ModelVersion:
        """Save ``model`` as the next version of ``name``: champion if there is none and it is ``eligible``
        (it passed the champion gate, :mod:`cvm.scoring.gate`), else challenger."""
        existing = self.versions(name)
        version = f"v{max((_number(v.version) for v in existing), default=0) + 1}"
        final = self.root / name / version
        staging = self.root / name / f".{version}.{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            write_folder(staging / ARTIFACT, _document(model))
            first = eligible and not any(v.status == "champion" for v in existing)
            status: Status = "champion" if first else "challenger"
            record = {
                **meta,
                "name": name,
                "version": version,
                "kind": type(model).__name__,
                "created_at": datetime.now(UTC).isoformat(),
                "status": status,
            }
            missing = [f for f in REQUIRED if f not in record]
            if missing:
                raise RegistryError(f"model metadata lacks {', '.join(missing)}")
            _write_json(staging / META, record)
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self._read(final)

    def set_status(self, entry: ModelVersion, status: Status, **extra: Any) -> ModelVersion:
        """Rewrite the status (and extra fields) of one version."""
        meta = {**entry.meta, "status": status, **extra}
        _write_json(entry.path / META, meta)
        return ModelVersion(entry.path, meta)

    def promote(
        self, name: str, version: str, *, force: bool = False, comparison: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Make ``version`` the champion of ``name``; the former champion is retired.

        ``comparison`` holds the AUC of both on the same window (see
        :func:`cvm.scoring.lifecycle.compare`), or another ``metric`` (an uplift model's mean held-out
        Qini); a challenger with a lower value is refused unless ``force``.
        """
        entry = self.get(name, version)
        if entry.status == "champion":
            return entry
        failed = (entry.meta.get("gate") or {}).get("reasons") or []
        if failed and not force:
            raise RegistryError(
                f"{entry.tag} did not pass the champion gate: {'; '.join(failed)}; use --force to promote"
            )
        current = self.champion(name)
        metric = str((comparison or {}).get("metric", "auc"))
        ours = float((comparison or {}).get(f"challenger_{metric}", 0.0))
        theirs = float((comparison or {}).get(f"champion_{metric}", 0.0))
        worse = comparison is not None and ours < theirs
        if current is not None and comparison is not None and worse and not force:
            raise RegistryError(
                f"{entry.tag} is worse than the champion {current.tag} on {comparison['window']}: "
                f"{metric.upper()} {ours:.4f} < {theirs:.4f}; use --force to promote"
            )
        now = datetime.now(UTC).isoformat()
        if current is not None:
            self.set_status(current, "retired", retired_at=now)
        return self.set_status(entry, "champion", promoted_at=now, promotion=comparison or {}, forced=force)


def data_hash(manifest: dict[str, Any], dates: list[str]) -> str:
    """A short hash of the offline store's committed files and the training dates."""
    import hashlib

    tables = {k: sorted(v) for k, v in manifest.get("tables", {}).items() if k not in ("scores", "quarantine")}
    payload = json.dumps({"tables": tables, "dates": dates}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
