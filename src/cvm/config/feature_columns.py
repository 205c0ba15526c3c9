"""The extra segment attributes of ``segments.columns``: columns of the persisted ``features`` table.

Each configured column is a feature of :data:`cvm.contracts.features.FEATURE_COLUMNS` (with the kind its
type implies) or ``holds_<product>`` (bool or number, read from ``products_held``). Anything else could
never be filled, so it is refused when the configuration loads, naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches

from cvm.config.plan_defaults import BASE_ATTRIBUTES
from cvm.contracts.features import FEATURE_COLUMNS, HOLDS_PREFIX

#: The attribute kind of each feature type.
KINDS = {"string": ("string",), "int": ("number",), "float": ("number",)}
HOLDS_KINDS = ("bool", "number")


def feature_column_problems(columns: Mapping[str, str]) -> list[str]:
    """One sentence per configured column that is not a feature of the kind given (empty when all are)."""
    types = {name: dtype for name, dtype, _ in FEATURE_COLUMNS}
    problems = []
    for name, kind in columns.items():
        if name in BASE_ATTRIBUTES:
            problems.append(f"{name!r} is already an attribute of every customer: remove it from segments.columns")
            continue
        allowed = HOLDS_KINDS if name.startswith(HOLDS_PREFIX) else KINDS.get(types.get(name, ""))
        if allowed is None:
            known = [n for n in types if n not in BASE_ATTRIBUTES]
            close = get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(
                f"{name!r} is not a feature of the features table ({hint}known: {', '.join(known)}, holds_<product>)"
            )
        elif kind not in allowed:
            problems.append(f"{name!r} is a feature of kind {' or '.join(allowed)}, not {kind}")
    return problems
