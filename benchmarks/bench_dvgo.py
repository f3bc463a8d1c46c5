"""DVGO training-step speed, measured side by side in one run (ratios, no absolute thresholds).

Setting: the quick profile of ``s3im/configs/dvgo_blender.yaml`` on a 100x100 Blender-layout object scene
(``--scene DIR``, default: the synthetic ``blender_objects`` set, else ``shapes``); the coarse stage is
trained for ``--coarse-iters`` steps, the fine model is built from it and warmed up, then:

(a) our fine-stage training step (packed samples, fused box + mask-cache skipping, alpha / weight
    thresholds, optical-depth transmittance, colour only where it matters, masked Adam on the touched
    voxels) against a straightforward reference of the same step written here: every ray sampled
    densely inside the box ([R, S] samples, no mask-cache or threshold skipping), cumprod
    transmittance, colour MLP on every in-box sample, the same losses, the official full-grid
    ``torch.where`` masked Adam. Both run on copies of the same model, interleaved, on the same batches.
(b) where our step's time goes, per phase (sampling, mask cache, density grid_sample, alpha, weights,
    colour MLP, composite + losses, backward, TV, optimizer), for the bounded fine stage and for the
    contracted model of ``s3im/configs/dvgo_replica.yaml`` (quick profile).

    .venv/bin/python -m benchmarks.bench_dvgo [--scene DIR] [--rounds 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common.config import load_config
from common.data import load_scene
from common.data.synthetic import KINDS, ensure_dataset
from common.rays import RayBank, RaySampler
from common.render import weights_from_optical_depth
from s3im.models.dvgo import build_fine_from_coarse, build_model, resolve_stage_config
from s3im.models.dvgo.family import init_view_counts, select_in_maskcache
from s3im.models.dvgo.model import STOP_TRANSMITTANCE, ZERO_DIRECTION, DirectVoxGO

PHASES = (
    "sampling",
    "mask cache",
    "density grid_sample",
    "alpha + thres",
    "weights + thres",
    "colour MLP",
    "composite + losses",
    "backward",
    "TV",
    "optimizer",
)


def default_scene() -> Path:
    kind = "blender_objects" if "blender_objects" in KINDS else "shapes"
    root = ensure_dataset(kind, res=100)
    return sorted(p for p in Path(root).iterdir() if p.is_dir())[0]


def train_steps(model, optimizer, sampler, steps: int, start: int = 0, generator=None) -> None:
    """The trainer's step protocol without logging (before_step, forward, losses, backward, TV, Adam)."""
    generator = generator or torch.Generator().manual_seed(0)
    for i in range(start, start + steps):
        if model.before_step(i):
            optimizer = model.configure_optimizer()
        batch = sampler(i, generator)
        loss = sum(model.losses(model(batch, i), batch, i).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(i)
        optimizer.step()
    return optimizer


# ------------------------------------------------------------------------------------- reference
def reference_render(model: DirectVoxGO, rays_o, rays_d, viewdirs, background: float) -> dict:
    """Dense [R, S] rendering inside the box: every step from the box entry, no skipping of any kind
    (known free space and out-of-box steps get alpha 0 instead of being skipped)."""
    rays_d = rays_d / rays_d.norm(dim=-1, keepdim=True)
    vec = torch.where(rays_d == 0, torch.full_like(rays_d, ZERO_DIRECTION), rays_d)
    rate_a, rate_b = (model.xyz_max - rays_o) / vec, (model.xyz_min - rays_o) / vec
    t_near = torch.minimum(rate_a, rate_b).amax(-1).clamp(min=model.near, max=1e9)
    t_far = torch.maximum(rate_a, rate_b).amin(-1).clamp(min=model.near, max=1e9)
    step = model.cfg["stepsize"] * model.voxel_size
    n = int(torch.ceil((t_far - t_near) / step).clamp(min=1).max())
    t = t_near[:, None] + torch.arange(n, dtype=rays_o.dtype) * step  # [R, S]
    pts = rays_o[:, None] + rays_d[:, None] * t[..., None]
    valid = (t < t_far[:, None]) & ((pts >= model.xyz_min) & (pts <= model.xyz_max)).all(-1)
    valid = valid & model.mask_cache(pts)  # the same result as skipping, computed for every sample
    density = model.density(pts)
    alpha = model.activate_density(density, model.cfg["stepsize"] * model.voxel_size_ratio) * valid
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha], 1), 1)
    weights = trans[:, :-1] * alpha * (trans[:, :-1] >= STOP_TRANSMITTANCE)
    stopped = (trans[:, :-1] >= STOP_TRANSMITTANCE).sum(1)
    final = trans.gather(1, stopped[:, None])[:, 0]
    k0 = model.k0(pts)
    emb = torch.cat(
        [viewdirs, *[f(viewdirs[..., None] * 2.0 ** torch.arange(4)).flatten(-2) for f in (torch.sin, torch.cos)]], -1
    )
    rgb = torch.sigmoid(model.rgbnet(torch.cat([k0, emb[:, None].expand(-1, n, -1)], -1)))
    out = (weights[..., None] * rgb).sum(1) + final[:, None] * background
    return {"rgb": out, "weights": weights, "raw_rgb": rgb, "final": final}


