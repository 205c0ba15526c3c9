"""Access logs without personal data, for ``cvm serve``.

uvicorn's access log prints each request's path and query string: customer ids
(``/customers/C1/timeline``, the dashboard's ``/ui/customers/C1``) and search terms
(``?q=ann@example.com``). :class:`MaskingFilter` rewrites the target before any handler
sees it:

* everything between ``/customers/`` and an optional known suffix (``/timeline``,
  ``/next-best-action``, ``/scores``) becomes ``***``, even when the id holds ``/`` or is
  percent-encoded (the path is decoded first, as the router does);
* of the query string only the keys stay; values stay only for paging and filter keys that
  never hold personal data (:data:`KEPT_PARAMETERS`), others read ``***``.

:func:`install` puts the filter on uvicorn's access logger (the API app calls it, so any
server that runs the app masks). :func:`log_config` is uvicorn's logging configuration with
that filter, writing to stdout as before and, when a log directory is given, also to
``access.log`` and ``server.log`` there (files created with mode 0600).
"""

from __future__ import annotations

import copy
import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

MASK = "***"
KEPT_PARAMETERS = frozenset({"limit", "offset", "status", "table", "period", "batch", "kind", "as_of"})
_CUSTOMER = re.compile(
    r"^(?P<prefix>.*?/customers/)(?P<id>.+?)(?P<suffix>/(?:timeline|next-best-action|scores))?/?$",
    re.IGNORECASE | re.DOTALL,
)
_KEY = re.compile(r"^[A-Za-z_][\w-]{0,31}$")
_PLAIN = re.compile(r"^[\w.:-]{0,40}$")
ACCESS_FORMAT = '%(asctime)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def mask_target(target: str) -> str:
    """A request target (path and query) with customer ids and personal query values masked."""
    path, sep, query = target.partition("?")
    decoded = unquote(path)
    found = _CUSTOMER.match(decoded)
    if found:
        path = f"{found['prefix']}{MASK}{found['suffix'] or ''}"
    if not sep:
        return path
    parts = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if not _KEY.match(key):
            parts.append(MASK)
        elif key in KEPT_PARAMETERS and _PLAIN.match(value):
            parts.append(f"{key}={value}")
        else:
            parts.append(f"{key}={MASK}")
    return f"{path}?{'&'.join(parts)}"


class MaskingFilter(logging.Filter):
    """Mask the target of uvicorn's access records: args are (client, method, target, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            record.args = (args[0], args[1], mask_target(str(args[2])), args[3], args[4])
        return True


def install() -> None:
    """Mask uvicorn's access records however the app is served (``cvm serve``, uvicorn or gunicorn workers)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())


def _private_file(path: Path) -> str:
    """Create ``path`` with mode 0600 if missing (whatever the umask), for a handler to append to."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return str(path)


def log_config(log_dir: Path | None = None) -> dict[str, Any]:
    """uvicorn's logging configuration with masked access records; also to files in ``log_dir`` if given."""
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"mask": {"()": MaskingFilter}}
    config["loggers"]["uvicorn.access"]["filters"] = ["mask"]
    if log_dir is None:
        return config
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    config["formatters"]["access_file"] = {"()": "uvicorn.logging.AccessFormatter", "fmt": ACCESS_FORMAT}
    config["formatters"]["default_file"] = {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    config["formatters"]["access_file"]["use_colors"] = False
    for name, formatter, logger in (("access", "access_file", "uvicorn.access"), ("server", "default_file", "uvicorn")):
        config["handlers"][f"{name}_file"] = {
            "class": "logging.FileHandler",
            "filename": _private_file(log_dir / f"{name}.log"),
            "formatter": formatter,
            "encoding": "utf-8",
        }
        config["loggers"][logger]["handlers"].append(f"{name}_file")
    return config
