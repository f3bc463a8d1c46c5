"""Per-scene seeds derived from the data set seed, so scenes are independent of generation order."""

from __future__ import annotations

import zlib

import numpy as np


def scene_seed(seed: int, stream: str, index: int) -> int:
    """A 32-bit seed from (data set seed, stream name, scene index)."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(stream.encode()), int(index)]).generate_state(1)[0])
