"""The HTTP API: a thin FastAPI adapter over the engine."""

from cvm.api.app import create_app

__all__ = ["create_app"]
