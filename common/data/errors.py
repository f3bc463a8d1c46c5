"""The one exception type raised by every loader on bad input."""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """Bad or missing input data: names the file and what was expected.

    Raised by loaders before any training starts. ``str(err)`` is one line:
    ``"<path>: <what is wrong>; expected <what the format requires>"``.
    """

    def __init__(self, path: str | Path, problem: str, expected: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        msg = f"{self.path}: {problem}"
        if expected:
            msg += f"; expected {expected}"
        super().__init__(msg)
