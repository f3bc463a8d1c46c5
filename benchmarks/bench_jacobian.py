"""JacobiNeRF Jacobian speed, measured side by side in one run (ratio printed, no absolute thresholds).

The Jacobian of the grey values of a batch of rays w.r.t. the fine ``rgb_linear`` weight, with the graph kept for the
second-order loss (create_graph), followed by the MI-shaping loss backward, as one shaping step needs it:
  closed form  ``jacobinerf.jacobian.grey_jacobian``: one batched contraction;
  official     ``per_ray_autograd_jacobian``: one ``autograd.grad(create_graph=True)`` per ray (xxm19/jacobinerf
               ``get_jacobian``).
Both start from the same rendered batch (rendering excluded, it is common to both). Two ratios: the Jacobian alone,
and Jacobian + loss + backward (the backward through the network is common to both and bounds the step ratio).
Paper setting: 64 rays, D 8 / W 256 (3 x 128 layer), 64 + 128 samples.

    .venv/bin/python -m benchmarks.bench_jacobian [--rays 64] [--width 256] [--samples 64 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from jacobinerf.jacobian import flat, grey_jacobian, per_ray_autograd_jacobian
from jacobinerf.model import ShapedNeRF
from jacobinerf.shaping import gradient_norm_loss, mig_infonce


def step(model: ShapedNeRF, rays: dict, positives: torch.Tensor, closed: bool) -> tuple[float, float]:
    """(seconds of the Jacobian alone, seconds of Jacobian + loss + backward) for one shaping step."""
    out = model.render_rays(rays, keep_samples=True)
    t0 = time.perf_counter()
    if closed:
        jac = grey_jacobian(out["weights"], out["logits"], out["h"])
    else:
        jac = per_ray_autograd_jacobian(out["rgb"].mean(-1), model.rgb_layer, create_graph=True)
    t1 = time.perf_counter()
    loss = mig_infonce(flat(jac), positives)[0] + gradient_norm_loss(flat(jac))
    model.zero_grad()
    loss.backward()
    return t1 - t0, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rays", type=int, default=64)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--samples", type=int, nargs=2, default=(64, 128))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = {"netwidth": args.width, "n_samples": args.samples[0], "n_importance": args.samples[1]}
    model = ShapedNeRF(cfg, 0.1, 10.0).train()
    d = F.normalize(torch.randn(args.rays, 3), dim=-1)
    rays = {"rays_o": torch.zeros(args.rays, 3), "rays_d": d, "viewdirs": d}
    positives = torch.rand(args.rays, args.rays) > 0.9
    positives |= torch.eye(args.rays, dtype=torch.bool)
    times: dict[str, list[tuple[float, float]]] = {"closed": [], "per_ray": []}
    for r in range(args.repeats + 1):  # interleaved; round 0 is warm-up
        for name in times:
            t = step(model, rays, positives, name == "closed")
            if r > 0:
                times[name].append(t)
    jac = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    full = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    print(
        f"rays {args.rays}, width {args.width} (rgb_linear 3 x {args.width // 2}), samples {args.samples}, "
        f"threads {torch.get_num_threads()}, median of {args.repeats}"
    )
    print(
        f"Jacobian (create_graph): closed form {jac['closed'] * 1e3:.2f} ms, "
        f"per-ray autograd {jac['per_ray'] * 1e3:.1f} ms"
    )
    print(f"speed-up of the Jacobian (per-ray / closed form): {jac['per_ray'] / jac['closed']:.1f}x")
    print(
        f"Jacobian + MI loss + second-order backward: closed form {full['closed'] * 1e3:.0f} ms, "
        f"per-ray {full['per_ray'] * 1e3:.0f} ms, speed-up {full['per_ray'] / full['closed']:.1f}x"
    )


if __name__ == "__main__":
    main()
