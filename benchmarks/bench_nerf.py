"""Vanilla NeRF training step: ``s3im.models.nerf.VanillaNeRF`` against a plain nerf-pytorch-style step.

The reference below is nerf-pytorch's algorithm written out straightforwardly (``run_network`` with the
Embedder and ``netchunk`` batching, the NeRF forward with ``torch.cat`` skip / view inputs, ``raw2outputs``,
``sample_pdf``, re-encoding and re-evaluating all sorted coarse + fine samples in the fine pass), on the
same network weights (a deep copy), rays and sample counts. Both run a full training step (forward,
mse(fine) + mse(coarse), backward, Adam). The timings are interleaved (ref, ours, ref, ours, ...) and the
medians of wall time and of process CPU time are printed with their ratios (on a machine shared with other
jobs the CPU-time ratio at OMP_NUM_THREADS=1 is the steadier number: it does not count time spent
descheduled). An evaluation-mode comparison (no jitter, no noise, deterministic fine samples) checks
first that both compute the same image.

Where the time goes (``--profile``, 1 thread, 128 rays x (32 + 64)): matmuls are ~87 % of a step
(backward ``mm`` ~58 %, forward ``addmm`` ~29 %), ReLU backward ~3 %, copies ~3 %, bias-gradient sums
~2 %, Adam ~1 %. The matmuls already run near the core's fp32 peak, so the step time follows the
multiply-adds: per sample the reference spends ~1.76 M (forward + both backward products), ours ~1.54 M
(no feature-layer matmul, no gradient into the encodings), a ~1.15x bound at sizes where the
reference's large temporaries cost nothing extra; at 1024 x (64 + 128) its 64 MiB-and-larger
temporaries are mapped afresh each step and the gap grows.

Precision: the reference is fp32 (nerf-pytorch). Ours runs once per ``--precisions`` entry: fp32 (the
same arithmetic as the reference) and auto (``common.engine.precision``: bfloat16 autocast where the CPU
has AMX / AVX512-BF16 matmuls, else fp32). On a CPU with AMX the bf16 step is ~3.5x faster than fp32 at
1024 x (64 + 128); its image stays within 0.05 of fp32 (``tests/s3im/test_nerf_model.py``) and a quick
Table 3 NeRF run reaches the same test PSNR at the same step (``s3im/configs/nerf_tnt.yaml``).

    OMP_NUM_THREADS=2 .venv/bin/python -m benchmarks.bench_nerf [--repeats 5] [--profile]
        [--precisions fp32,auto] [--netchunk N] [--settings 1024x64x128,256x32x64]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F

from common.engine.precision import native_bf16, resolve_precision
from common.fields.nerf import NeRF
from s3im.models.nerf.model import VanillaNeRF


# ------------------------------------------------------------------------------ nerf-pytorch reference
def embed(x: torch.Tensor, multires: int) -> torch.Tensor:
    """nerf-pytorch Embedder (include_input, log sampling): [x, sin(2^0 x), cos(2^0 x), ...]."""
    fns = [x]
    for f in 2.0 ** torch.linspace(0.0, multires - 1, multires):
        fns += [torch.sin(x * f), torch.cos(x * f)]
    return torch.cat(fns, -1)


def nerf_forward(net: NeRF, x: torch.Tensor) -> torch.Tensor:
    """nerf-pytorch ``NeRF.forward`` on cat([embedded points, embedded views]) -> raw [N, 4] (rgb logits, sigma)."""
    input_pts, input_views = torch.split(x, [net.input_ch, net.input_ch_views], dim=-1)
    h = input_pts
    for i, layer in enumerate(net.pts_linears):
        h = F.relu(layer(h))
        if i in net.skips:
            h = torch.cat([input_pts, h], -1)
    alpha = net.alpha_linear(h)
    h = torch.cat([net.feature_linear(h), input_views], -1)
    for layer in net.views_linears:
        h = F.relu(layer(h))
    return torch.cat([net.rgb_linear(h), alpha], -1)


def run_network(pts, viewdirs, net: NeRF, netchunk: int = 1024 * 64) -> torch.Tensor:
    flat = pts.reshape(-1, 3)
    embedded = embed(flat, net.pos_freqs)
    dirs = viewdirs[:, None].expand(pts.shape).reshape(-1, 3)
    embedded = torch.cat([embedded, embed(dirs, net.view_freqs)], -1)
    out = torch.cat([nerf_forward(net, embedded[i : i + netchunk]) for i in range(0, embedded.shape[0], netchunk)], 0)
    return out.reshape(*pts.shape[:-1], 4)


def raw2outputs(raw, z_vals, rays_d, raw_noise_std=0.0, white_bkgd=True):
    dists = z_vals[..., 1:] - z_vals[..., :-1]
    dists = torch.cat([dists, torch.tensor([1e10]).expand(dists[..., :1].shape)], -1)
    dists = dists * torch.norm(rays_d[..., None, :], dim=-1)
    rgb = torch.sigmoid(raw[..., :3])
    noise = torch.randn(raw[..., 3].shape) * raw_noise_std if raw_noise_std > 0 else 0.0
    alpha = 1.0 - torch.exp(-F.relu(raw[..., 3] + noise) * dists)
    weights = alpha * torch.cumprod(torch.cat([torch.ones((alpha.shape[0], 1)), 1.0 - alpha + 1e-10], -1), -1)[:, :-1]
    rgb_map = torch.sum(weights[..., None] * rgb, -2)
    acc_map = torch.sum(weights, -1)
    if white_bkgd:
        rgb_map = rgb_map + (1.0 - acc_map[..., None])
    return rgb_map, weights


def sample_pdf(bins, weights, n_samples, det=False):
    weights = weights + 1e-5
    pdf = weights / torch.sum(weights, -1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    if det:
        u = torch.linspace(0.0, 1.0, steps=n_samples).expand(list(cdf.shape[:-1]) + [n_samples])
    else:
        u = torch.rand(list(cdf.shape[:-1]) + [n_samples])
    u = u.contiguous()
    inds = torch.searchsorted(cdf, u, right=True)
    below = torch.max(torch.zeros_like(inds - 1), inds - 1)
    above = torch.min((cdf.shape[-1] - 1) * torch.ones_like(inds), inds)
    inds_g = torch.stack([below, above], -1)
    matched = [inds_g.shape[0], inds_g.shape[1], cdf.shape[-1]]
    cdf_g = torch.gather(cdf.unsqueeze(1).expand(matched), 2, inds_g)
    bins_g = torch.gather(bins.unsqueeze(1).expand(matched), 2, inds_g)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    t = (u - cdf_g[..., 0]) / denom
    return bins_g[..., 0] + t * (bins_g[..., 1] - bins_g[..., 0])


def reference_render(coarse, fine, rays_o, rays_d, viewdirs, near, far, n_samples, n_importance, perturb):
    """nerf-pytorch ``render_rays`` (lindisp False, white_bkgd, raw_noise_std 0) -> (rgb fine, rgb coarse)."""
    t_vals = torch.linspace(0.0, 1.0, steps=n_samples)
    z_vals = (near * (1.0 - t_vals) + far * t_vals).expand(rays_o.shape[0], n_samples)
    if perturb:
        mids = 0.5 * (z_vals[..., 1:] + z_vals[..., :-1])
        upper = torch.cat([mids, z_vals[..., -1:]], -1)
        lower = torch.cat([z_vals[..., :1], mids], -1)
        z_vals = lower + (upper - lower) * torch.rand(z_vals.shape)
    pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]
    rgb0, weights = raw2outputs(run_network(pts, viewdirs, coarse), z_vals, rays_d)
    z_mid = 0.5 * (z_vals[..., 1:] + z_vals[..., :-1])
    z_samples = sample_pdf(z_mid, weights[..., 1:-1], n_importance, det=not perturb).detach()
    z_vals, _ = torch.sort(torch.cat([z_vals, z_samples], -1), -1)
    pts = rays_o[..., None, :] + rays_d[..., None, :] * z_vals[..., :, None]
    rgb, _ = raw2outputs(run_network(pts, viewdirs, fine), z_vals, rays_d)
    return rgb, rgb0


# ------------------------------------------------------------------------------------------ setup
def make_rays(n_rays: int, seed: int = 0):
    """Rays of cameras on a sphere of radius 4 looking at the origin; camera-z-1 directions (nerf-pytorch)."""
    g = torch.Generator().manual_seed(seed)
    origins = F.normalize(torch.randn(n_rays, 3, generator=g), dim=-1) * 4.0
    axis = F.normalize(-origins, dim=-1)
    jitter = 0.3 * torch.randn(n_rays, 3, generator=g)
    cam_dirs = axis + jitter - (jitter * axis).sum(-1, keepdim=True) * axis  # component 1 along the axis
    norm = cam_dirs.norm(dim=-1)
    target = torch.rand(n_rays, 3, generator=g)
    return origins, cam_dirs, norm, target


def build(n_samples: int, n_importance: int, width: int, depth: int):
    cfg = {
        "n_samples": n_samples,
        "n_importance": n_importance,
        "netwidth": width,
        "netdepth": depth,
        "near": 2.0,
        "far": 6.0,
    }
    torch.manual_seed(0)
    ours = VanillaNeRF(cfg, 2.0, 6.0)
    ref_coarse, ref_fine = copy.deepcopy(ours.fields.coarse), copy.deepcopy(ours.fields.fine)
    return ours, ref_coarse, ref_fine


def check_same_image(n_samples: int, n_importance: int) -> float:
    """Max |rgb_ours - rgb_ref| in evaluation mode (same weights, deterministic samples)."""
    ours, ref_c, ref_f = build(n_samples, n_importance, 64, 8)
    o, d, norm, _ = make_rays(64, seed=1)
    with torch.no_grad():
        ref, _ = reference_render(ref_c, ref_f, o, d, F.normalize(d, dim=-1), 2.0, 6.0, n_samples, n_importance, False)
        mine = ours.render({"rays_o": o, "rays_d": F.normalize(d, dim=-1), "dir_norm": norm}, chunk=1024)["rgb"]
    return float((ref - mine).abs().max())


def time_steps(
    n_rays: int, n_samples: int, n_importance: int, repeats: int, width=256, depth=8, precision="fp32", netchunk=None
):
    ours, ref_c, ref_f = build(n_samples, n_importance, width, depth)
    ours.cfg["precision"] = precision
    if netchunk is not None:
        ours.cfg["netchunk"] = netchunk
    ours.train()
    opt_ours = ours.configure_optimizer()
    opt_ref = torch.optim.Adam([*ref_c.parameters(), *ref_f.parameters()], lr=5e-4, betas=(0.9, 0.999))
    o, d, norm, target = make_rays(n_rays)
    unit = F.normalize(d, dim=-1)
    batch = {"rays_o": o, "rays_d": unit, "viewdirs": unit, "dir_norm": norm, "rgb": target}

    def step_ref():
        rgb, rgb0 = reference_render(ref_c, ref_f, o, d, unit, 2.0, 6.0, n_samples, n_importance, True)
        loss = F.mse_loss(rgb, target) + F.mse_loss(rgb0, target)
        opt_ref.zero_grad()
        loss.backward()
        opt_ref.step()

    def step_ours():
        out = ours(batch, 0)
        loss = sum(ours.losses(out, batch).values())
        opt_ours.zero_grad()
        loss.backward()
        opt_ours.step()

    step_ref(), step_ours()  # warm-up
    wall, cpu = {"ref": [], "ours": []}, {"ref": [], "ours": []}
    for _ in range(repeats):
        for name, fn in (("ref", step_ref), ("ours", step_ours)):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    medians = {k: statistics.median(v) for k, v in wall.items()}
    medians.update({f"cpu_{k}": statistics.median(v) for k, v in cpu.items()})
    return medians, step_ours


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top operators of one step of ours")
    parser.add_argument(
        "--precisions", default="fp32,auto", help="precisions of ours, comma-separated (common.engine.precision)"
    )
    parser.add_argument("--netchunk", type=int, default=None, help="samples per network call of ours")
    parser.add_argument("--settings", default="1024x64x128,256x32x64", help="rays x coarse x fine, comma-separated")
    args = parser.parse_args(argv)
    native = native_bf16("cpu")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, native bf16 matmuls: {native}")
    print(f"eval-mode image difference ours vs reference (64 rays, 32+64 samples): {check_same_image(32, 64):.2e}")
    settings = [tuple(int(v) for v in item.split("x")) for item in args.settings.split(",")]
    for n_rays, ns, ni in settings:
        print(f"{n_rays} rays x ({ns} + {ni}) samples, 8x256, median of {args.repeats} interleaved steps:")
        for prec in args.precisions.split(","):
            med, step = time_steps(n_rays, ns, ni, args.repeats, precision=prec, netchunk=args.netchunk)
            label = f"{prec} ({resolve_precision(prec, 'cpu')})" if prec == "auto" else prec
            print(
                f"    ours {label}: wall reference {med['ref']:.3f} s, ours {med['ours']:.3f} s, "
                f"ratio {med['ref'] / med['ours']:.2f}x; process CPU time reference {med['cpu_ref']:.3f} s, "
                f"ours {med['cpu_ours']:.3f} s, ratio {med['cpu_ref'] / med['cpu_ours']:.2f}x"
            )
            if args.profile:
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    step()
                print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()
