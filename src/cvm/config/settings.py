"""The settings tree and its loader.

Layers, lowest first: defaults, the workspace's ``cvm.yaml``, then environment
variables ``CVM__SECTION__KEY`` (for example ``CVM__INGEST__MAX_REJECT_RATIO=0.1``).
Nothing else in CVM reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONFIG_FILE = "cvm.yaml"
ENV_PREFIX = "CVM__"


class ConfigError(ValueError):
    """An invalid configuration value, named by its key path."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class StoreSettings(_Section):
    """Where the offline (Parquet + DuckDB) and online (SQLAlchemy) stores live."""

    offline: Literal["duckdb"] = "duckdb"
    offline_path: str = "offline"
    online_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the online store; empty means SQLite at <workspace>/online.db.",
    )


class IngestSettings(_Section):
    """Validation rules applied to every batch."""

    max_reject_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    future_tolerance_days: int = Field(default=1, ge=0)
    timezone: str = Field(default="UTC", description="Zone of naive timestamps in source files.")


class ApiSettings(_Section):
    """The HTTP service."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


class Settings(_Section):
    """The whole CVM configuration."""

    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        node = tree
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path)} conflicts with another CVM__ variable")
            node = child
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(err: ValidationError, origin: str) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"])
        lines.append(f"{path}: {e['msg']} (got {e.get('input')!r}, from {origin})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load_settings(workspace: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the settings of a workspace.

    Parameters
    ----------
    workspace
        Folder holding ``cvm.yaml``; without one, only defaults and environment apply.
    environ
        Environment to read ``CVM__*`` variables from (default: the process environment).
    """
    file_layer: dict[str, Any] = {}
    origin = "defaults"
    if workspace is not None and (workspace / CONFIG_FILE).exists():
        file_layer = _read_yaml(workspace / CONFIG_FILE)
        origin = str(workspace / CONFIG_FILE)
    env_layer = _env_layer(os.environ if environ is None else environ)
    try:
        Settings.model_validate(file_layer)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    try:
        return Settings.model_validate(_merge(file_layer, env_layer))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, "CVM__* environment variables")) from None
