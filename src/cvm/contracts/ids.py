"""Which customer ids CVM accepts: one pure check used by every ingest path.

Always refused, whatever the pattern: an empty or whitespace-only id, an id
longer than :data:`MAX_ID_LENGTH` characters, and control characters. Then the
id must match the configured pattern (``ingest.customer_id_pattern``, matched
against the whole id). The default, :data:`DEFAULT_CUSTOMER_ID_PATTERN`,
accepts ids such as ``C000123``, ``BE-0012/34``, ``ACME.01``,
``jane@example.com`` and ``anon-3f9a…`` tokens, and refuses ids that start with
``=``, ``+``, ``-`` or ``@`` (a spreadsheet formula) or contain whitespace. An
id may contain ``/``: the API takes such ids URL-encoded.

The length cap runs before the pattern, so even a badly written user pattern
only ever sees short input; the default pattern is a single character class
and cannot backtrack.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_ID_LENGTH = 128
DEFAULT_CUSTOMER_ID_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:/@+#=~-]*"


@lru_cache(maxsize=16)
def compile_id_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a customer-id pattern once; ``re.error`` if it is not a valid regular expression."""
    return re.compile(pattern)


def check_customer_id(value: str, pattern: str | re.Pattern[str] = DEFAULT_CUSTOMER_ID_PATTERN) -> str | None:
    """Why ``value`` is not an acceptable customer id, or ``None`` when it is.

    Parameters
    ----------
    value
        The id as read (not stripped: leading or trailing spaces are refused).
    pattern
        The configured pattern (text or compiled), matched against the whole id.
    """
    if not value.strip():
        return "empty customer id"
    if len(value) > MAX_ID_LENGTH:
        return f"customer id longer than {MAX_ID_LENGTH} characters"
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        return "customer id contains a control character"
    regex = compile_id_pattern(pattern) if isinstance(pattern, str) else pattern
    if regex.fullmatch(value) is None:
        shown = "the default pattern" if regex.pattern == DEFAULT_CUSTOMER_ID_PATTERN else "ingest.customer_id_pattern"
        return f"customer id does not match {shown} {regex.pattern!r}"
    return None
