"""The exception raised when a metric cannot be computed on this machine."""

from __future__ import annotations


class MetricUnavailable(RuntimeError):
    """A metric cannot be computed (e.g. missing network weights); ``reason`` says why and how to fix it.

    Reports record ``reason`` in place of a value: a missing metric is never reported as a number.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
