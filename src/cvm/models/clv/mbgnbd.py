"""MBG/NBD: the BG/NBD in which a customer may also drop out right after the first purchase."""

from __future__ import annotations

from cvm.models.clv.bgnbd import BetaGeoFamily


class ModifiedBetaGeo(BetaGeoFamily):
    """Modified BG/NBD: dropout is possible after every purchase, the first one included.

    Batislam, E. P., Denizel, M. & Filiztekin, A. (2007). "Empirical validation and comparison of models
    for customer base analysis". *International Journal of Research in Marketing* 24(3), 201-209.
    With ``y = x + 1`` dropout opportunities, the likelihood is

        L = B(a, b + x + 1) / B(a, b) * Γ(r + x) α^r / (Γ(r) (α + T)^(r + x))
          + B(a + 1, b + x) / B(a, b) * Γ(r + x) α^r / (Γ(r) (α + t_x)^(r + x)),

    so that, unlike BG/NBD, a customer with no repeat purchase may already be inactive. Same API as
    :class:`~cvm.models.clv.BetaGeo`; ``log_likelihood_`` is the sum of the log of ``L`` in the data's time unit.

    Examples
    --------
    >>> model = ModifiedBetaGeo().fit(frequency, recency, T)  # doctest: +SKIP
    >>> model.probability_alive(0, 0, 39.0)  # doctest: +SKIP
    """

    shift = 1
