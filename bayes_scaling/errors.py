"""The package's three error types and the "did you mean" hint their messages share,
importable without loading PyMC (the bottom layer).

Each names what is wrong and where: the file, row and column (:class:`DataError`), the spec
file and key (:class:`SpecError`), or the fit file (:class:`FitFileError`). The command line
turns every one of them into a message and exit code 2.
"""

import difflib
from collections.abc import Iterable


class DataError(ValueError):
    """Invalid observations; the message names file, row and column."""


class SpecError(ValueError):
    """An invalid model spec; the message names the file and the key."""


class FitFileError(ValueError):
    """A fit file that cannot be read or fails its integrity check."""


def closest(value: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name closest in spelling to ``value`` (for "did you mean"), or None."""
    near = difflib.get_close_matches(value, list(known), n=1, cutoff=cutoff)
    return near[0] if near else None


def did_you_mean(value: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known name is close to ``value``, else ``""``."""
    close = closest(value, known)
    return f"; did you mean {close!r}?" if close else ""
