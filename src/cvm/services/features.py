"""The persisted features of a date, for the services that score and segment (:mod:`cvm.features.persist`)."""

from __future__ import annotations

from datetime import date

from cvm.features.persist import ensure_features
from cvm.services.workspace import Workspace


def features_for_segments(ws: Workspace, as_of: date) -> None:
    """Store the features of ``as_of`` first when ``segments.columns`` reads them and they are not stored yet."""
    if ws.settings.segments.columns:
        ensure_features(ws.backend, as_of)
