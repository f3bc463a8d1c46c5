"""S3IM speed, measured side by side in one run (ratios, no absolute thresholds).

(a) the S3IM loss (reshape-based windows, stride == kernel) against a plain conv2d implementation of
    the same algorithm, forward + backward, 4096 rays, M = 10;
(b) the training-step overhead of S3IM on DVGO: a DVGO training step with S3IM (M = 10 and M = 1)
    against the same step without it. Paper Table 8 anchor: about +1% (M=1) to +8% (M=10) on an A100.

    .venv/bin/python -m benchmarks.bench_s3im [--rays 4096] [--repeats 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from s3im import S3IM
from s3im.loss import gaussian_window_1d


def conv_s3im(pred: torch.Tensor, target: torch.Tensor, s3im: S3IM, generator: torch.Generator) -> torch.Tensor:
    """The same algorithm with a general grouped convolution (the official code's formulation)."""
    src, tar = s3im.patches(pred, target, generator)
    w = gaussian_window_1d(s3im.kernel_size, s3im.sigma, dtype=pred.dtype, device=pred.device)
    w2 = torch.outer(w, w).expand(3, 1, s3im.kernel_size, s3im.kernel_size).contiguous()
    conv = lambda x: F.conv2d(x, w2, padding=(s3im.kernel_size - 1) // 2, stride=s3im.stride, groups=3)  # noqa: E731
    mx, my = conv(src), conv(tar)
    vx, vy, cxy = conv(src * src) - mx**2, conv(tar * tar) - my**2, conv(src * tar) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return 1.0 - ssim.mean()


def compare(fns: dict, repeats: int, device: str) -> dict[str, float]:
    """Median seconds of each fn, measured INTERLEAVED (one call of each per round) after 3 warm-up rounds,
    so that machine noise and frequency changes hit every candidate alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats + 3):
        for name, fn in fns.items():
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if r >= 3:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_loss(n_rays: int, repeats: int, device: str) -> None:
    s3im = S3IM(patch_height=64 if n_rays >= 4096 else 32)
    pred = torch.rand(n_rays, 3, device=device, requires_grad=True)
    gt = torch.rand(n_rays, 3, device=device)

    def run(fn):
        def step():
            pred.grad = None
            fn(pred, gt, s3im, torch.Generator().manual_seed(0)).backward()

        return step

    ours = lambda p, g, s, gen: s(p, g, gen)  # noqa: E731
    a = conv_s3im(pred, gt, s3im, torch.Generator().manual_seed(0))
    b = ours(pred, gt, s3im, torch.Generator().manual_seed(0))
    t = compare({"reshape": run(ours), "conv": run(conv_s3im)}, repeats, device)
    t_ours, t_conv = t["reshape"], t["conv"]
    print(
        f"(a) S3IM loss fwd+bwd, {n_rays} rays, M={s3im.repeat_time}: reshape {t_ours * 1e3:.2f} ms, "
        f"conv2d {t_conv * 1e3:.2f} ms, ratio conv/reshape = {t_conv / t_ours:.2f}x "
        f"(|difference| = {abs(a.item() - b.item()):.2e})"
    )


def bench_dvgo_overhead(n_rays: int, repeats: int, device: str) -> None:
    from benchmarks.dvgo_step import make_dvgo_step  # local helper: a DVGO model on a synthetic ray set

    step_fn = make_dvgo_step(n_rays, device)
    height = 64 if n_rays >= 4096 else 32
    variants = {
        "standard": None,
        "S3IM M=1": S3IM(repeat_time=1, patch_height=height),
        "S3IM M=10": S3IM(repeat_time=10, patch_height=height),
    }
    results = compare({k: (lambda s=v: step_fn(s)) for k, v in variants.items()}, repeats, device)
    base = results["standard"]
    print(f"(b) DVGO training step, {n_rays} rays ({device}): standard {base * 1e3:.1f} ms")
    for label in ("S3IM M=1", "S3IM M=10"):
        print(
            f"    {label}: {results[label] * 1e3:.1f} ms, overhead = {100 * (results[label] / base - 1):+.1f}% "
            f"(paper Table 8: about +1% for M=1, +8% for M=10)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rays", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-dvgo", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    bench_loss(args.rays, args.repeats, args.device)
    if not args.skip_dvgo:
        bench_dvgo_overhead(args.rays, max(3, args.repeats // 4), args.device)


if __name__ == "__main__":
    main()
