"""Training progress: a tqdm bar on a terminal, one plain line per report otherwise (log files)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping

from tqdm import tqdm


def format_duration(seconds: float) -> str:
    """``3725.0 -> "1h02m05s"``, ``65 -> "1m05s"``, ``4.2 -> "4s"``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Steps ``initial..total``; ``report`` shows the latest values (bar postfix or a printed line with ETA).

    ``enabled=False`` shows nothing. When stderr is not a terminal the bar is replaced by lines
    ``[train 100/1000] loss 0.01234 psnr 23.41 | 3.2 it/s, eta 4m41s`` on stdout.
    """

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, desc: str = "train"):
        self.total = total
        self.initial = initial
        self.desc = desc
        self.enabled = enabled
        tty = enabled and sys.stderr.isatty()
        self.lines = enabled and not tty
        self.bar = tqdm(total=total, initial=initial, desc=desc, disable=not tty, dynamic_ncols=True)
        self._start = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def report(self, step: int, values: Mapping[str, float]) -> None:
        shown = {k: f"{v:.4g}" for k, v in values.items()}
        if self.bar.disable:
            if self.lines:
                elapsed = time.perf_counter() - self._start
                rate = (step - self.initial) / elapsed if elapsed > 0 else 0.0
                eta = format_duration((self.total - step) / rate) if rate > 0 else "?"
                text = " ".join(f"{k} {v}" for k, v in shown.items())
                print(f"[{self.desc} {step}/{self.total}] {text} | {rate:.3g} it/s, eta {eta}", flush=True)
        else:
            self.bar.set_postfix(shown, refresh=False)

    def close(self) -> None:
        self.bar.close()
