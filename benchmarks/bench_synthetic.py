"""Time the generation of the default synthetic data sets (e.g. 8 Replica-like scenes, 128x128, 100 frames).

Usage: python benchmarks/bench_synthetic.py [kind ...]   (default: replica_monosdf). Writes to a temporary directory.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from common.data.synthetic import KINDS


def main(kinds: list[str]) -> None:
    for name in kinds or ["replica_monosdf"]:
        spec = KINDS[name]
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            spec.generate(Path(tmp), scenes=spec.scenes, res=spec.res, seed=0, frames=spec.frames)
            elapsed = time.perf_counter() - start
            size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        what = f"{spec.scenes} scenes x {spec.frames} frames at res {spec.res}"
        print(f"{name}: {what}: {elapsed:.1f} s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
