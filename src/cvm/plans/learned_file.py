"""The workspace's fitted fatigue model (``learned/fatigue.json``), and the :class:`Learned` that decisions read.

``cvm run`` refits it from the hub's ``contacts`` before deciding when ``plans.arbitration`` is
``incremental`` (:func:`refit_fatigue`); the batch and the real-time paths both read it through
:func:`load_learned`, so they price contact pressure alike. JSON only, written whole (a temporary
file renamed over the old one), never pickled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd

from cvm.config.plans import PlansConfig
from cvm.contracts.learned import Learned
from cvm.models.fatigue import FatigueModel, contact_periods

FATIGUE_FILE = Path("learned") / "fatigue.json"
log = logging.getLogger(__name__)


def refit_fatigue(root: Path, contacts: pd.DataFrame, config: PlansConfig) -> FatigueModel | None:
    """Fit the fatigue model on ``contacts`` and store it under ``root``; ``None`` (nothing stored) without contacts."""
    periods = contact_periods(contacts, config.fatigue.window_days) if not contacts.empty else contacts
    if periods.empty:
        return None
    model = FatigueModel(window_days=config.fatigue.window_days, max_contacts=config.fatigue.max_contacts)
    model.fit(periods)
    path = root / FATIGUE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(model.to_dict(), sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return model


def load_learned(root: Path, config: PlansConfig) -> Learned:
    """The stored fatigue curves priced with ``plans.fatigue.loss`` (nothing learned without a stored model).

    A stored model this version cannot read is ignored with a warning: the next refit replaces it.
    """
    path = root / FATIGUE_FILE
    if not path.exists():
        return Learned()
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        model = FatigueModel.from_dict(doc)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("%s: ignored (%s); decisions price no fatigue until the next refit", path, exc)
        return Learned()
    loss = {str(k): float(v) for k, v in config.fatigue.loss.items()}
    return Learned(fatigue=model.curves(loss), model_versions={"fatigue": str(doc.get("cvm_version", ""))})
