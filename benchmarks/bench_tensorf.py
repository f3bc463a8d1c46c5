"""TensoRF training-step speed, ours against the plain official algorithm, side by side in one run.

Setting: the CPU anchor of the official code (``s3im/configs/tensorf_blender.yaml`` with ``ANCHOR`` over its
quick profile: batch 4096, VM 16/48 components, 64^3 -> 128^3 with upsampling after iterations 60, 100, 140, 180, 220,
alpha mask after 60 and 120) on a 100x100 Blender-layout object scene (``--scene DIR``; default: the
synthetic ``blender_objects`` set, else ``shapes``).

Our model is trained through the schedule (the trainer's step protocol: before_step, forward, losses,
backward, Adam, callbacks with the ray filter). At the iterations of ``--at`` (default 30: dense
density before the first alpha mask, the official run's slowest phase; 130: after the shrink and the
ray filter; 230: final grid), ``--rounds`` steps are timed, interleaved, on copies of the model:
(a) our step (packed in-box samples, alpha-mask skipping, colour only where w > 1e-4);
(b) a reference written here: the official TensorBase.forward restated (dense [R, n_samples] sample
    tensors from the box entry, in-box and alpha-mask validity as masks, per-plane and per-line
    ``grid_sample`` as TensorVMSplit, each a batch of one, which PyTorch's CPU kernel runs on one thread;
    ours splits large lookups over the threads, ``common.fields.grid.sample_points``), dense cumprod
    transmittance, colour for w > 1e-4 through the
    official MLPRender_Fea (concatenated inputs, autograd; ``MLPRender.forward_autograd``), dense
    compositing), the same losses (mse + L1) and Adam.
Both run under the allocator setting of the training processes (``common.engine.allocator``).
Both draw the same batches. Printed: median s/iteration of each, their ratio, the phases of our step,
and the median over all iterations of our training run (the figure comparable with the anchor's 1.70
s/iteration median of the official code on lego100).

    .venv/bin/python -m benchmarks.bench_tensorf [--scene DIR] [--at 30,130,230] [--rounds 5] [--threads 2]
    .venv/bin/python -m benchmarks.bench_tensorf --run RUN_DIR   # at the checkpoints of a quick-profile run
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from common.config import load_config
from common.data import load_scene
from common.data.synthetic import KINDS, ensure_dataset
from common.engine.allocator import retain_freed_memory
from common.rays import RayBank, RaySampler
from s3im.models.tensorf.family import build_model, select_bbox_rays
from s3im.models.tensorf.marching import sample_packed, weights_packed
from s3im.models.tensorf.model import TensoRF
from s3im.models.tensorf.vm import MAT_MODE, VEC_MODE

# The anchor's settings (the official code's CPU run), over the quick profile of tensorf_blender.yaml
# (whose own schedule starts at 32^3, with narrower appearance and colour MLP and 340 iterations, to reach its quality
# goal sooner).
ANCHOR = {
    "train.iters": 300,
    "train.lr_decay_steps": 300,  # the official lr_decay_target_ratio 0.1 over n_iters
    "train.batch_size": 4096,
    "model.N_voxel_init": 64**3,
    "model.N_voxel_final": 128**3,
    "model.upsamp_list": [60, 100, 140, 180, 220],
    "model.update_AlphaMask_list": [60, 120],
    "model.featureC": 128,
    "model.n_lamb_sh": [48, 48, 48],
}
PHASES = ("sampling", "alpha mask", "density", "weights", "appearance", "colour MLP", "loss", "backward", "adam")


def default_scene() -> Path:
    kind = "blender_objects" if "blender_objects" in KINDS else "shapes"
    root = ensure_dataset(kind, res=100)
    return sorted(p for p in Path(root).iterdir() if p.is_dir())[0]


# ------------------------------------------------------------------------------------- reference
def official_features(model: TensoRF, xyz: torch.Tensor, planes, lines) -> list[torch.Tensor]:
    """Per-plane [C_i, N] plane x line products with one grid_sample per plane and per line (official)."""
    cp = torch.stack([xyz[..., list(m)] for m in MAT_MODE]).detach().view(3, -1, 1, 2)
    cl = torch.stack([xyz[..., v] for v in VEC_MODE])
    cl = torch.stack([torch.zeros_like(cl), cl], -1).detach().view(3, -1, 1, 2)
    out = []
    for i in range(3):
        p = F.grid_sample(planes[i], cp[[i]], align_corners=True).view(-1, xyz.shape[0])
        q = F.grid_sample(lines[i], cl[[i]], align_corners=True).view(-1, xyz.shape[0])
        out.append(p * q)
    return out


def reference_forward(model: TensoRF, rays_o, rays_d, n_samples: int, white: bool) -> torch.Tensor:
    """The official TensorBase.forward (training): dense samples, masks, cumprod, colour where w > thres."""
    aabb, step, f = model.aabb, model.step_size, model.field
    vec = torch.where(rays_d == 0, torch.full_like(rays_d, 1e-6), rays_d)
    t_min = torch.minimum((aabb[1] - rays_o) / vec, (aabb[0] - rays_o) / vec).amax(-1).clamp(model.near, model.far)
    rng = torch.arange(n_samples)[None].float().repeat(rays_o.shape[0], 1)
    rng += torch.rand_like(rng[:, [0]])
    z = t_min[..., None] + step * rng
    pts = rays_o[..., None, :] + rays_d[..., None, :] * z[..., None]
    valid = ~((aabb[0] > pts) | (pts > aabb[1])).any(-1)
    dists = torch.cat((z[:, 1:] - z[:, :-1], torch.zeros_like(z[:, :1])), -1)
    viewdirs = rays_d.view(-1, 1, 3).expand(pts.shape)
    if model.alpha_mask is not None:
        alphas = model.alpha_mask.sample(pts[valid], parts=1)  # one batch, as the official code
        invalid = ~valid
        invalid[valid] |= ~(alphas > 0)
        valid = ~invalid
    sigma = torch.zeros(pts.shape[:-1])
    rgb = torch.zeros((*pts.shape[:2], 3))
    xyz = model.normalize(pts)
    if valid.any():
        feat = sum(p.sum(0) for p in official_features(model, xyz[valid], f.density_plane, f.density_line))
        sigma[valid] = F.softplus(feat + model.cfg["density_shift"])
    alpha = 1.0 - torch.exp(-sigma * dists * model.cfg["distance_scale"])
    trans = torch.cumprod(torch.cat([torch.ones(alpha.shape[0], 1), 1.0 - alpha + 1e-10], -1), -1)
    weight = alpha * trans[:, :-1]
    app = weight > model.cfg["rm_weight_mask_thre"]
    if app.any():
        comps = torch.cat(official_features(model, xyz[app], f.app_plane, f.app_line))
        rgb[app] = model.render_module.forward_autograd(f.basis_mat(comps.T), viewdirs[app], xyz[app])
    acc = weight.sum(-1)
    rgb_map = (weight[..., None] * rgb).sum(-2)
    if white:
        rgb_map = rgb_map + (1.0 - acc[..., None])
    return rgb_map.clamp(0, 1)


def make_reference_step(model: TensoRF, batches, step_index: int):
    optimizer = torch.optim.Adam(model.param_groups(), betas=(0.9, 0.99))

    def step(i: int) -> None:
        b = batches[i % len(batches)]
        rgb = reference_forward(model, b["rays_o"], b["rays_d"], model.n_samples_train, model.cfg["white_bkgd"])
        loss = torch.mean((rgb - b["rgb"]) ** 2) + model.l1_weight(step_index) * model.field.density_l1()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def make_our_step(model: TensoRF, batches, step_index: int):
    optimizer = torch.optim.Adam(model.param_groups(), betas=(0.9, 0.99))

    def step(i: int) -> None:
        b = batches[i % len(batches)]
        loss = sum(model.losses(model(b, step_index), b, step_index).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


# ----------------------------------------------------------------------------------------- phases
def phased_step(model: TensoRF, optimizer, batch, step_index: int, times: dict) -> None:
    """Our training step split into timed phases (the computation of ``TensoRF.march`` + losses)."""

    def tick(name, t0):
        now = time.perf_counter()
        times[name].append(now - t0)
        return now

    t0 = time.perf_counter()
    rays_o, rays_d = batch["rays_o"], batch["rays_d"]
    n_rays = rays_o.shape[0]
    with torch.no_grad():
        jitter = torch.rand(n_rays)
        s = sample_packed(
            rays_o, rays_d, model.aabb, model.near, model.far, model.step_size, model.n_samples_train, jitter
        )
        t0 = tick("sampling", t0)
        if model.alpha_mask is not None:
            keep = model.alpha_mask.occupied(s["pts"]).nonzero().squeeze(1)
            s = {k: v[keep] for k, v in s.items()}
        xyz = model.normalize(s["pts"])
        t0 = tick("alpha mask", t0)
    sigma = model.density(xyz)
    t0 = tick("density", t0)
    _, w = weights_packed(sigma, s["delta"], s["ray_indices"], n_rays, model.cfg["distance_scale"])
    app = (w.detach() > model.cfg["rm_weight_mask_thre"]).nonzero().squeeze(1)
    t0 = tick("weights", t0)
    feat = model.app_feature(xyz[app])
    t0 = tick("appearance", t0)
    colour = model.render_module(feat, rays_d[s["ray_indices"][app]], xyz[app])
    t0 = tick("colour MLP", t0)
    rgb = rays_o.new_zeros(n_rays, 3).index_add(0, s["ray_indices"][app], w[app, None] * colour)
    acc = rays_o.new_zeros(n_rays).index_add(0, s["ray_indices"], w)
    rgb = (rgb + (1 - acc)[:, None]).clamp(0, 1)
    loss = torch.mean((rgb - batch["rgb"]) ** 2) + model.l1_weight(step_index) * model.field.density_l1()
    t0 = tick("loss", t0)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    t0 = tick("backward", t0)
    optimizer.step()
    tick("adam", t0)
    times["samples"].append(s["pts"].shape[0])
    times["colour samples"].append(app.shape[0])


# ------------------------------------------------------------------------------------------ main
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", type=Path, default=None)
    parser.add_argument("--at", default="30,130,230", help="iterations at which the steps are compared")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=None, help="train ours to here (default: the quick profile)")
    parser.add_argument(
        "--run",
        type=Path,
        default=None,
        help="compare at the checkpoints of this quick-profile run instead of training",
    )
    args = parser.parse_args(argv)
    retain_freed_memory()
    torch.set_num_threads(args.threads)
    cfg = load_config("s3im/configs/tensorf_blender.yaml", profile="quick", overrides=ANCHOR)
    scene_dir = args.scene or default_scene()
    scene = load_scene("blender", scene_dir)
    bank = RayBank(scene, "train")
    if args.run is not None:
        compare_checkpoints(cfg, scene, bank, args.run, args.rounds)
        return
    iters = args.iters or cfg.train.iters
    at = sorted(int(v) for v in args.at.split(",") if int(v) < iters)
    torch.manual_seed(0)
    decay = 0.1 ** (1 / cfg.train.lr_decay_steps)
    model = build_model(cfg.model.to_dict(), scene, tv_decay=decay)
    sampler = RaySampler(select_bbox_rays(model, bank), cfg.train.batch_size)
    trainer = SimpleNamespace(sampler=sampler)
    gen = torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(model.param_groups(), betas=(0.9, 0.99))
    base = [g["lr"] for g in optimizer.param_groups]
    step_times, lr_step = [], 0
    print(f"scene {scene_dir}: {len(bank)} training rays, {scene.width}x{scene.height}, batch {cfg.train.batch_size}")
    for i in range(iters):
        if i in at:
            compare(model, sampler, gen, i, args.rounds)
        t0 = time.perf_counter()
        rebuild = model.before_step(i)
        if rebuild:
            optimizer = torch.optim.Adam(model.param_groups(), betas=(0.9, 0.99))
            lr_step = 0 if rebuild == "reset" else lr_step
        for g, lr in zip(optimizer.param_groups, base):
            g["lr"] = lr * decay**lr_step
        batch = sampler(i, gen)
        loss = sum(model.losses(model(batch, i), batch, i).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr_step += 1
        model.callbacks()[0](trainer, i)
        step_times.append(time.perf_counter() - t0)
        if (i + 1) % 50 == 0:
            print(
                f"  ours: iteration {i + 1}, last 50 median {statistics.median(step_times[-50:]):.3f} s/it", flush=True
            )
    print(
        f"our full training run ({iters} iterations, batch {cfg.train.batch_size}): median "
        f"{statistics.median(step_times):.3f} s/iteration, total {sum(step_times):.1f} s "
        f"(official anchor on lego100: median 1.70 s/iteration, 561.5 s)"
    )


def compare_checkpoints(cfg, scene, bank: RayBank, run: Path, rounds: int) -> None:
    """``compare`` at every checkpoint of a training run (model state, training rays kept by its sampler)."""
    for path in sorted((run / "checkpoints").glob("step-*.pt")):
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(cfg.model.to_dict(), scene, tv_decay=0.1 ** (1 / cfg.train.lr_decay_steps))
        model.load_state_dict(state["model"])
        ids = state["sampler"].get("bank_ids")
        rays = bank.with_ids(ids) if ids is not None else select_bbox_rays(model, bank)
        print(f"{path.name}: {len(rays)} training rays", flush=True)
        compare(model, RaySampler(rays, cfg.train.batch_size), torch.Generator().manual_seed(1), state["step"], rounds)


def compare(model: TensoRF, sampler, gen, step_index: int, rounds: int) -> None:
    state = gen.get_state()
    batches = [sampler(step_index, gen) for _ in range(rounds)]
    gen.set_state(state)
    ours, ref = copy.deepcopy(model), copy.deepcopy(model)
    ours.train()
    ref.train()
    our_step, ref_step = make_our_step(ours, batches, step_index), make_reference_step(ref, batches, step_index)
    our_step(0), ref_step(0)  # warm-up
    t_ours, t_ref = [], []
    for i in range(rounds):
        t0 = time.perf_counter()
        our_step(i)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref_step(i)
        t_ref.append(time.perf_counter() - t0)
    mo, mr = statistics.median(t_ours), statistics.median(t_ref)
    print(
        f"iteration {step_index}: grid {model.field.grid_size}, {model.n_samples_train} samples/ray max, "
        f"mask {'yes' if model.alpha_mask is not None else 'no'}: ours {mo:.3f} s/it, "
        f"official algorithm {mr:.3f} s/it, ratio official/ours {mr / mo:.2f}",
        flush=True,
    )
    times = {k: [] for k in (*PHASES, "samples", "colour samples")}
    phased = copy.deepcopy(model)
    opt = torch.optim.Adam(phased.param_groups(), betas=(0.9, 0.99))
    for b in batches:
        phased_step(phased, opt, b, step_index, times)
    parts = ", ".join(f"{k} {statistics.median(times[k]):.3f}" for k in PHASES)
    print(
        f"  our phases (s): {parts}; samples {int(statistics.median(times['samples']))}, "
        f"colour samples {int(statistics.median(times['colour samples']))}",
        flush=True,
    )


if __name__ == "__main__":
    main()
