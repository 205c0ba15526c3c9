"""Webhook signatures: Standard Webhooks headers, and ``X-CVM-Signature`` kept for compatibility.

Every request carries (https://www.standardwebhooks.com, so receivers can verify with the
off-the-shelf ``standardwebhooks`` libraries):

- ``webhook-id``: the action's idempotency key, the same on every retry;
- ``webhook-timestamp``: unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``, one per
  active secret, separated by spaces. A ``whsec_<base64>`` secret's key is the decoded
  bytes; any other secret's key is its UTF-8 bytes (give a receiver ``whsec_`` plus the
  base64 of those bytes).

and the earlier ``X-CVM-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
(Stripe's scheme, keyed by the secret string as written), with one ``v1`` per active secret.
During a secret roll-over both secrets sign, so a receiver that knows either one verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

HEADER = "X-CVM-Signature"
SCHEME = "v1"
WHSEC = "whsec_"


def signing_key(secret: str) -> bytes:
    """The Standard Webhooks HMAC key of ``secret`` (the base64-decoded part of ``whsec_...``)."""
    if secret.startswith(WHSEC):
        encoded = secret[len(WHSEC) :]
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    return secret.encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``webhook-signature`` entry: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

    Examples
    --------
    >>> standard_signature("whsec_c2VjcmV0", "k1", 1700000000, b'{"a":1}')
    'v1,UkTIU6TNlZrH+q/xNjpGhSkFxmmn1myZbQYCm6VeyAo='
    """
    digest = hmac.new(signing_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return f"{SCHEME},{base64.b64encode(digest).decode()}"


def sign(secrets: str | Sequence[str], body: bytes, timestamp: int | None = None) -> str:
    """The value of the ``X-CVM-Signature`` header for ``body``: one ``v1`` per secret.

    Examples
    --------
    >>> sign("s3cret", b'{"a":1}', timestamp=1700000000)
    't=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940'
    """
    t = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={t}", *(f"{SCHEME}={signature(s, t, body)}" for s in keys)])


def headers(secrets: Sequence[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The signature headers of one request: Standard Webhooks' three and ``X-CVM-Signature``."""
    t = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(t),
        "webhook-signature": " ".join(standard_signature(s, msg_id, t, body) for s in secrets),
        HEADER: sign(secrets, body, t),
    }


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """Whether one ``v1`` of ``header`` signs ``body`` under ``secret``, at most ``tolerance`` seconds old."""
    parts = [tuple(part.split("=", 1)) for part in header.split(",") if "=" in part]
    try:
        t = int(next(value for name, value in parts if name == "t"))
    except (StopIteration, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = signature(secret, t, body)
    return any(name == SCHEME and hmac.compare_digest(value, expected) for name, value in parts)
