"""pi-GAN as a driver model family: generator (FiLM-SIREN + rendering) and progressive discriminator.

One training iteration (``train_step``, pi-GAN's ``train.py``):

    D step:  x real [B, 3, H, W] in [-1, 1] (random h-flip); fake = G(z, pose) rendered without gradients;
             L_D = softplus(D(fake)) + softplus(-D(x)) + 0.5 r1_lambda R1(x) + pos_lambda MSE(pose(fake), pose)
             (``nerf_correspondence.gan_losses``); clip D's gradient norm to ``grad_clip``; Adam step.
    G step:  fake = G(z', pose') with gradients; L_G = softplus(-topk(D(fake))) + pos_lambda MSE(...);
             clip G's gradient norm; Adam step.

The curriculum (``nerf_correspondence.curriculum``) gives the image size, samples per ray, batch size and both
learning rates of each step (set on the optimizers every step, as the official loop); the fade-in alpha restarts
at every resolution change: min(1, (step - last upsample step) / fade_steps). NeRF noise std =
max(0, 1 - step / nerf_noise_steps) * nerf_noise; top-k fraction = max(0.99^(step / topk_interval), topk_v).
Optimizers (named "generator", "discriminator"): Adam with the model's own betas (official (0, 0.9)); the
mapping network's lr is ``gen_lr * mapping_lr_factor`` (official 5e-2). Randomness (z, poses, stratified jitter,
flips) comes from the global torch RNG, which the trainer seeds and checkpoints. The driver's EMA
(``train.ema_decay``, official 0.999) averages the parameters used for evaluation and sampling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.config import ConfigError
from nerf_correspondence import curriculum
from nerf_correspondence import gan_losses as L
from nerf_correspondence.discriminator import ProgressiveDiscriminator
from nerf_correspondence.rendering import (
    RenderOutput,
    camera_origins,
    camera_rays,
    render_rays,
    sample_camera_angles,
)
from nerf_correspondence.siren import FiLMSiren


class PiGANGenerator(nn.Module):
    """FiLM-SIREN + pi-GAN camera and renderer. ``render_z(z [B, Z], pitch [B], yaw [B])`` -> RenderOutput.

    The rendered density is ``density_scale * sigma`` (official: 1). At initialisation sigma is ~0.04, so images
    start almost transparent and the official run needs thousands of steps before density appears; the quick
    profile scales it (a documented deviation) so that a few hundred CPU steps reach opaque shapes.
    ``density_bias_init`` (official: None = torch's default U(-1/sqrt(W), 1/sqrt(W))) sets the density head's
    bias: with a narrow quick SIREN a negative default draw exceeds the spread of sigma, every relu(sigma) is 0 and
    no gradient reaches the generator (a dead start); the quick profile sets it to 0.
    """

    def __init__(self, cfg: Mapping):
        super().__init__()
        self.cfg = dict(cfg)
        c = self.cfg
        self.siren = FiLMSiren(c["z_dim"], c["width"], c["depth"], c["mapping_hidden"], c["box_side"])
        if c["density_bias_init"] is not None:
            with torch.no_grad():
                self.siren.final_layer.bias.fill_(c["density_bias_init"])

    def field(self, gamma: Tensor, beta: Tensor):
        """(points [B, N, 3], dirs [B, N, 3]) -> (sigma [B, N], rgb [B, N, 3]) of the NeRF with these modulations."""

        def fn(points: Tensor, dirs: Tensor):
            sigma, rgb, _ = self.siren.forward_with_modulations(points, gamma, beta, dirs)
            return sigma * self.cfg["density_scale"], rgb

        return fn

    def render_modulations(self, gamma, beta, pitch, yaw, resolution: int | None = None, perturb=True,
                           noise_std=0.0, num_steps: int | None = None) -> RenderOutput:  # fmt: skip
        """Render images of side ``resolution`` (default img_size) from cameras at (pitch, yaw) with ``num_steps``
        coarse samples per ray (default the config's)."""
        c = self.cfg
        res = resolution or c["img_size"]
        origins, dirs = camera_rays(camera_origins(pitch, yaw, c["camera_radius"]), res, c["fov"])
        return render_rays(self.field(gamma, beta), origins, dirs, c["ray_start"], c["ray_end"],
                           num_steps or c["num_steps"], c["hierarchical"], perturb, noise_std,
                           c["white_back"])  # fmt: skip

    def render_z(self, z: Tensor, pitch: Tensor, yaw: Tensor, **kw) -> RenderOutput:
        gamma, beta = self.siren.modulations(z)
        return self.render_modulations(gamma, beta, pitch, yaw, **kw)

    def sample_poses(self, n: int) -> tuple[Tensor, Tensor]:
        c = self.cfg
        return sample_camera_angles(n, c["pose_mode"], c["h_mean"], c["v_mean"], c["h_stddev"], c["v_stddev"], None)


def to_image(render: RenderOutput, res: int) -> Tensor:
    """[B, 3, res, res] in [-1, 1] from a render's rgb [B, res * res, 3] in [0, 1] (pi-GAN outputs pixels * 2 - 1)."""
    return render.rgb.reshape(-1, res, res, 3).permute(0, 3, 1, 2) * 2 - 1


class PiGAN(nn.Module):
    """The trained pair; see the module docstring. ``cfg`` is the ``model`` config section, ``batch_size`` the
    sampler's batch (``train.batch_size``, the curriculum's base batch size; None: every image of a batch)."""

    def __init__(self, cfg: Mapping, batch_size: int | None = None):
        super().__init__()
        self.cfg = dict(cfg)
        self.batch_size = batch_size
        curriculum.validate_curriculum(self.cfg.get("curriculum"), batch_size)
        self.generator = PiGANGenerator(self.cfg)
        self.discriminator = ProgressiveDiscriminator(tuple(self.cfg["disc_channels"]), self.cfg["z_dim"])
        for stage in [self.cfg, *(self.cfg.get("curriculum") or [])]:
            if "img_size" in stage:
                self.discriminator.start_block(stage["img_size"])  # validates every image size

    def stage(self, step: int) -> dict:
        """The curriculum settings {img_size, num_steps, batch_size, gen_lr, disc_lr} at ``step``."""
        return curriculum.stage_at(self.cfg, self.batch_size, step)

    def set_learning_rates(self, optimizers: dict, step: int) -> None:
        """The curriculum's lrs at ``step`` on both optimizers (mapping network: gen_lr * mapping_lr_factor)."""
        st = self.stage(step)
        for group in optimizers["generator"].param_groups:
            factor = self.cfg["mapping_lr_factor"] if group.get("name") == "mapping_network" else 1.0
            group["lr"] = st["gen_lr"] * factor
        for group in optimizers["discriminator"].param_groups:
            group["lr"] = st["disc_lr"]

    def configure_optimizers(self, betas, eps) -> dict[str, torch.optim.Optimizer]:
        """Adam "generator" (mapping network at gen_lr * mapping_lr_factor) and "discriminator"; the model's
        own ``betas`` (official (0, 0.9)) replace the trainer's."""
        c = self.cfg
        mapping = list(self.generator.siren.mapping_network.parameters())
        ids = {id(p) for p in mapping}
        rest = [p for p in self.generator.parameters() if id(p) not in ids]
        g = torch.optim.Adam(
            [{"name": "generator", "params": rest, "lr": c["gen_lr"]},
             {"name": "mapping_network", "params": mapping, "lr": c["gen_lr"] * c["mapping_lr_factor"]}],
            betas=tuple(c["betas"]), eps=eps,
        )  # fmt: skip
        d = torch.optim.Adam(self.discriminator.parameters(), lr=c["disc_lr"], betas=tuple(c["betas"]), eps=eps)
        return {"generator": g, "discriminator": d}

    def fade_alpha(self, step: int) -> float:
        return curriculum.fade_alpha(self.cfg, self.batch_size, step)

    def noise_std(self, step: int) -> float:
        c = self.cfg
        return max(0.0, 1.0 - step / c["nerf_noise_steps"]) * c["nerf_noise"] if c["nerf_noise_steps"] else 0.0

    def real_images(self, batch: dict, step: int = 0) -> Tensor:
        """[B, 3, S, S] in [-1, 1] from the first B = stage batch size of the sampler's images [N, 1, H, W, 3]
        (nearest resize to the stage's side S, random h-flip)."""
        st = self.stage(step)
        img = batch["images"][: st["batch_size"], 0].permute(0, 3, 1, 2) * 2 - 1
        res = st["img_size"]
        if img.shape[-1] != res or img.shape[-2] != res:
            img = F.interpolate(img, size=(res, res), mode="nearest")
        flip = torch.rand(img.shape[0]) < 0.5
        return torch.where(flip[:, None, None, None], img.flip(-1), img)

    def generate(self, n: int, step: int, grad: bool) -> tuple[Tensor, Tensor, Tensor]:
        """(images [n, 3, S, S], z [n, Z], positions (pitch, yaw) [n, 2])."""
        st = self.stage(step)
        z = torch.randn(n, self.cfg["z_dim"])
        pitch, yaw = self.generator.sample_poses(n)
        with torch.set_grad_enabled(grad):
            out = self.generator.render_z(z, pitch, yaw, resolution=st["img_size"], noise_std=self.noise_std(step),
                                          num_steps=st["num_steps"])  # fmt: skip
        return to_image(out, st["img_size"]), z, torch.stack([pitch, yaw], -1)

    def train_step(self, batch: dict, step: int, optimizers: dict) -> dict[str, Tensor | float]:
        c = self.cfg
        opt_g, opt_d = optimizers["generator"], optimizers["discriminator"]
        self.set_learning_rates(optimizers, step)
        alpha = self.fade_alpha(step)
        real = self.real_images(batch, step).requires_grad_(True)
        n = real.shape[0]
        # discriminator
        opt_d.zero_grad(set_to_none=True)
        r_logits, _, _ = self.discriminator(real, alpha)
        r1 = L.r1_penalty(r_logits, real)
        fake, _, pos = self.generate(n, step, grad=False)
        f_logits, _, f_pos = self.discriminator(fake, alpha)
        d_pose = L.pose_loss(f_pos, pos)
        d_loss = L.d_logistic_loss(r_logits, f_logits) + 0.5 * c["r1_lambda"] * r1 + c["pos_lambda"] * d_pose
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.discriminator.parameters(), c["grad_clip"])
        opt_d.step()
        # generator
        opt_g.zero_grad(set_to_none=True)
        fake, _, pos = self.generate(n, step, grad=True)
        f_logits, _, f_pos = self.discriminator(fake, alpha)
        frac = L.topk_fraction(step, c["topk_interval"], c["topk_v"])
        g_pose = L.pose_loss(f_pos, pos)
        g_loss = L.g_nonsaturating_loss(L.topk_logits(f_logits, frac)) + c["pos_lambda"] * g_pose
        g_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), c["grad_clip"])
        opt_g.step()
        self.discriminator.zero_grad(set_to_none=True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "r1": r1.detach(), "d_pose": d_pose.detach(),
                "g_pose": g_pose.detach(), "alpha": alpha, "topk": frac, "img_size": real.shape[-1]}  # fmt: skip

    @torch.no_grad()
    def render(self, rays: dict, chunk: int) -> dict[str, Tensor]:
        """rgb [R, 3] of the mean-latent NeRF (z = 0) along world rays ``rays_o`` / ``rays_d`` [R, 3]."""
        gamma, beta = self.generator.siren.modulations(torch.zeros(1, self.cfg["z_dim"]))
        c, outs = self.cfg, []
        for i in range(0, rays["rays_o"].shape[0], chunk):
            d = F.normalize(rays["rays_d"][i : i + chunk], dim=-1)[None]
            out = render_rays(self.generator.field(gamma, beta), rays["rays_o"][i : i + chunk][None], d,
                              c["ray_start"], c["ray_end"], c["num_steps"], c["hierarchical"], False)  # fmt: skip
            outs.append(out.rgb[0])
        return {"rgb": torch.cat(outs)}


