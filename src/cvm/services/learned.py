"""What ``cvm run`` stores for its decisions besides the fatigue curves (issue 18): posteriors and model versions.

Composes two stages, as the engine's services do: :func:`cvm.experiments.ladder_report.variant_posteriors`
(the Beta posteriors of the variants of every Thompson-sampled pilot) and the model registry's uplift champion
(:mod:`cvm.scoring.registry`, whose ``uplift_*`` scores the decisions read). Both are stored by
:func:`cvm.plans.learned_file.store_learned`, so the batch and the real-time ``decide`` read the same
:class:`~cvm.contracts.learned.Learned`: the same variant shares, the same model versions in the decision log.
"""

from __future__ import annotations

from datetime import datetime

from cvm.experiments.ladder_report import variant_posteriors
from cvm.plans.learned_file import store_learned
from cvm.scoring.registry import ModelRegistry
from cvm.scoring.uplift_train import NAME as UPLIFT
from cvm.services.workspace import Workspace


def refresh_learned(ws: Workspace, now: datetime) -> dict[str, str]:
    """Store the variant posteriors as of ``now`` and the uplift champion's version; returns the versions stored."""
    champion = ModelRegistry(ws.root).champion(UPLIFT)
    versions = {UPLIFT: champion.tag} if champion is not None else {}
    store_learned(ws.root, variant_posteriors(ws.offline, ws.online, ws.settings, now), versions)
    return versions
