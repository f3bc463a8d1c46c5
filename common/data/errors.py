"""The one exception type raised by every loader on bad input."""

from __future__ import annotations

from pathlib import Path


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


class DataFormatError(ValueError):
    """Bad or missing input data: names the file and what was expected.

    Raised by loaders before any training starts (or at the first read of a lazily loaded image).
    ``str(err)`` is one line: ``"<path>: <what is wrong>; expected <what the format requires>"``;
    line breaks inside ``problem`` / ``expected`` (e.g. from a wrapped library message) become spaces.
    """

    def __init__(self, path: str | Path, problem: str, expected: str | None = None):
        self.path = str(path)
        self.problem = _one_line(problem)
        self.expected = _one_line(expected) if expected else expected
        msg = f"{self.path}: {self.problem}"
        if self.expected:
            msg += f"; expected {self.expected}"
        super().__init__(msg)
