"""Building the :class:`~cvm.contracts.decisionlog.DecisionRecord` of one decision.

:func:`cvm.plans.decide.decide` calls :func:`record` at the end of a decision that had at least
one candidate (arbitrated, or held out by a rung of the ladder). A candidate's terms come from one
place, :func:`terms_of`, which reads the candidate's worth as the arbitration computed it.

``policy_version`` is a short stable hash of the plans and experiments configuration
(:func:`policy_version`): two decisions with the same version ran the same policy. ``context``
holds the numeric attributes the plans read (:func:`cvm.plans.columns.needed_columns`) and any
``uplift_*`` score, so that the batch and the real-time path log the same context for the same
customer state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from threading import Lock
from typing import Any

from cvm.config.plans import PlansConfig
from cvm.config.settings import ExperimentsSettings
from cvm.contracts.decisionlog import NO_ACTION, Arbitration, CandidateTerms, DecisionRecord, Path, Rung
from cvm.plans.arbitrate import Candidate
from cvm.plans.columns import needed_columns
from cvm.plans.ladder import action_id

_VERSIONS: dict[tuple[int, int], tuple[PlansConfig, ExperimentsSettings | None, str]] = {}
_COLUMNS: dict[int, tuple[PlansConfig, tuple[str, ...]]] = {}
_LOCK = Lock()


def policy_version(config: PlansConfig, experiments: ExperimentsSettings | None) -> str:
    """A 12-hex-digit hash of the plans and experiments configuration (cached per configuration object).

    Examples
    --------
    >>> policy_version(PlansConfig(), None) == policy_version(PlansConfig(), None)
    True
    """
    key = (id(config), id(experiments))
    hit = _VERSIONS.get(key)
    if hit is not None and hit[0] is config and hit[1] is experiments:
        return hit[2]
    data = {
        "plans": config.model_dump(mode="json"),
        "experiments": (experiments or ExperimentsSettings()).model_dump(mode="json"),  # None: the defaults
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    with _LOCK:
        if len(_VERSIONS) > 64:
            _VERSIONS.clear()
        _VERSIONS[key] = (config, experiments, version)
    return version


def _columns(config: PlansConfig) -> tuple[str, ...]:
    hit = _COLUMNS.get(id(config))
    if hit is not None and hit[0] is config:
        return hit[1]
    cols = tuple(sorted(needed_columns(config) - {"customer_id"}))
    with _LOCK:
        if len(_COLUMNS) > 64:
            _COLUMNS.clear()
        _COLUMNS[id(config)] = (config, cols)
    return cols


def context_of(config: PlansConfig, attrs: Mapping[str, Any]) -> dict[str, float]:
    """The numeric attributes the plans read, then the ``uplift_*`` scores, as finite floats (a SQL sum arrives as a
    ``Decimal``: a number too)."""
    names = [c for c in _columns(config) if c in attrs]
    names += sorted(k for k in attrs if k.startswith("uplift_") and k not in names)
    out: dict[str, float] = {}
    for name in names:
        value = attrs[name]
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def terms_of(cand: Candidate, blocked: str | None = None) -> CandidateTerms:
    """The candidate's worth terms as the arbitration computed them (the one place that reads them).

    The pricing (:mod:`cvm.plans.incremental`) puts every term of both modes on ``cand.worth``: uplift,
    fatigue cost, expected credit loss and incremental value are logged with the propensity terms.
    """
    if cand.worth is not None:
        return dataclasses.replace(cand.worth, eligible=blocked is None, blocked=blocked)
    p, v, m, c = cand.terms
    step = cand.step
    return CandidateTerms(
        action=action_id(cand),
        plan=cand.plan,
        step=step.name,
        channel=step.channel,
        objective=step.objective,
        propensity=float(p),
        value=float(v),
        margin=float(m),
        cost=float(c),
        ev_propensity=float(cand.expected_value),
        eligible=blocked is None,
        blocked=blocked,
    )


def decision_id(customer_id: str, path: Path, key: str, now: datetime) -> str:
    """The stable id of a decision: a hash of the customer, the path, the decision key and the time."""
    return hashlib.sha256(f"{customer_id}|{path}|{key}|{now.isoformat()}".encode()).hexdigest()[:32]


def record(
    *,
    customer_id: str,
    now: datetime,
    path: Path,
    key: str,
    config: PlansConfig,
    experiments: ExperimentsSettings | None,
    candidates: Sequence[CandidateTerms],
    chosen: Candidate | None,
    probability: float,
    rung: Rung,
    attrs: Mapping[str, Any],
    model_versions: Mapping[str, str],
    exploration: float,
) -> DecisionRecord:
    """The :class:`DecisionRecord` of one decision."""
    arbitration: Arbitration = vars(config).get("arbitration", "propensity")  # a field of plans once h-arb lands
    return DecisionRecord(
        decision_id=decision_id(customer_id, path, key, now),
        customer_id=customer_id,
        decided_at=now,
        path=path,
        arbitration=arbitration,
        policy_version=policy_version(config, experiments),
        rung=rung,
        chosen=NO_ACTION if chosen is None else action_id(chosen),
        probability=probability,
        candidates=tuple(candidates),
        model_versions=dict(model_versions),
        context=context_of(config, attrs),
        exploration=exploration,
    )
