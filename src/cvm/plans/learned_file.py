"""What ``cvm run`` learned for the decisions (``learned/``), and the :class:`Learned` that decisions read.

- ``learned/fatigue.json``: the fitted fatigue model; ``cvm run`` refits it from the hub's ``contacts``
  before deciding when ``plans.arbitration`` is ``incremental`` (:func:`refit_fatigue`);
- ``learned/decide.json``: the Thompson posteriors of the pilots' variants and the versions of the models
  whose scores the decisions read (the uplift champion), stored by ``cvm run`` before it decides
  (:func:`store_learned`).

The batch and the real-time paths both read them through :func:`load_learned`, so they price contact pressure,
allocate pilot variants and log model versions alike. JSON only, written whole (a temporary file renamed over
the old one), never pickled.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvm.config.plans import PlansConfig
from cvm.contracts.learned import FatigueCurve, Learned
from cvm.models.fatigue import FatigueModel
from cvm.plans.fatigue_sql import fatigue_counts_sql

if TYPE_CHECKING:
    from cvm.store.backend import OfflineBackend

FATIGUE_FILE = Path("learned") / "fatigue.json"
DECIDE_FILE = Path("learned") / "decide.json"
log = logging.getLogger(__name__)


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def store_learned(
    root: Path, variant_posteriors: Mapping[str, tuple[float, float]], model_versions: Mapping[str, str]
) -> None:
    """Store the pilots' variant posteriors and the model versions the decisions read (``learned/decide.json``)."""
    doc = Learned(variant_posteriors=dict(variant_posteriors), model_versions=dict(model_versions)).to_dict()
    _write(root / DECIDE_FILE, {k: doc[k] for k in ("variant_posteriors", "model_versions")})


def learned_stamp(root: Path) -> tuple[int, ...]:
    """The modification times of the stored files (0 when absent): a cache of :func:`load_learned` keys on it."""
    return tuple((root / f).stat().st_mtime_ns if (root / f).exists() else 0 for f in (FATIGUE_FILE, DECIDE_FILE))


def refit_fatigue(root: Path, backend: OfflineBackend, config: PlansConfig) -> FatigueModel | None:
    """Fit the fatigue model on the hub's ``contacts`` and store it under ``root``; ``None`` (nothing stored)
    without outbound contacts. The person-periods are counted where ``backend`` runs
    (:func:`~cvm.plans.fatigue_sql.fatigue_counts_sql`): only a few rows per channel reach this process."""
    f = config.fatigue
    counts = backend.query(fatigue_counts_sql(f.window_days, max_contacts=f.max_contacts)).to_pandas()
    if counts.empty:
        return None
    model = FatigueModel(window_days=f.window_days, max_contacts=f.max_contacts)
    model.fit(counts)
    _write(root / FATIGUE_FILE, model.to_dict())
    return model


def load_learned(root: Path, config: PlansConfig) -> Learned:
    """The stored fatigue curves priced with ``plans.fatigue.loss``, variant posteriors and model versions.

    Nothing stored, nothing learned. A stored file this version cannot read is ignored with a warning: the next
    ``cvm run`` replaces it.
    """
    fatigue: dict[str, FatigueCurve] = {}
    versions: dict[str, str] = {}
    path = root / FATIGUE_FILE
    if path.exists():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            model = FatigueModel.from_dict(doc)
            loss = {str(k): float(v) for k, v in config.fatigue.loss.items()}
            fatigue, versions = model.curves(loss), {"fatigue": str(doc.get("cvm_version", ""))}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("%s: ignored (%s); decisions price no fatigue until the next refit", path, exc)
    stored = Learned()
    path = root / DECIDE_FILE
    if path.exists():
        try:
            stored = Learned.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:
            log.warning("%s: ignored (%s); no variant posteriors until the next cvm run", path, exc)
    return Learned(
        fatigue=fatigue,
        model_versions={**versions, **stored.model_versions},
        variant_posteriors=stored.variant_posteriors,
    )
