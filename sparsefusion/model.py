"""Joint EFT + VLDM training on one category (the official ``train.py``), as a ``common.engine`` model.

Per step (one sequence, ``ContextSampler``): V ~ U{v_min .. v_max} context views and one query view; cameras
are expressed in the query camera's frame. EFT renders (a) ``color_rays`` random pixel rays of the query
image -> colour, and (b) the latent-resolution ray grid -> features y [F, h, w], both in one EFT pass. Losses:

    L_EFT = huber_0.1(g(r, C), I(r))                                   (masked images, black background)
    L_VLDM = p2-weighted noise MSE on z0 = E(I_query) repeated ``repeats`` times, cond y (dropout 0.1)
             (z0 from the batch when the sampler keeps the frames' latents, else encoded here)
    L = eft_weight L_EFT + L_VLDM; both optimisers (Adam "eft", "vldm") step.

The frozen autoencoder is held outside the module's parameters (not in checkpoints; its name is recorded).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from common.cameras import rays_from_pixels
from sparsefusion.autoencoder import FrozenAutoencoder
from sparsefusion.data import frame_tensor
from sparsefusion.eft import EFT
from sparsefusion.geometry import grid_rays, relative_to
from sparsefusion.vldm import VLDM


def depth_range(c2w_query: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """EFT sampling range along query rays: camera distance to the origin (object centre) -/+ radius, [B]."""
    d = c2w_query[:, :3, 3].norm(dim=-1)
    return (d - radius).clamp(min=1e-2), d + radius


class ContextSampler:
    """sampler(step, generator) -> one training example from prepared sequences (``sparsefusion.data``).

    Draws a sequence uniformly, V ~ U{v_min .. v_max} and V + 1 distinct frames (the last is the query).
    Returns images [V + 1, 3, S, S] float in [0, 1], masks [V + 1, 1, S, S], K [V + 1, 3, 3], c2w [V + 1, 4, 4],
    and with ``autoencoder`` the query's latent z0 = E(query image) [1, C, S/8, S/8]: the autoencoder is frozen and
    the frames fixed, so each frame is encoded once, on its first draw, and its latent kept (the same call as
    encoding it in every step, at a fraction of the cost).
    All random numbers come from ``generator`` (checkpointed by the trainer), so a resumed run draws the same.
    """

    def __init__(
        self, sequences: list[dict], v_min: int = 2, v_max: int = 5, autoencoder: FrozenAutoencoder | None = None
    ):
        self.sequences, self.v_min, self.v_max, self.autoencoder = sequences, v_min, v_max, autoencoder
        self._latents: dict[tuple[int, int], Tensor] = {}

    @torch.no_grad()
    def latent(self, seq: int, frame: int) -> Tensor:
        """E(frame ``frame`` of sequence ``seq``) [1, C, S/8, S/8], encoded on first use."""
        key = (seq, frame)
        if key not in self._latents:
            self._latents[key] = self.autoencoder.encode(frame_tensor(self.sequences[seq]["images"][[frame]]))
        return self._latents[key]

    def __call__(self, step: int, generator: torch.Generator) -> dict:
        k = int(torch.randint(len(self.sequences), (1,), generator=generator))
        seq = self.sequences[k]
        v = int(torch.randint(self.v_min, self.v_max + 1, (1,), generator=generator))
        idx = torch.randperm(len(seq["images"]), generator=generator)[: v + 1].tolist()
        batch = {
            "images": frame_tensor(seq["images"][idx]),
            "masks": torch.from_numpy(seq["masks"][idx])[:, None].float(),
            "K": torch.from_numpy(seq["K"][idx]),
            "c2w": torch.from_numpy(seq["c2w"][idx]),
        }
        if self.autoencoder is not None:
            batch["latent"] = self.latent(k, idx[-1])
        return batch


class SparseFusionModel(nn.Module):
    """EFT + VLDM with the trainer's ``configure_optimizers`` / ``train_step`` protocol (see module doc)."""

    def __init__(self, cfg: dict, autoencoder: FrozenAutoencoder):
        super().__init__()
        self.cfg = dict(cfg)
        e, v = cfg["eft"], cfg["vldm"]
        self.image_size = int(cfg["image_size"])
        self.latent_size = self.image_size // autoencoder.factor
        self.eft = EFT(
            hidden=e["hidden"], layers=e["layers"], n_points=e["n_points"], feature_dim=e["feature_dim"],
            encoder=e.get("encoder", "resnet18"),
        )  # fmt: skip
        self.vldm = VLDM(
            autoencoder.latent_channels, e["feature_dim"], self.latent_size,
            block_out_channels=tuple(v["channels"]), layers_per_block=v["layers_per_block"],
            cond_drop=v["cond_drop"], p2_gamma=v["p2_gamma"], norm_groups=v.get("norm_groups", 32),
            clip_x0=v.get("clip_x0", 10.0), prediction=v.get("prediction", "eps"),
        )  # fmt: skip
        self._ae = (autoencoder,)  # a tuple keeps the frozen autoencoder out of parameters() and state_dict()

    @property
    def autoencoder(self) -> FrozenAutoencoder:
        return self._ae[0]

    def configure_optimizers(self, betas, eps) -> dict[str, torch.optim.Optimizer]:
        t = self.cfg["train"]
        return {
            "eft": torch.optim.Adam(self.eft.parameters(), lr=t["lr"], betas=betas, eps=eps, fused=True),
            "vldm": torch.optim.Adam(self.vldm.parameters(), lr=t["lr"], betas=betas, eps=eps, fused=True),
        }

    def context(self, batch: dict) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(query c2w [1, 4, 4], query K, context images [1, V, 3, S, S], K, c2w relative to the query, GT)."""
        q = batch["c2w"][-1:]
        rel = relative_to(batch["c2w"][None, :-1], q)
        return q, batch["K"][-1:], batch["images"][None, :-1], batch["K"][None, :-1], rel, batch["images"][-1:]

    def train_step(self, batch: dict, step: int, optimizers: dict) -> dict:
        cfg, gen = self.cfg, self._generator(step)
        q, qK, imgs, K, rel, gt = self.context(batch)
        s, n, h = self.image_size, int(cfg["train"]["color_rays"]), self.latent_size
        near, far = depth_range(q, cfg["eft"]["depth_radius"])
        pix = torch.randint(s * s, (n,), generator=gen)
        eye = torch.eye(4).expand(1, 4, 4)
        o_c, d_c = rays_from_pixels(qK[0], eye[0], pix % s, pix // s)
        o_g, d_g = grid_rays(qK, eye, s, s, h)
        # one EFT pass over the colour rays and the latent-grid rays (rays are independent)
        o, d = torch.cat([o_c[None], o_g.reshape(1, -1, 3)], 1), torch.cat([d_c[None], d_g.reshape(1, -1, 3)], 1)
        out = self.eft(o, d, near, far, imgs, K, rel)
        target = gt[0].permute(1, 2, 0).reshape(-1, 3)[pix]
        loss_eft = F.huber_loss(out["rgb"][0, :n], target, delta=0.1)
        y = out["features"][:, n:].transpose(1, 2).reshape(1, -1, h, h)
        z0 = batch["latent"] if "latent" in batch else self.query_latent(gt)
        r = int(cfg["vldm"]["repeats"])
        loss_diff = self.vldm.loss(z0.expand(r, -1, -1, -1), y.expand(r, -1, -1, -1), gen)
        total = cfg["train"]["eft_weight"] * loss_eft + loss_diff
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()
        clip = cfg["train"].get("grad_clip")
        if clip:
            nn.utils.clip_grad_norm_(self.parameters(), clip)
        for opt in optimizers.values():
            opt.step()
        return {"loss": total.detach(), "loss_eft": loss_eft.detach(), "loss_diffusion": loss_diff.detach()}

    @torch.no_grad()
    def query_latent(self, image: Tensor) -> Tensor:
        """Frozen autoencoder latent z0 = E(image) [1, C, h, w] of a query image [1, 3, S, S]."""
        return self.autoencoder.encode(image)

    def _generator(self, step: int) -> torch.Generator:
        """Per-step generator for the diffusion noise / ray draws: a function of (seed, step), so resume is exact."""
        return torch.Generator().manual_seed(int(self.cfg.get("seed", 0)) * 1_000_003 + step)

    def eft_grid(self, q, qK, imgs, K, rel, feats, res: int) -> dict:
        """EFT colour / features on a res x res grid of the query camera (already relative: query at identity)."""
        near, far = depth_range(q, self.cfg["eft"]["depth_radius"])
        b = q.shape[0]
        eye = torch.eye(4).expand(b, 4, 4)
        o, d = grid_rays(qK, eye, self.image_size, self.image_size, res)
        out = self.eft(o.reshape(b, -1, 3), d.reshape(b, -1, 3), near, far, imgs, K, rel, feats)
        return {
            "rgb": out["rgb"].transpose(1, 2).reshape(b, 3, res, res),
            "features": out["features"].transpose(1, 2).reshape(b, -1, res, res),
        }
