"""CSRF tokens for the dashboard's forms.

Every state-changing POST carries a ``csrf`` field. The logout form carries its
session's token (:attr:`cvm.web.sessions.Session.csrf`). The login form has no
session yet, so it uses a signed double-submit token: the login page sets it in a
``cvm_csrf`` cookie and in the form; a login must send both, equal, and signed with
this process's key (so a cookie planted from elsewhere cannot be made up). Tokens
are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "cvm_csrf"
FIELD = "csrf"


def same(presented: str | None, expected: str | None) -> bool:
    """``presented == expected``, both non-empty, in constant time (any text, not only ASCII)."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


class LoginTokens:
    """Signed double-submit tokens for the login form.

    Examples
    --------
    >>> tokens = LoginTokens()
    >>> token = tokens.issue()
    >>> tokens.check(cookie=token, field=token), tokens.check(cookie=token, field=None)
    (True, False)
    >>> LoginTokens().check(cookie=token, field=token)  # another process's key
    False
    """

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A new token: a random nonce and its signature."""
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._mac(nonce)}"

    def valid(self, token: str | None) -> bool:
        """Whether ``token`` was issued by this process."""
        nonce, _, mac = (token or "").partition(".")
        return bool(nonce) and same(mac, self._mac(nonce))

    def check(self, cookie: str | None, field: str | None) -> bool:
        """Whether a login's form field matches its cookie, and the cookie is ours."""
        return same(field, cookie) and self.valid(cookie)
