"""Customer 360: profile, holdings, timeline, search, and erasure of personal data."""

from cvm.customers.erase import erase_customer
from cvm.customers.profile import UnknownCustomerError, customer_profile, list_customers, timeline

__all__ = ["UnknownCustomerError", "customer_profile", "erase_customer", "list_customers", "timeline"]
