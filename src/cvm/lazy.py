"""Names a module imports only when first asked for, through its module ``__getattr__`` (PEP 562).

A short command imports ``cvm.services`` or ``cvm.delivery`` without loading every stage behind them;
each such module keeps a map of name → module and answers ``__getattr__`` with :func:`lazy_attribute`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def lazy_attribute(module: str, where: Mapping[str, str], name: str) -> Any:
    """``name`` of ``module``, imported from ``where[name]`` (relative to ``module`` when it starts with a dot).

    Examples
    --------
    >>> lazy_attribute("cvm", {"CvmError": ".errors"}, "CvmError").__name__
    'CvmError'
    """
    if name not in where:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return getattr(importlib.import_module(where[name], module), name)
