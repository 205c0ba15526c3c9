"""Deterministic assignment of customers to the arms of an experiment.

**Bucket.** ``bucket(key, customer_id)`` is the first 8 bytes of
``SHA-256(f"{key}:{customer_id}")`` (UTF-8), read as a big-endian unsigned integer,
modulo 10,000: a number in 0..9999 that is stable across processes, machines and
versions, and independent between experiments (the experiment key salts the hash).

**Arm.** Arms take consecutive ranges of buckets in their configured order: an arm
with share ``s`` gets ``round(10000 * s)`` buckets (the last arm takes the rest), so
``{"control": 0.5, "treatment": 0.5}`` puts buckets 0..4999 in control.

**The global holdout** uses the key ``"global"``: buckets below ``10000 * share`` are
held out of every marketing step.

An assignment, once made, is persisted and never changed: the decision reads the
customer's existing assignments (kept in the plan state under :data:`STATE_KEY` and
in the ``assignments`` table) before it hashes anything, so changing the shares
later moves only customers not yet assigned.

This module imports only the standard library and :mod:`cvm.contracts` (where :class:`Assignment`,
the row of ``assignments``, lives): :mod:`cvm.plans` calls it while deciding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from cvm.contracts.actions import Assignment

BUCKETS = 10_000
GLOBAL = "global"
HOLDOUT_ARM = "holdout"
CONTACTED_ARM = "contacted"
STATE_KEY = "@pilots"
"""Key of the customer's plan state holding their assignments (plan names cannot start with ``@``)."""


def bucket(key: str, customer_id: str) -> int:
    """The bucket (0..9999) of ``customer_id`` in the experiment ``key``.

    Examples
    --------
    >>> bucket("global", "C0000001") == bucket("global", "C0000001")
    True
    >>> 0 <= bucket("winback_call", "C0000001") < 10_000
    True
    """
    digest = hashlib.sha256(f"{key}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_for(b: int, arms: Sequence[tuple[str, float]]) -> str:
    """The arm whose bucket range holds ``b``; ``arms`` are ``(name, share)`` in order.

    Examples
    --------
    >>> arm_for(4999, [("control", 0.5), ("treatment", 0.5)]), arm_for(5000, [("control", 0.5), ("treatment", 0.5)])
    ('control', 'treatment')
    """
    if not arms:
        raise ValueError("an experiment needs at least one arm")
    edge = 0
    for name, share in arms[:-1]:
        edge += round(BUCKETS * share)
        if b < edge:
            return name
    return arms[-1][0]


def in_global_holdout(customer_id: str, share: float) -> bool:
    """Whether the customer falls in the global holdout of ``share`` (0..0.5)."""
    return bucket(GLOBAL, customer_id) < round(BUCKETS * share)


def existing(plan_state: Mapping[str, Any]) -> dict[str, str]:
    """Experiment → arm of the assignments recorded in a customer's plan state."""
    raw = plan_state.get(STATE_KEY) or {}
    return {str(k): str(v["arm"]) for k, v in raw.items() if isinstance(v, Mapping) and v.get("arm")}


def from_state(customer_id: str, plan_state: Mapping[str, Any]) -> list[Assignment]:
    """The assignments recorded in a customer's plan state, as :class:`Assignment` objects."""
    out = []
    for exp, raw in (plan_state.get(STATE_KEY) or {}).items():
        if not isinstance(raw, Mapping) or not raw.get("arm"):
            continue
        at = datetime.fromisoformat(str(raw["at"]))
        b = int(raw.get("bucket", bucket(str(exp), customer_id)))
        out.append(Assignment(str(exp), customer_id, str(raw["arm"]), b, at, raw.get("plan"), raw.get("step")))
    return out
