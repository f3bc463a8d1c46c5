"""NeuS training step: ``s3im.models.neus.NeuS`` against a step written like the official Totoro97/NeuS code.

Settings of the speed anchor (official NeuS on DTU scan24 on a 2-core CPU: 11.0 s/iteration, see
../shared/notes/peer-measurements.md): batch 512 rays, 64 + 64 samples, 4 up-sampling steps, no background
(wmask), SDF 8 x 256, colour 4 x 256. The rays are real DTU scan24 rays when the sample is present
(``../shared/data/dtu-scan24-neus-format-subset``), else random rays through the unit sphere.

The reference is the official algorithm written out as the official code does it: ``nn.utils.weight_norm``
linear layers, the whole batch through each network at once, ``render_core`` calling the SDF network once for
(sdf, feature) and a SECOND time inside ``gradient()`` for the normals, the colour network, the same
up-sampling; on the same weights (copied) and rays. Ours runs the SDF network once on ``netchunk``-point blocks:
values and the explicit input gradient in one pass with a hand-written first-order backward (no double
backward; the same values and gradients), the up-sampling sdf from the output layer's sdf row only. Both run
forward, the losses (colour L1 + 0.1 eikonal + 0.1 mask), backward and Adam. An evaluation-mode comparison (no
jitter) first checks that both give the same colours.
Timings are interleaved (ref, ours, ...); medians of wall and process CPU time and their ratios are printed.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_neus [--repeats 3] [--rays 512] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from s3im.models.neus.model import NeuS
from s3im.models.neus.renderer import merge_sorted, near_far_from_sphere, up_sample, weights_from_alpha

DTU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dtu-scan24-neus-format-subset"


# ----------------------------------------------------------------------------- official-style reference
def embed(x: torch.Tensor, multires: int) -> torch.Tensor:
    out = [x]
    for f in 2.0 ** torch.linspace(0.0, multires - 1, multires):
        out += [torch.sin(x * f), torch.cos(x * f)]
    return torch.cat(out, -1)


def wn_linear(src) -> nn.Module:
    """nn.utils.weight_norm(nn.Linear) carrying the weights of one of our WeightNormLinear layers."""
    out_dim, in_dim = src.weight_v.shape
    lin = nn.Linear(in_dim, out_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lin = nn.utils.weight_norm(lin)
    with torch.no_grad():
        lin.weight_g.copy_(src.weight_g)
        lin.weight_v.copy_(src.weight_v)
        lin.bias.copy_(src.bias)
    return lin


class RefSDF(nn.Module):
    def __init__(self, ours):
        super().__init__()
        self.n, self.skip_in, self.multires = ours.num_layers, ours.skip_in, ours.multires
        self.lins = nn.ModuleList([wn_linear(getattr(ours, f"lin{i}")) for i in range(self.n - 1)])
        self.softplus = nn.Softplus(beta=100)

    def forward(self, inputs):
        inputs = embed(inputs, self.multires)
        x = inputs
        for i, lin in enumerate(self.lins):
            if i in self.skip_in:
                x = torch.cat([x, inputs], 1) / math.sqrt(2)
            x = lin(x)
            if i < self.n - 2:
                x = self.softplus(x)
        return x

    def gradient(self, x):
        x.requires_grad_(True)
        y = self.forward(x)[:, :1]
        return torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True, retain_graph=True, only_inputs=True)[0]


class RefColor(nn.Module):
    def __init__(self, ours):
        super().__init__()
        self.n = ours.num_layers
        self.lins = nn.ModuleList([wn_linear(getattr(ours, f"lin{i}")) for i in range(self.n - 1)])

    def forward(self, points, normals, view_dirs, feature):
        x = torch.cat([points, embed(view_dirs, 4), normals, feature], -1)
        for i, lin in enumerate(self.lins):
            x = lin(x)
            if i < self.n - 2:
                x = torch.relu(x)
        return torch.sigmoid(x)


class Reference(nn.Module):
    """The official renderer's ``render`` + ``render_core`` (no background) and the training losses."""

    def __init__(self, ours: NeuS):
        super().__init__()
        self.sdf = RefSDF(ours.sdf_network)
        self.color = RefColor(ours.color_network)
        self.variance = copy.deepcopy(ours.deviation_network.variance)
        self.n_samples, self.n_importance, self.steps = ours.n_samples, ours.n_importance, ours.up_sample_steps
        self.perturb = True

    def render(self, rays_o, rays_d):
        R = len(rays_o)
        near, far = near_far_from_sphere(rays_o, rays_d)
        sample_dist = 2.0 / self.n_samples
        z = near + (far - near) * torch.linspace(0.0, 1.0, self.n_samples)[None, :]
        if self.perturb:
            z = z + (torch.rand([R, 1]) - 0.5) * 2.0 / self.n_samples
        with torch.no_grad():
            pts = rays_o[:, None, :] + rays_d[:, None, :] * z[..., :, None]
            sdf = self.sdf(pts.reshape(-1, 3))[:, :1].reshape(R, self.n_samples)
            for i in range(self.steps):
                new_z = up_sample(rays_o, rays_d, z, sdf, self.n_importance // self.steps, 64 * 2**i)
                last = i + 1 == self.steps
                new_sdf = None
                if not last:
                    new_pts = rays_o[:, None, :] + rays_d[:, None, :] * new_z[..., :, None]
                    new_sdf = self.sdf(new_pts.reshape(-1, 3))[:, :1].reshape(new_z.shape)
                z, sdf = merge_sorted(z, new_z, None if last else sdf, new_sdf)
        n = z.shape[1]
        dists = torch.cat([z[..., 1:] - z[..., :-1], torch.tensor([sample_dist]).expand(z[..., :1].shape)], -1)
        mid_z = z + dists * 0.5
        pts = (rays_o[:, None, :] + rays_d[:, None, :] * mid_z[..., :, None]).reshape(-1, 3)
        dirs = rays_d[:, None, :].expand(R, n, 3).reshape(-1, 3)
        out = self.sdf(pts)
        sdf, feature = out[:, :1], out[:, 1:]
        gradients = self.sdf.gradient(pts).squeeze()
        color = self.color(pts, gradients, dirs, feature).reshape(R, n, 3)
        inv_s = torch.exp(self.variance * 10.0).clip(1e-6, 1e6).expand(R * n, 1)
        true_cos = (dirs * gradients).sum(-1, keepdim=True)
        iter_cos = -F.relu(-true_cos)  # cos_anneal_ratio = 1 (wmask)
        prev_cdf = torch.sigmoid((sdf - iter_cos * dists.reshape(-1, 1) * 0.5) * inv_s)
        next_cdf = torch.sigmoid((sdf + iter_cos * dists.reshape(-1, 1) * 0.5) * inv_s)
        alpha = ((prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5)).reshape(R, n).clip(0.0, 1.0)
        relax = (torch.linalg.norm(pts, dim=-1).reshape(R, n) < 1.2).float().detach()
        weights = weights_from_alpha(alpha)
        weight_sum = weights.sum(-1, keepdim=True)
        rgb = (color * weights[:, :, None]).sum(1)
        err = (torch.linalg.norm(gradients.reshape(R, n, 3), dim=-1) - 1.0) ** 2
        err = (relax * err).sum() / (relax.sum() + 1e-5)
        return rgb, weight_sum, err


def ref_step(ref: Reference, opt, batch) -> float:
    rgb, weight_sum, err = ref.render(batch["rays_o"], batch["rays_d"])
    mask = batch["mask"][:, None]
    loss = ((rgb - batch["rgb"]) * mask).abs().sum() / (mask.sum() + 1e-5) + 0.1 * err
    loss = loss + 0.1 * F.binary_cross_entropy(weight_sum.clip(1e-3, 1 - 1e-3), mask)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def our_step(model: NeuS, opt, batch) -> float:
    out = model(batch, 10**6)
    loss = sum(model.losses(out, batch, 10**6).values())
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


# -------------------------------------------------------------------------------------------------- data
def make_batch(n: int, seed: int = 0) -> tuple[dict, str]:
    g = torch.Generator().manual_seed(seed)
    if DTU.is_dir():
        from common.data import load_scene
        from common.rays import RayBank

        scene = load_scene("dtu_neus", str(DTU), downscale=4)
        bank = RayBank(scene, "train")
        idx = torch.randint(0, len(bank) // len(bank.views), (n,), generator=g)  # rays of the first view
        batch = bank.gather(idx)
        return {k: batch[k] for k in ("rays_o", "rays_d", "rgb", "mask")}, f"DTU scan24 ({DTU.name}), view 0"
    d = F.normalize(torch.randn(n, 3, generator=g) * 0.2 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    o = torch.tensor([0.0, 0.0, -3.0]).expand(n, 3).clone()
    return {"rays_o": o, "rays_d": d, "rgb": torch.rand(n, 3, generator=g), "mask": torch.ones(n)}, "random rays"


def timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rays", type=int, default=512)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--netchunk", type=int, default=8192)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = NeuS({"netchunk": args.netchunk})
    ref = Reference(model)
    batch, source = make_batch(args.rays)
    print(f"NeuS step, {args.rays} rays x (64 + 64) samples, 4 up-sampling steps; {source}; {args.threads} thread(s)")
    # same image in evaluation mode (no jitter)
    small = {k: v[:64] for k, v in batch.items()}
    model.eval()
    ref.perturb = False
    ours_rgb = model.render(small, 64)["rgb"]
    ref_rgb = ref.render(small["rays_o"], small["rays_d"])[0].detach()
    print(f"  eval-mode colours, max |ours - reference| = {float((ours_rgb - ref_rgb).abs().max()):.2e}")
    model.train()
    ref.perturb = True
    opt_ours = torch.optim.Adam(model.parameters(), 5e-4)
    opt_ref = torch.optim.Adam(ref.parameters(), 5e-4)
    our_step(model, opt_ours, batch)  # warm-up
    ref_step(ref, opt_ref, batch)
    times = {"reference": [], "ours": []}
    for _ in range(args.repeats):
        times["reference"].append(timed(lambda: ref_step(ref, opt_ref, batch)))
        times["ours"].append(timed(lambda: our_step(model, opt_ours, batch)))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}
    for k, (w, c) in med.items():
        print(f"  {k:9s}: {w:6.2f} s/it wall, {c:6.2f} s/it CPU (median of {args.repeats})")
    print(
        f"  ratio reference / ours: wall {med['reference'][0] / med['ours'][0]:.2f}x, "
        f"CPU {med['reference'][1] / med['ours'][1]:.2f}x  (goal >= 2x: official 11.0 s/it -> <= 5.5 s/it)"
    )


if __name__ == "__main__":
    main()
