"""View-conditioned latent diffusion model (VLDM): eps_phi(z_t, t, y) with y = EFT features at latent resolution.

The denoiser is a diffusers ``UNet2DModel``; the condition is CONCATENATED to the noisy latent along channels
(in_channels = latent C + feature F, out_channels = C). Time enters as 1000 t (continuous t in [0, 1]) through
the UNet's sinusoidal embedding. Training (Eq. 2, imagen-pytorch defaults of the official code):

    t ~ U(0, 1), eps ~ N(0, I), z_t = sqrt(alpha_bar) z_0 + sqrt(1 - alpha_bar) eps   (cosine schedule)
    L = mean_b [ w_p2(t_b) * mean_{c,h,w} m (eps - eps_phi(z_t, t, y'))^2 ],  w_p2 = (1 + SNR(t))^-gamma
    y' = 0 with probability ``cond_drop`` (0.1) per sample, else y;  m: optional valid-region mask.

With ``prediction="v"`` (not the paper's: an option for short CPU runs) the UNet outputs v = sqrt(a) eps -
sqrt(1 - a) z_0 and is trained on (v - v_phi)^2 with the same weights; ``forward`` still returns the noise estimate
eps = sqrt(a) v_phi + sqrt(1 - a) z_t, so sampling and distillation are the same code. Its implied x0 = sqrt(a) z_t -
sqrt(1 - a) v_phi does not multiply the network's error by sqrt((1 - a) / a) at high noise, as eps prediction does.

``repeats`` draws several (t, eps) per latent (official: 12). Sampling: PLMS from t_max to 0, every implied x0
clamped to [-clip_x0, clip_x0] (official: 10 for SD latents).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from common.compat import import_diffusers
from sparsefusion.diffusion import alpha_bar, log_snr, plms, predict_x0, q_sample, time_grid

T_MAX = 0.999  # alpha_bar(1) = 0 exactly; sampling starts just below
PREDICTIONS = ("eps", "v")


class VLDM(nn.Module):
    """forward(z_t [B, C, h, w], t [B] in [0, 1], cond [B, F, h, w]) -> eps prediction [B, C, h, w]."""

    def __init__(
        self,
        latent_channels: int,
        cond_channels: int,
        latent_size: int,
        block_out_channels: tuple[int, ...] = (256, 512, 1024, 1024),
        layers_per_block: int = 2,
        attention_last: bool = True,
        cond_drop: float = 0.1,
        p2_gamma: float = 0.5,
        norm_groups: int = 32,
        clip_x0: float | None = 10.0,
        prediction: str = "eps",
    ):
        super().__init__()
        diffusers = import_diffusers()
        n = len(block_out_channels)
        down = ["DownBlock2D"] * (n - 1) + ["AttnDownBlock2D" if attention_last else "DownBlock2D"]
        up = ["AttnUpBlock2D" if attention_last else "UpBlock2D"] + ["UpBlock2D"] * (n - 1)
        self.unet = diffusers.UNet2DModel(
            sample_size=latent_size,
            in_channels=latent_channels + cond_channels,
            out_channels=latent_channels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down),
            up_block_types=tuple(up),
            norm_num_groups=norm_groups,
        )
        self.latent_channels, self.cond_channels = latent_channels, cond_channels
        if prediction not in PREDICTIONS:
            raise ValueError(f"vldm.prediction: {prediction!r}; expected one of {PREDICTIONS}")
        self.cond_drop, self.p2_gamma, self.clip_x0, self.prediction = cond_drop, p2_gamma, clip_x0, prediction

    def output(self, z_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """The UNet's output for (z_t, t, cond): eps_phi, or v_phi with ``prediction`` "v"; t [B] or one value."""
        t = t.reshape(-1).expand(z_t.shape[0]) if t.numel() == 1 else t
        return self.unet(torch.cat([z_t, cond], dim=1), 1000 * t).sample

    def forward(self, z_t: Tensor, t: Tensor, cond: Tensor) -> Tensor:
        """The noise estimate eps_phi; with v prediction eps = sqrt(a) v_phi + sqrt(1 - a) z_t."""
        out = self.output(z_t, t, cond)
        if self.prediction == "eps":
            return out
        a = alpha_bar(t.reshape(-1)).view(-1, 1, 1, 1)
        return a.sqrt() * out + (1 - a).sqrt() * z_t

    def loss(self, z0: Tensor, cond: Tensor, generator: torch.Generator, mask: Tensor | None = None) -> Tensor:
        """The (p2-weighted, masked) noise- or v-prediction loss with conditioning dropout; z0 [B, C, h, w]."""
        b = z0.shape[0]
        t = torch.rand(b, generator=generator, device=z0.device)
        noise = torch.randn(z0.shape, generator=generator, device=z0.device)
        keep = (torch.rand(b, generator=generator, device=z0.device) >= self.cond_drop).to(cond.dtype)
        out = self.output(q_sample(z0, t, noise), t, cond * keep.view(-1, 1, 1, 1))
        if self.prediction == "eps":
            target = noise
        else:
            a = alpha_bar(t).view(-1, 1, 1, 1)
            target = a.sqrt() * noise - (1 - a).sqrt() * z0
        err = (out - target) ** 2
        if mask is not None:
            err = err * mask
            per = err.sum((1, 2, 3)) / (mask.expand_as(err).sum((1, 2, 3))).clamp(min=1)
        else:
            per = err.mean((1, 2, 3))
        weight = (1 + log_snr(t).exp()) ** -self.p2_gamma
        return (weight * per).mean()

    @torch.no_grad()
    def sample(self, cond: Tensor, n_steps: int, generator: torch.Generator) -> Tensor:
        """Latent samples [B, C, h, w] from N(0, I) at T_MAX by ``n_steps`` PLMS steps."""
        b, _, h, w = cond.shape
        z = torch.randn((b, self.latent_channels, h, w), generator=generator, device=cond.device)
        grid = [torch.tensor(x, device=cond.device) for x in time_grid(T_MAX, n_steps)]
        eps_fn = lambda x, t: self(x, t, cond)  # noqa: E731
        return plms(z, grid, [alpha_bar(g) for g in grid], eps_fn, final_alpha=1.0, clip=self.clip_x0)

    @torch.no_grad()
    def condition_use(self, z0: Tensor, cond: Tensor, times: list[float], generator: torch.Generator) -> list[dict]:
        """How much the denoiser uses its condition: per t, the x0 predictions from the same z_t with the
        condition and with the null condition (zeros, as conditioning dropout trains it).

        z0 [B, C, h, w], cond [B, F, h, w]. Per t: x0_hat = (z_t - sqrt(1 - a) eps_phi) / sqrt(a) and
        mse = mean (x0_hat - z0)^2 for "cond" and "null", beside "mean": the error of predicting every latent by
        the per-channel mean of z0 (what a denoiser that knows nothing about this view can at best do).
        """
        rows, mean_mse = [], float(((z0.mean((0, 2, 3), keepdim=True) - z0) ** 2).mean())
        for t in times:
            tt = torch.full((z0.shape[0],), float(t), device=z0.device)
            z_t = q_sample(z0, tt, torch.randn(z0.shape, generator=generator, device=z0.device))
            a = alpha_bar(tt[:1])
            row = {"t": float(t), "alpha_bar": float(a)}
            for name, c in (("cond", cond), ("null", torch.zeros_like(cond))):
                row[f"x0_mse_{name}"] = float(((predict_x0(z_t, a, self(z_t, tt, c)) - z0) ** 2).mean())
            row["x0_mse_mean"] = mean_mse
            rows.append(row)
        return rows
