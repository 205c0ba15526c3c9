"""Sound event properties: what both online stores can hold, within the limits of ``events``.

An event's properties are stored as JSON as they came (beyond the fields of its type).
One walk over them, before the type's model sees them, refuses what a store or the JSON
writer would fail on, and what is too large or too deep to keep:

- integers outside the signed 64-bit range (-2^63 to 2^63-1);
- numbers that are not finite (``NaN``, ``Infinity`` or ``1e400``, which JSON cannot hold);
- text that is not valid UTF-8 (a lone surrogate such as ``"\\ud800"``, or an invalid
  byte, read as one) or that holds NUL (``"\\u0000"``, which PostgreSQL text refuses);
- objects and lists nested more than ``events.max_depth`` levels in one property;
- a property larger than ``events.max_property_bytes``, or properties together larger
  than ``events.max_event_bytes``. A size counts the UTF-8 bytes of text (strings and
  names, plus quotes and separators) and 8 bytes for each number, ``true``, ``false`` or
  ``null``: about the size of the JSON.

Each problem is reported with the path to the value (``properties.basket.0.sku``). The
walk costs well under a microsecond for a property of a few scalars. Paths quoted in
errors are cut to :data:`EXCERPT` characters, with invalid text escaped: an error never
echoes more of the input than that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from cvm.errors import InvalidError


class _LimitSettings(Protocol):
    """The limits' settings (:class:`~cvm.config.settings.EventsSettings` fits)."""

    @property
    def max_depth(self) -> int: ...
    @property
    def max_property_bytes(self) -> int: ...
    @property
    def max_event_bytes(self) -> int: ...


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXCERPT = 80
"""The longest excerpt of the input an error quotes (a field name or id), in characters."""
NUMBER_BYTES = 8
"""What a number, ``true``, ``false`` or ``null`` counts toward a size."""


@dataclass(frozen=True)
class ValueLimits:
    """The limits of ``events`` (see :class:`~cvm.config.settings.EventsSettings`)."""

    max_depth: int = 8
    max_property_bytes: int = 16 * 1024
    max_event_bytes: int = 64 * 1024

    @classmethod
    def of(cls, settings: _LimitSettings) -> ValueLimits:
        return cls(settings.max_depth, settings.max_property_bytes, settings.max_event_bytes)


class UnsoundError(InvalidError, ValueError):
    """A value no store can hold; ``path`` leads to it (built innermost first while unwinding)."""

    def __init__(self, msg: str, type_: str) -> None:
        super().__init__(msg)
        self.msg, self.type = msg, type_
        self.path: list[str | int] = []


class _TooLargeError(Exception):
    """A property passed its size budget (reported at the property, not deep inside it)."""


def excerpt(text: str) -> str:
    """``text`` safe to quote in an error: at most :data:`EXCERPT` characters, invalid text escaped."""
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def loc(path: tuple[Any, ...] | list[Any]) -> list[str | int]:
    """A field path safe to quote: long or invalid names cut and escaped (see :func:`excerpt`)."""
    return [p if isinstance(p, int) else excerpt(str(p)) for p in path]


def text_bytes(text: str) -> int:
    """The UTF-8 size of ``text``; :class:`UnsoundError` when it has a lone surrogate or NUL."""
    if text.isascii():
        size = len(text)
    else:
        try:
            size = len(text.encode())
        except UnicodeEncodeError:
            raise UnsoundError(
                "Text should be valid UTF-8 (it has a lone surrogate or an invalid byte)", "unicode"
            ) from None
    if "\x00" in text:
        raise UnsoundError("Text should not contain NUL (\\u0000)", "nul_character")
    return size


def check_properties(properties: dict[str, Any], limits: ValueLimits) -> list[dict[str, Any]]:
    """Errors (``loc``, ``msg``, ``type``) for the unsound or oversized properties of one event; none when sound."""
    errors: list[dict[str, Any]] = []
    total = 0
    for name, value in properties.items():
        try:
            size = text_bytes(name) + 4 + _measure(value, limits.max_depth, limits.max_property_bytes)
            if size > limits.max_property_bytes:
                raise _TooLargeError
            total += size
        except UnsoundError as exc:
            msg = _DEEP.format(limits.max_depth) if exc.type == "too_deep" else exc.msg
            errors.append({"loc": loc(["properties", name, *reversed(exc.path)]), "msg": msg, "type": exc.type})
        except _TooLargeError:
            msg = f"Property should not be larger than {limits.max_property_bytes} bytes (events.max_property_bytes)"
            errors.append({"loc": loc(["properties", name]), "msg": msg, "type": "too_large"})
    if not errors and total > limits.max_event_bytes:
        msg = f"Properties together should not be larger than {limits.max_event_bytes} bytes (events.max_event_bytes)"
        errors.append({"loc": ["properties"], "msg": msg, "type": "too_large"})
    return errors


def _measure(value: Any, levels: int, budget: int) -> int:
    """The size of ``value``; :class:`UnsoundError` for a bad value, :class:`_TooLargeError` past ``budget`` bytes."""
    kind = type(value)
    if kind is str:
        return text_bytes(value) + 2
    if kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise UnsoundError(f"Integer should be between {INT64_MIN} and {INT64_MAX} (64 bits)", "int_range")
        return NUMBER_BYTES
    if kind is float:
        if value - value != 0.0:  # NaN and both infinities
            raise UnsoundError("Number should be finite (JSON has no NaN or Infinity)", "finite_number")
        return NUMBER_BYTES
    if kind is dict:
        return _measure_object(value, levels, budget)
    if kind is list:
        return _measure_list(value, levels, budget)
    return NUMBER_BYTES  # true, false, null; an in-process caller's own type is left to the JSON writer


_DEEP = "Value should not nest more than {} levels of objects and lists (events.max_depth)"


def _too_deep() -> UnsoundError:
    return UnsoundError("", "too_deep")  # the message, with the limit, is written by check_properties


def _measure_object(value: dict[Any, Any], levels: int, budget: int) -> int:
    if levels == 0:
        raise _too_deep()
    size = 2
    for key, item in value.items():
        try:
            size += (text_bytes(key) if type(key) is str else NUMBER_BYTES) + 4 + _measure(item, levels - 1, budget)
        except UnsoundError as exc:
            exc.path.append(key)
            raise
        if size > budget:
            raise _TooLargeError
    return size


def _measure_list(value: list[Any], levels: int, budget: int) -> int:
    if levels == 0:
        raise _too_deep()
    size = 2
    for i, item in enumerate(value):
        try:
            size += 1 + _measure(item, levels - 1, budget)
        except UnsoundError as exc:
            exc.path.append(i)
            raise
        if size > budget:
            raise _TooLargeError
    return size
