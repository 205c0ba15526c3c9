"""The one root of CVM's own errors, shared by the CLI and the API.

A :class:`CvmError` is the user's to fix (a bad file, an unknown id, a missing workspace): the CLI
prints its message as one line and exits with :attr:`~CvmError.exit_code` (2), the API answers
:attr:`~CvmError.status` (4xx) with the message as ``detail`` (``cvm.api.errors``). An
:class:`InternalError` is CVM's to fix: exit 1, HTTP 500. Any other exception is unexpected and is
treated as internal (``cvm.cli.errors``): one line, exit 1, the traceback with ``cvm --debug``.

The domain errors keep their historical second base (``KeyError``, ``ValueError``, ...) so that code
catching those still catches them. This module imports nothing: every layer may raise these.
"""

from __future__ import annotations

from typing import ClassVar


class CvmError(Exception):
    """An error the user can fix; its message says what and how, in one line."""

    status: ClassVar[int] = 400
    """HTTP status of the API's answer."""
    exit_code: ClassVar[int] = 2
    """Exit code of the ``cvm`` command."""

    def __str__(self) -> str:
        # a KeyError's str() is the repr of its key: a message is shown as written
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class NotFoundError(CvmError):
    """Something named by the user does not exist (a customer, a pilot, a key)."""

    status = 404


class ConflictError(CvmError):
    """The request is valid but conflicts with the current state."""

    status = 409


class InvalidError(CvmError):
    """A value given by the user is invalid (a file, a field, an expression)."""

    status = 422


class InternalError(CvmError):
    """A fault of CVM or of its environment, not of the user's input."""

    status = 500
    exit_code = 1


class UnknownError(NotFoundError, KeyError):
    """An unknown id (also a ``KeyError``, for callers that catch that)."""


class BadValueError(InvalidError, ValueError):
    """An invalid value (also a ``ValueError``, for callers that catch that)."""
