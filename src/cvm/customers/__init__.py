"""Customer 360: profile, holdings, timeline, search, and erasure of personal data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cvm.customers.profile import UnknownCustomerError, customer_profile, list_customers, timeline
from cvm.lazy import lazy_attribute

if TYPE_CHECKING:
    from cvm.customers.erase import erase_customer


def __getattr__(name: str) -> Any:
    """``erase_customer``, imported when asked for: erasure loads every file format, a profile needs none."""
    return lazy_attribute(__name__, {"erase_customer": ".erase"}, name)


__all__ = ["UnknownCustomerError", "customer_profile", "erase_customer", "list_customers", "timeline"]
