"""Pilots: holdout groups, randomized tests and the measured uplift of plans.

- :mod:`cvm.experiments.assign`: the deterministic bucket hash and arm choice (pure; the
  decision in :mod:`cvm.plans` calls it, so it imports nothing but the standard library);
- :mod:`cvm.experiments.records`: the ``assignments`` table of the online store;
- :mod:`cvm.experiments.stats`, :mod:`~cvm.experiments.cuped`, :mod:`~cvm.experiments.sequential`,
  :mod:`~cvm.experiments.srm`, :mod:`~cvm.experiments.bayes`: the statistics, as plain functions;
- :mod:`cvm.experiments.uplift`: two-model uplift estimation, Qini curve and uplift at k;
- :mod:`cvm.experiments.outcomes` and :mod:`~cvm.experiments.report`: a pilot's outcomes from the
  hub tables and its report (lifts, segments, incremental value, recommendation);
- :mod:`cvm.experiments.simulate`: outcomes with treatment effects known by construction, on the
  demo company's ground truth (validation, and the demo's retrospective pilot).

This package deliberately imports nothing at import time, so that the decision path stays light.
"""
