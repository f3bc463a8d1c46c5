"""Grid-lookup kernels side by side in one run: forward + backward of ``sample_points`` on the CPU.

For each case (the volumes of the grid models: DVGO's 12-channel colour grid and 1-channel density, TensoRF's
27-channel appearance volume, a 48-channel plane), three kernels with the same values are timed, interleaved
(one call of each per round), median of ``--rounds``:
(a) ``F.grid_sample`` on the volume as one batch (what the official codes call; PyTorch's CPU kernel runs a batch
    of one on one thread);
(b) the split ``grid_sample`` of ``common.fields.grid.sample_points`` (one slice of points per thread);
(c) the weighted row gather ``common.fields.grid.gather_points`` (``F.embedding_bag`` forward, ``index_add_``
    backward).
Printed: seconds of each, the ratios (a)/(c) and (b)/(c), and which kernel ``sample_points`` picks for the case.

    .venv/bin/python -m benchmarks.bench_grid_lookup [--threads 1,2] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from common.fields import grid as grid_module
from common.fields.grid import gather_points, sample_points

# (name, channels, volume size, points)
CASES = [
    ("DVGO colour grid", 12, (64, 64, 64), 100_000),
    ("DVGO colour grid", 12, (96, 96, 96), 300_000),
    ("DVGO density", 1, (96, 96, 96), 300_000),
    ("TensoRF appearance volume", 27, (64, 64, 64), 490_000),
    ("TensoRF appearance plane", 48, (128, 128), 300_000),
]


def one_batch(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    n, d = coords.shape
    grid = coords.reshape(1, n, *([1] * (d - 1)), d)
    return F.grid_sample(volume, grid, mode="bilinear", align_corners=True).view(volume.shape[1], n)


def split(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    saved = grid_module.MIN_GATHER_CHANNELS
    grid_module.MIN_GATHER_CHANNELS = 1 << 30  # keep sample_points on its grid_sample path
    try:
        return sample_points(volume, coords)
    finally:
        grid_module.MIN_GATHER_CHANNELS = saved


def gather(volume: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    return gather_points(volume, coords).t()


def picked(volume: torch.Tensor, coords: torch.Tensor) -> str:
    d, c = coords.shape[1], volume.shape[1]
    return "gather" if d == 3 and c >= grid_module.MIN_GATHER_CHANNELS else "grid_sample (split)"


def time_interleaved(fns: dict, volume: torch.Tensor, coords: torch.Tensor, rounds: int) -> dict[str, float]:
    """Median seconds of forward + backward of each kernel, one call of each per round after one warm-up round."""
    weight = torch.randn(volume.shape[1], coords.shape[0])
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds + 1):
        for name, fn in fns.items():
            volume.grad = None
            start = time.perf_counter()
            (fn(volume, coords) * weight).sum().backward()
            if r > 0:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="torch thread counts to measure")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    fns = {"one batch": one_batch, "split": split, "gather": gather}
    generator = torch.Generator().manual_seed(0)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        print(f"{threads} thread(s): forward + backward, median of {args.rounds} interleaved rounds")
        for name, channels, size, n in CASES:
            volume = torch.randn(1, channels, *size, generator=generator, requires_grad=True)
            coords = torch.rand(n, len(size), generator=generator) * 2 - 1
            t = time_interleaved(fns, volume, coords, args.rounds)
            shape = "x".join(str(s) for s in size)
            print(
                f"  {name:26s} C={channels:2d} {shape:>9s} {n // 1000:4d}k points: one batch {t['one batch']:.3f} s,"
                f" split {t['split']:.3f} s, gather {t['gather']:.3f} s; one batch / gather"
                f" {t['one batch'] / t['gather']:.2f}, split / gather {t['split'] / t['gather']:.2f};"
                f" sample_points picks {picked(volume, coords)}"
            )


if __name__ == "__main__":
    main()
