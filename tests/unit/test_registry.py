"""The model registry: versions, complete metadata, champion/challenger status and promotion rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cvm.scoring.registry import REQUIRED, ModelRegistry, RegistryError, data_hash


class FakeModel:
    """Stands in for an estimator: only ``to_dict`` is needed to register (the registry writes the files)."""

    def to_dict(self) -> dict[str, Any]:
        return {"format": 1, "model": "fake", "sidecars": {"model.txt": "fitted"}}


META: dict[str, Any] = {
    "training_window": {"snapshots": ["2024-01-01"], "holdout": "2024-04-01", "label_horizon_days": 90},
    "features": ["recency_days", "mrr"],
    "data_hash": "0123456789abcdef",
    "metrics": {"auc": 0.75},
}


def _cmp(champion: float, challenger: float) -> dict[str, Any]:
    return {"window": "2024-04-01", "champion_auc": champion, "challenger_auc": challenger, "champion": "v1"}


def test_first_version_is_champion_and_later_ones_challengers(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = reg.register("churn", FakeModel(), META)
    v2 = reg.register("churn", FakeModel(), META)
    assert (v1.version, v1.status, v2.version, v2.status) == ("v1", "champion", "v2", "challenger")
    assert (tmp_path / "models" / "churn" / "v2" / "artifact" / "model.txt").exists()
    meta = json.loads((tmp_path / "models" / "churn" / "v1" / "meta.json").read_text())
    assert all(field in meta for field in REQUIRED)
    assert meta["kind"] == "FakeModel"
    assert meta["training_window"]["holdout"] == "2024-04-01"
    assert [v.version for v in reg.versions("churn")] == ["v1", "v2"]
    assert reg.champion("churn").tag == "churn-v1"  # type: ignore[union-attr]
    assert reg.names() == ["churn"]
    assert len(reg.list()) == 2


def test_promote_refuses_a_worse_challenger_unless_forced(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("churn", FakeModel(), META)
    reg.register("churn", FakeModel(), META)
    with pytest.raises(RegistryError, match="worse than the champion"):
        reg.promote("churn", "v2", comparison=_cmp(0.80, 0.70))
    assert reg.champion("churn").version == "v1"  # type: ignore[union-attr]
    promoted = reg.promote("churn", "v2", force=True, comparison=_cmp(0.80, 0.70))
    assert promoted.status == "champion"
    assert promoted.meta["forced"] is True
    assert reg.get("churn", "v1").status == "retired"
    reg.register("churn", FakeModel(), META)
    assert reg.promote("churn", "v3", comparison=_cmp(0.70, 0.72)).status == "champion"
    assert [v.status for v in reg.versions("churn")] == ["retired", "retired", "champion"]


def test_incomplete_metadata_and_unknown_versions_are_refused(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(RegistryError, match="data_hash"):
        reg.register("churn", FakeModel(), {k: v for k, v in META.items() if k != "data_hash"})
    assert reg.versions("churn") == []  # nothing half-written is left
    reg.register("churn", FakeModel(), META)
    with pytest.raises(RegistryError, match="no version 'v9'"):
        reg.get("churn", "v9")
    file = tmp_path / "models" / "churn" / "v1" / "meta.json"
    meta = json.loads(file.read_text())
    del meta["metrics"]
    file.write_text(json.dumps(meta))
    with pytest.raises(RegistryError, match="lacks metrics"):
        reg.get("churn", "v1")


def test_data_hash_depends_on_files_and_dates() -> None:
    manifest = {"tables": {"payments": ["payments/a.parquet"], "scores": ["scores/x.parquet"]}}
    same = {"tables": {"payments": ["payments/a.parquet"], "scores": ["scores/y.parquet"]}}  # scores do not count
    assert data_hash(manifest, ["2024-01-01"]) == data_hash(same, ["2024-01-01"])
    assert data_hash(manifest, ["2024-01-01"]) != data_hash(manifest, ["2024-02-01"])
    assert data_hash(manifest, ["2024-01-01"]) != data_hash({"tables": {"payments": ["b"]}}, ["2024-01-01"])


def _registered(tmp_path: Path, kind: str, artifact_meta: dict[str, Any], files: dict[str, bytes]) -> Any:
    """A version folder as an older or foreign cvm could have left it."""
    version = ModelRegistry(tmp_path).register("default", FakeModel(), META)
    meta = json.loads((version.path / "meta.json").read_text())
    (version.path / "meta.json").write_text(json.dumps({**meta, "kind": kind}))
    artifact = version.path / "artifact"
    (artifact / "model.txt").unlink()
    (artifact / "meta.json").write_text(json.dumps(artifact_meta))
    for name, data in files.items():
        (artifact / name).write_bytes(data)
    return ModelRegistry(tmp_path).get("default", "v1")


OLD_META = {
    "model": "scorecard",
    "version": "0.1.0",
    "parameters": {},
    "training_window": None,
    "features": ["late_share"],
    "metrics": {"auc": 0.7},
    "created_at": "2024-01-01T00:00:00+00:00",
}


def test_load_refuses_a_pickled_scorecard_folder(tmp_path: Path) -> None:
    entry = _registered(tmp_path, "Scorecard", {**OLD_META, "format": 1}, {"scorecard.pkl": b"\x80\x04N."})
    with pytest.raises(RegistryError, match=r"default-v1 cannot be loaded: .*format 1 \(scorecard\.pkl.*`cvm train`"):
        entry.load()


def test_load_refuses_an_unknown_format_or_kind(tmp_path: Path) -> None:
    entry = _registered(tmp_path, "Scorecard", {**OLD_META, "format": 7}, {})
    with pytest.raises(RegistryError, match="has format 7; this version of cvm reads format 2"):
        entry.load()
    entry = _registered(tmp_path / "other", "ChurnModel", {**OLD_META, "model": "churn", "format": 3}, {})
    with pytest.raises(RegistryError, match="churn has format 3"):
        entry.load()
    entry = _registered(tmp_path / "third", "MagicModel", {**OLD_META, "format": 2}, {})
    with pytest.raises(RegistryError, match="unknown model kind 'MagicModel'"):
        entry.load()
