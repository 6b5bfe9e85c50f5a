"""The package's three error types, importable without loading PyMC (the bottom layer).

Each names what is wrong and where: the file, row and column (:class:`DataError`), the spec
file and key (:class:`SpecError`), or the fit file (:class:`FitFileError`). The command line
turns every one of them into a message and exit code 2.
"""


class DataError(ValueError):
    """Invalid observations; the message names file, row and column."""


class SpecError(ValueError):
    """An invalid model spec; the message names the file and the key."""


class FitFileError(ValueError):
    """A fit file that cannot be read or fails its integrity check."""
