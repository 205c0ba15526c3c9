"""CVM: an open-source Customer Value Management engine."""

__version__ = "0.1.0"