def reference_masked_adam(params_groups, state, betas=(0.9, 0.99), eps=1e-8):
    """The official masked-Adam formula over full grids (torch.where everywhere)."""
    b1, b2 = betas
    for group in params_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            st = state.setdefault(p, {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)})
            st["t"] += 1
            size = group["lr"] * (1 - b2 ** st["t"]) ** 0.5 / (1 - b1 ** st["t"])
            g, m, v = p.grad, st["m"], st["v"]
            with torch.no_grad():
                if group["skip_zero_grad"]:
                    nz = g != 0
                    m.copy_(torch.where(nz, m * b1 + g * (1 - b1), m))
                    v.copy_(torch.where(nz, v * b2 + g * g * (1 - b2), v))
                    p.sub_(torch.where(nz, m / (v.sqrt() + eps) * size, torch.zeros_like(p)))
                else:
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    p.sub_(m / (v.sqrt() + eps) * size)


def make_reference_step(model: DirectVoxGO, batches):
    groups, state = model.param_groups(), {}
    cfg = model.cfg

    def step(i: int) -> None:
        b = batches[i % len(batches)]
        out = reference_render(model, b["rays_o"], b["rays_d"], b["viewdirs"], 1.0 if cfg["white_bkgd"] else 0.0)
        p = out["final"].clamp(1e-6, 1 - 1e-6)
        loss = (
            F.mse_loss(out["rgb"], b["rgb"])
            - cfg["weight_entropy_last"] * (p * p.log() + (1 - p) * (1 - p).log()).mean()
        )
        per = (out["raw_rgb"] - b["rgb"][:, None]).pow(2).sum(-1)
        loss = loss + cfg["weight_rgbper"] * (per * out["weights"].detach()).sum() / len(b["rgb"])
        for g in groups:
            for prm in g["params"]:
                prm.grad = None
        loss.backward()
        model.after_backward(i)
        reference_masked_adam(groups, state)

    return step


