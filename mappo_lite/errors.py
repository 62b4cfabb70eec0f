"""The one exception type the library raises for bad input.

Every check in :mod:`mappo_lite` raises :class:`MappoLiteError` (a :class:`ValueError`) with a one-line message that
names the offending argument, so the command line can print it and exit with status 2.
"""


class MappoLiteError(ValueError):
    """Bad input to mappo_lite: wrong shape, not a probability, gamma out of range, unknown name, unreadable file."""
