"""The one exception type for bad input anywhere in cnnconv's core and io layers."""

from __future__ import annotations


class CnnconvError(ValueError):
    """Bad input: the message says what is wrong and how to fix it, on one line.

    The core raises only this for input it cannot accept (a bad shape, an unknown
    mode, a kernel larger than the padded input, ...). The command line turns it
    into one line on stderr and an exit code; library users may catch it (it is
    a ``ValueError``).

    Examples
    --------
    >>> try:
    ...     raise CnnconvError("stride must be >= 1, got 0")
    ... except ValueError as exc:
    ...     print(exc)
    stride must be >= 1, got 0
    """


class MissingExtraError(CnnconvError):
    """An optional package is missing: the message names the extra that installs it.

    The command line exits with status 2 for it (a setup to fix, as a usage error is),
    not 1 (the work failed).

    Examples
    --------
    >>> MissingExtraError("16-bit PNG needs imagecodecs", extra="large").extra
    'large'
    """

    def __init__(self, message: str, *, extra: str):
        super().__init__(message)
        self.extra = extra