@torch.no_grad()
def sample_grid(gen: PiGANGenerator, n: int, seed: int, res: int | None = None, psi: float = 1.0) -> Tensor:
    """[n, res, res, 3] images in [0, 1] of n latents from ``seed`` at the mean pose (truncation psi toward the
    mean modulations of 1000 latents, as the official renders with psi = 0.7)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, gen.cfg["z_dim"], generator=g)
    gamma, beta = gen.siren.modulations(z)
    if psi < 1:
        mg, mb = gen.siren.modulations(torch.randn(1000, gen.cfg["z_dim"], generator=g))
        gamma = mg.mean(0) + psi * (gamma - mg.mean(0))
        beta = mb.mean(0) + psi * (beta - mb.mean(0))
    pitch = torch.full((n,), float(gen.cfg["v_mean"]))
    yaw = torch.full((n,), float(gen.cfg["h_mean"]))
    res = res or gen.cfg["img_size"]
    out = gen.render_modulations(gamma, beta, pitch, yaw, res, perturb=False)
    return out.rgb.reshape(n, res, res, 3).clamp(0, 1)


def sliced_wasserstein(a: Tensor, b: Tensor, projections: int = 256, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between two equal-size sets of vectors a, b [N, D] (random unit directions)."""
    g = torch.Generator().manual_seed(seed)
    d = F.normalize(torch.randn(a.shape[1], projections, generator=g), dim=0)
    pa, pb = torch.sort(a @ d, 0).values, torch.sort(b @ d, 0).values
    return float((pa - pb).abs().mean())


def pixel_swd(fake: Tensor, real: Tensor, side: int = 16) -> float:
    """Sliced Wasserstein distance between fake and real images [N, H, W, 3] downsampled to side x side."""

    def vec(x):
        return F.interpolate(x.permute(0, 3, 1, 2), size=(side, side), mode="area").reshape(x.shape[0], -1)

    n = min(len(fake), len(real))
    return sliced_wasserstein(vec(fake[:n]), vec(real[:n]))


def validate_model_config(cfg: Mapping) -> None:
    """ConfigError (a ValueError) for settings the renderer cannot use (one line naming the key)."""
    for key in ("num_steps", "img_size", "z_dim", "width", "depth"):
        if not isinstance(cfg[key], int) or cfg[key] < (2 if key == "num_steps" else 1):
            raise ConfigError(f"model.{key}: {cfg[key]!r}; expected a positive integer")
    if not 0 < cfg["ray_start"] < cfg["ray_end"] or not math.isfinite(cfg["ray_end"]):
        raise ConfigError(f"model.ray_start / ray_end: {cfg['ray_start']} / {cfg['ray_end']}; expected 0 < start < end")
