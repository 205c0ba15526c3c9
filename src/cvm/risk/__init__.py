"""Risk appetite: cut-off strategy table, cut-off simulation, acceptance and early warning.

- :mod:`cvm.risk.cutoffs`: one row per score band of the champion scorecard;
- :mod:`cvm.risk.simulate`: what moving the cut-off does, and writing it into ``cvm.yaml``;
- :mod:`cvm.risk.accept`: ``accept(applicant_features)`` against the acceptance policy;
- :mod:`cvm.risk.early_warning`: customers whose default score fell, from the score history.

Examples
--------
>>> from cvm.risk import accept  # doctest: +SKIP
>>> accept({"late_share_365d": 0.4, "rating_score": 35.0}, workspace="ws").accepted  # doctest: +SKIP
False
"""

from cvm.risk.accept import Acceptor, Decision, accept
from cvm.risk.cutoffs import cutoff_table, scored_book
from cvm.risk.early_warning import early_warning, stored_early_warning, write_early_warning
from cvm.risk.simulate import Simulation, apply_cutoff, simulate

__all__ = [
    "Acceptor",
    "Decision",
    "Simulation",
    "accept",
    "apply_cutoff",
    "cutoff_table",
    "early_warning",
    "scored_book",
    "simulate",
    "stored_early_warning",
    "write_early_warning",
]
