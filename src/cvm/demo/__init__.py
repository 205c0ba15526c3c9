"""A synthetic company with known ground truth, for demos, tests and benchmarks.

The names below are imported on first use, so that the command line can read the demo's settings
(:mod:`cvm.demo.workspace`) without loading the generator's table libraries.

Examples
--------
>>> from cvm.demo import generate, DemoSummary  # doctest: +SKIP
>>> summary = generate(10_000, seed=1, out=Path("demo-data"))  # doctest: +SKIP
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from cvm.lazy import lazy_attribute as _lazy_attribute

if _TYPE_CHECKING:
    from cvm.demo.generate import DemoSummary as DemoSummary
    from cvm.demo.generate import generate as generate

__all__ = ["DemoSummary", "generate"]


def __getattr__(name: str) -> _Any:
    return _lazy_attribute(__name__, {"DemoSummary": ".generate", "generate": ".generate"}, name)