def make_our_step(model, batches):
    optimizer = model.configure_optimizer()

    def step(i: int) -> None:
        b = batches[i % len(batches)]
        loss = sum(model.losses(model(b, i), b, i).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        model.after_backward(i)
        optimizer.step()

    return step


# ----------------------------------------------------------------------------------------- phases
def phased_step(model, optimizer, batch, step: int, times: dict) -> None:
    """Our training step split into timed phases (same computation as ``render_packed`` + losses)."""

    def tick(name, t0):
        now = time.perf_counter()
        times[name].append(now - t0)
        return now

    t0 = time.perf_counter()
    rays_o, rays_d, viewdirs = batch["rays_o"], batch["rays_d"], batch["viewdirs"]
    n_rays = len(rays_o)
    if isinstance(model, DirectVoxGO):
        pts, ray_indices, t, inside = model._steps(rays_o, rays_d)
        t0 = tick("sampling", t0)
        keep = torch.nonzero(model._occupied(pts, inside)).squeeze(1)
        pts, ray_indices, t, s, delta_s = model._with_s(pts[keep], ray_indices[keep], t[keep])
    else:
        pts, ray_indices, t, s, delta_s = model._sample(rays_o, rays_d)
        t0 = tick("sampling", t0)
        keep = torch.nonzero(model.mask_cache(pts)).squeeze(1)
        pts, ray_indices, t, s = pts[keep], ray_indices[keep], t[keep], s[keep]
    t0 = tick("mask cache", t0)
    density = model.density(pts)
    t0 = tick("density grid_sample", t0)
    tau = F.softplus(density + model.act_shift) * (model.cfg["stepsize"] * model.voxel_size_ratio)
    sel = torch.nonzero(-torch.expm1(-tau.detach()) > model.fast_color_thres).squeeze(1)
    tau, ray_indices = tau[sel], ray_indices[sel]
    t0 = tick("alpha + thres", t0)
    weights, final_t, _ = weights_from_optical_depth(tau, ray_indices, n_rays, STOP_TRANSMITTANCE)
    keep = torch.nonzero(weights.detach() > model.fast_color_thres).squeeze(1)
    weights, ray_indices, sel = weights[keep], ray_indices[keep], sel[keep]
    pts, t, s = pts[sel], t[sel], s[sel]
    t0 = tick("weights + thres", t0)
    rgb = model._color(pts, viewdirs, ray_indices)
    t0 = tick("colour MLP", t0)
    from common.render import composite

    bg = model._background(n_rays, rays_o.device)
    outputs = {
        "rgb": composite(weights, rgb, final_t, bg, ray_indices, n_rays),
        "final_transmittance": final_t,
        "weights": weights,
        "raw_rgb": rgb,
        "ray_indices": ray_indices,
        "s": s,
        "delta_s": torch.tensor(float(delta_s)),
    }
    loss = sum(model.losses(outputs, batch, step).values())
    optimizer.zero_grad(set_to_none=True)
    t0 = tick("composite + losses", t0)
    loss.backward()
    t0 = tick("backward", t0)
    model.after_backward(step)
    t0 = tick("TV", t0)
    optimizer.step()
    tick("optimizer", t0)


def phase_table(model, batches, rounds: int, start_step: int) -> dict[str, float]:
    optimizer = model.configure_optimizer()
    times = {name: [] for name in PHASES}
    for r in range(rounds + 3):
        phased_step(model, optimizer, batches[r % len(batches)], start_step + r, times)
    return {name: statistics.median(v[3:]) for name, v in times.items()}


def print_phases(title: str, med: dict[str, float]) -> None:
    total = sum(med.values())
    print(f"\n(b) {title}: {total * 1e3:.1f} ms per step (sum of phase medians)")
    for name, sec in med.items():
        print(f"    {name:22s} {sec * 1e3:8.2f} ms  {100 * sec / total:5.1f} %")


def interleaved(fns: dict, rounds: int) -> dict[str, float]:
    times = {name: [] for name in fns}
    for r in range(rounds + 3):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(r)
            if r >= 3:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


# ------------------------------------------------------------------------------------------- main
def bounded(scene_dir: Path, rounds: int, coarse_iters: int) -> None:
    cfg = load_config(
        "s3im/configs/dvgo_blender.yaml", "quick", overrides=[f"data.root={scene_dir}", "data.downscale=1"]
    )
    scene = load_scene("blender", scene_dir, downscale=1)
    bank = RayBank(scene, "train")
    model_cfg = cfg.model.to_dict()
    torch.manual_seed(0)
    t0 = time.perf_counter()
    coarse = build_model(model_cfg, bank, scene.near, scene.far)
    init_view_counts(coarse, resolve_stage_config(model_cfg, "coarse"), bank)
    t_counts = time.perf_counter() - t0
    sampler = RaySampler(bank, cfg.train.batch_size, mode="iid")
    t0 = time.perf_counter()
    train_steps(coarse, coarse.configure_optimizer(), sampler, coarse_iters)
    t_coarse = (time.perf_counter() - t0) / max(coarse_iters, 1)
    fine = build_fine_from_coarse(coarse, model_cfg)
    fine_bank = select_in_maskcache(fine, bank)
    fine_sampler = RaySampler(fine_bank, cfg.train.batch_size, mode="permutation")
    fine.cfg["pg_scale"] = []  # stay at the start resolution while timing
    train_steps(fine, fine.configure_optimizer(), fine_sampler, 30)
    g = torch.Generator().manual_seed(1)
    batches = [fine_sampler(i, g) for i in range(8)]
    print(f"scene {scene_dir} ({scene.width}x{scene.height}, {len(scene.split('train'))} train views)")
    print(f"coarse {coarse.world_size}: view counting {t_counts:.1f} s, {t_coarse * 1e3:.0f} ms per coarse step")
    print(
        f"fine {fine.world_size}, occupied {fine.mask_cache.mask.float().mean():.3f}, "
        f"{cfg.train.batch_size} rays per step, fast_color_thres {fine.fast_color_thres:g}"
    )
    ours, ref = copy.deepcopy(fine), copy.deepcopy(fine)
    with torch.no_grad():
        a = ours.render_rays(batches[0]["rays_o"], batches[0]["rays_d"])["rgb"]
        b = reference_render(
            ref,
            batches[0]["rays_o"],
            batches[0]["rays_d"],
            batches[0]["viewdirs"],
            1.0 if ref.cfg["white_bkgd"] else 0.0,
        )["rgb"]
    med = interleaved({"ours": make_our_step(ours, batches), "reference": make_reference_step(ref, batches)}, rounds)
    print(f"\n(a) fine-stage training step, {cfg.train.batch_size} rays (median of {rounds}, interleaved)")
    print(f"    ours      {med['ours'] * 1e3:8.1f} ms")
    print(f"    reference {med['reference'] * 1e3:8.1f} ms   (dense in-box samples, no skipping)")
    diff = float((a - b).abs().max())
    print(f"    speed-up  {med['reference'] / med['ours']:8.2f} x   (max |rgb ours - reference| {diff:.2e})")
    print_phases(f"bounded fine stage {fine.world_size}", phase_table(copy.deepcopy(fine), batches, rounds, 30))


def contracted(rounds: int) -> None:
    cache = Path(tempfile.gettempdir()) / "nf-bench-synthetic"
    root = ensure_dataset("replica_monosdf", root=cache, scenes=1, res=64, frames=40) / "scan1"
    cfg = load_config("s3im/configs/dvgo_replica.yaml", "quick", overrides=["model.pg_scale=[]"])
    scene = load_scene("replica_monosdf", root)
    torch.manual_seed(0)
    bank = RayBank(scene, "train")
    model = build_model(cfg.model.to_dict(), bank, scene.near, scene.far)
    sampler = RaySampler(bank, cfg.train.batch_size)
    train_steps(model, model.configure_optimizer(), sampler, 30)
    g = torch.Generator().manual_seed(1)
    batches = [sampler(i, g) for i in range(8)]
    print_phases(f"contracted (Replica quick) {model.world_size}", phase_table(model, batches, rounds, 30))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", type=Path, default=None, help="Blender-layout scene dir (default: synthetic)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--coarse-iters", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bounded(args.scene or default_scene(), args.rounds, args.coarse_iters)
    contracted(args.rounds)


if __name__ == "__main__":
    main()
