"""CLI: ``python -m common.data.synthetic <kind> --out DIR [--scenes N --res R --seed S --frames F]``.

Without ``--out`` the data set goes to the cache (see `cache.ensure_dataset`). Prints the directory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common.data.synthetic import KINDS, ensure_dataset


def main(argv: list[str] | None = None) -> int:
    kinds = "\n".join(f"  {name}: {k.description} (format {k.format})" for name, k in sorted(KINDS.items()))
    parser = argparse.ArgumentParser(
        prog="python -m common.data.synthetic",
        description="Write procedural scenes in a real data format.",
        epilog="kinds:\n" + kinds,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: the data cache)")
    parser.add_argument("--scenes", type=int, default=None, help="number of scenes (default per kind)")
    parser.add_argument("--res", type=int, default=None, help="image width in pixels (default per kind)")
    parser.add_argument("--frames", type=int, default=None, help="frames per scene (default per kind)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    spec = KINDS[args.kind]
    start = time.perf_counter()
    if args.out is None:
        out = ensure_dataset(args.kind, scenes=args.scenes, res=args.res, seed=args.seed, frames=args.frames)
    else:
        out = args.out
        spec.generate(
            out,
            scenes=spec.scenes if args.scenes is None else args.scenes,
            res=spec.res if args.res is None else args.res,
            seed=args.seed,
            frames=spec.frames if args.frames is None else args.frames,
        )
    print(f"{args.kind}: wrote {out} in {time.perf_counter() - start:.1f} s (load with format '{spec.format}')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
