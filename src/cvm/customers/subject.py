"""The keyed token of an erased customer id that the audit log keeps (HMAC-SHA256).

A plain hash of an id is reversed by hashing candidate ids (ids are short and guessable); an HMAC
is not, without the key. The same id and key always give the same token, so whoever holds the key
can confirm that a given id was erased. The key is ``privacy.erasure_key`` (environment only:
``CVM__PRIVACY__ERASURE_KEY``); without one, a random key is created once per workspace in
``<workspace>/.erasure-key`` with mode 0600 (whatever the umask) and reused from then on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path

from pydantic import SecretStr

from cvm.errors import BadValueError

KEY_FILE = ".erasure-key"
PREFIX = "hmac-sha256:"


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` unless it exists: the whole file appears at once, or not at all."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the key first: then that key is used
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def erasure_key(workspace: Path, configured: SecretStr | None = None) -> bytes:
    """The HMAC key: the configured one, else the workspace's key file (created on first use)."""
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value().encode()
    path = Path(workspace) / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise BadValueError(f"{path}: the erasure key is shorter than 32 characters; delete the file to make a new one")
    return key.encode()


def subject_token(key: bytes, customer_id: str) -> str:
    """``hmac-sha256:`` and the first 128 bits of HMAC-SHA256(key, id), in hex."""
    return PREFIX + hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()[:32]
