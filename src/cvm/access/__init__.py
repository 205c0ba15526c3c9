"""API keys, roles and the audit trail."""

from cvm.access.keys import (
    ROLES,
    ApiKey,
    Permission,
    authenticate,
    create_key,
    list_keys,
    revoke_key,
    role_allows,
)

__all__ = [
    "ROLES",
    "ApiKey",
    "Permission",
    "authenticate",
    "create_key",
    "list_keys",
    "revoke_key",
    "role_allows",
]
