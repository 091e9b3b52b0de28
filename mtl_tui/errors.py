"""Errors a user can act on. The CLI prints them as one line and exits 2."""

from __future__ import annotations


class MtlError(Exception):
    """Something the user can fix: bad input, a bad file, a missing setup step."""

    exit_code = 2


class ConfigError(MtlError):
    pass


class PoolError(MtlError):
    """The memory pool cannot be opened or used as asked."""


class NotFound(MtlError):
    pass
