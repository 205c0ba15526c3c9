"""A synthetic company with known ground truth, for demos, tests and benchmarks.

Examples
--------
>>> from cvm.demo import generate, DemoSummary  # doctest: +SKIP
>>> summary = generate(10_000, seed=1, out=Path("demo-data"))  # doctest: +SKIP
"""

from cvm.demo.generate import DemoSummary, generate

__all__ = ["DemoSummary", "generate"]
