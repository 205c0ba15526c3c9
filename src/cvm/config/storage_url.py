"""Which storage ``store.offline_path`` may name (checked when the settings load; used by :mod:`cvm.store.fs`).

Examples
--------
>>> scheme_of("s3a://bucket/cvm"), scheme_of("offline"), scheme_of("C:/data")
('s3a', '', '')
>>> check_offline_path("s3a://bucket/cvm")
's3a://bucket/cvm'
"""

from __future__ import annotations

import re

#: The schemes ``store.offline_path`` accepts besides a plain folder (``s3a`` is Hadoop's name for ``s3``).
OBJECT_SCHEMES = ("s3", "s3a")
SUPPORTED = "a local folder (relative to the workspace, absolute, or file://) or s3://bucket/prefix (s3a:// too)"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def scheme_of(url: str) -> str:
    """The URL scheme of ``url`` in lower case (``""`` for a plain path; one letter is a Windows drive)."""
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def check_offline_path(url: str) -> str:
    """Return ``url`` when ``store.offline_path`` may hold it, else raise ``ValueError`` saying why."""
    scheme = scheme_of(url)
    if scheme in ("", "file"):
        return url
    if scheme in OBJECT_SCHEMES:
        if not url.split("://", 1)[1].strip("/").split("/", 1)[0]:
            raise ValueError(f"{url!r} names no bucket: use {scheme}://bucket/prefix")
        return url
    raise ValueError(f"the scheme {scheme}:// of {url!r} is not supported; use {SUPPORTED}")
