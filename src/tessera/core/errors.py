"""One error type for bad input, so every boundary reports it the same way.

The CLI turns an `InputError` into one line (field, value, what is accepted)
and exit code 2; library callers get an exception that carries the same facts.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input: names the field, the offending value and what is accepted."""

    def __init__(self, field: str, value: object, accepted: str) -> None:
        self.field = field
        self.value = value
        self.accepted = accepted
        super().__init__(f"{field}: got {value!r}; accepted: {accepted}")


def require(cond: bool, field: str, value: object, accepted: str) -> None:
    """Raise `InputError` unless `cond` holds."""
    if not cond:
        raise InputError(field, value, accepted)
