"""The dashboard: HTML pages over the engine's reports, served by ``cvm serve`` at ``/``.

Examples
--------
>>> from cvm.api import create_app  # doctest: +SKIP
>>> app = create_app(engine)  # the dashboard is mounted; open http://127.0.0.1:8000/  # doctest: +SKIP
"""

from cvm.web.app import mount_dashboard

__all__ = ["mount_dashboard"]
