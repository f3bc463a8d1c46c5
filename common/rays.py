"""Training rays from a `SceneData`: one flat set of all pixels, and a deterministic batch sampler.

Directions are unit vectors in the world frame (OpenCV cameras, pixel centres at u + 0.5, v + 0.5;
see ``common.cameras``), so a ray parameter t is a distance from the camera centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from common.cameras import get_rays
from common.data.scene import SceneData


@dataclass
class RaySet:
    """All pixels of some views, flattened (P = views x H x W, view-major then row-major).

    origins [P, 3], directions [P, 3] (unit), viewdirs [P, 3] (= directions), rgb [P, 3] in [0, 1]:
    float32. image_index [P]: the scene's view index; pixel [P, 2]: (u, v) = (column, row); int64.
    depth [P] float32 (optional): distance along the unit ray = z-depth * ||K^-1 [u+0.5, v+0.5, 1]||,
    0 where the scene's depth is invalid. mask [P] float32 0/1 (optional): foreground mask.
    dir_norm [P] float32: ||K^-1 [u+0.5, v+0.5, 1]||, the length of the pixel direction whose camera z is 1
    (``directions * dir_norm`` are the un-normalised directions many official codes march along).
    """

    origins: torch.Tensor
    directions: torch.Tensor
    viewdirs: torch.Tensor
    rgb: torch.Tensor
    image_index: torch.Tensor
    pixel: torch.Tensor
    depth: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    dir_norm: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.origins.shape[0])

    @property
    def device(self) -> torch.device:
        return self.origins.device

    def to(self, device: str | torch.device) -> RaySet:
        """A copy with every tensor on ``device``."""
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        return RaySet(**{k: None if v is None else v.to(device) for k, v in vals.items()})

    def subset(self, idx: torch.Tensor) -> RaySet:
        """A RaySet of rays ``idx`` [B] only (e.g. the rays that reach occupied space)."""
        idx = idx.to(self.device)
        vals = {f.name: getattr(self, f.name) for f in fields(self)}
        return RaySet(**{k: None if v is None else v[idx] for k, v in vals.items()})

    def select(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch dict of rays ``idx`` [B]: rays_o, rays_d, viewdirs, rgb, image_index, pixel (+ depth, mask)."""
        idx = idx.to(self.device)
        out = {
            "rays_o": self.origins[idx],
            "rays_d": self.directions[idx],
            "viewdirs": self.viewdirs[idx],
            "rgb": self.rgb[idx],
            "image_index": self.image_index[idx],
            "pixel": self.pixel[idx],
        }
        if self.depth is not None:
            out["depth"] = self.depth[idx]
        if self.mask is not None:
            out["mask"] = self.mask[idx]
        return out


def _view_rays(scene: SceneData, i: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins [H, W, 3] and un-normalised directions (camera z = 1) [H, W, 3] of view i, float32."""
    K = torch.as_tensor(np.asarray(scene.K[i], dtype=np.float32), device=device)
    c2w = torch.as_tensor(np.asarray(scene.c2w[i], dtype=np.float32), device=device)
    return get_rays(K, c2w, scene.height, scene.width, normalize=False)


def image_rays(scene: SceneData, i: int, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of every pixel of view i, for rendering a full image: rays_o, rays_d [H, W, 3], unit rays_d."""
    o, d = _view_rays(scene, i, device)
    return o, d / torch.linalg.norm(d, dim=-1, keepdim=True)


def rays_from_scene(scene: SceneData, indices: Sequence[int] | str, device: str | torch.device = "cpu") -> RaySet:
    """RaySet of all pixels of views ``indices`` (a list of view indices or a split name) at the loaded size.

    Built view by view into preallocated tensors (peak memory = the result plus one view);
    images are read with ``scene.load_image`` so lazy scenes work.
    """
    idx = scene.split(indices) if isinstance(indices, str) else [int(i) for i in indices]
    if len(idx) == 0:
        raise ValueError("rays_from_scene: no view selected")
    H, W = scene.height, scene.width
    n_pix = H * W
    P = len(idx) * n_pix
    f32 = {"dtype": torch.float32, "device": device}
    origins, directions, rgb = (torch.empty(P, 3, **f32) for _ in range(3))
    dir_norm = torch.empty(P, **f32)
    depth = torch.empty(P, **f32) if scene.depth is not None else None
    mask = torch.empty(P, **f32) if scene.masks is not None else None
    image_index = torch.as_tensor(idx, dtype=torch.int64, device=device).repeat_interleave(n_pix)
    vv, uu = torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing="ij")
    pixel = torch.stack([uu.reshape(-1), vv.reshape(-1)], -1).repeat(len(idx), 1)
    for k, i in enumerate(idx):
        sl = slice(k * n_pix, (k + 1) * n_pix)
        o, d = _view_rays(scene, i, device)
        norm = torch.linalg.norm(d, dim=-1).reshape(-1)
        origins[sl] = o.reshape(-1, 3)
        directions[sl] = d.reshape(-1, 3) / norm[:, None]
        dir_norm[sl] = norm
        image = np.asarray(scene.load_image(i), dtype=np.float32)
        if image.shape != (H, W, 3):
            raise ValueError(
                f"{scene.root or scene.format}: view {i} image has shape {image.shape}; expected {(H, W, 3)}"
            )
        rgb[sl] = torch.as_tensor(image, device=device).reshape(-1, 3)
        if depth is not None:
            z = torch.as_tensor(np.asarray(scene.depth[i], dtype=np.float32), device=device).reshape(-1)
            depth[sl] = z * norm
        if mask is not None:
            mask[sl] = torch.as_tensor(np.asarray(scene.masks[i]), device=device).reshape(-1).float()
    return RaySet(origins, directions, directions, rgb, image_index, pixel, depth, mask, dir_norm)


class RaySampler:
    """Batches of rays from a RaySet, deterministic given a ``torch.Generator``.

    mode "permutation" (DVGO's flatten sampler): walks through a random permutation of all P rays;
    when it is used up a new permutation is drawn and the batch continues from it, so every ray is
    used exactly once per epoch (P rays) and every batch has ``batch_size`` rays.
    mode "iid": each batch is ``batch_size`` indices drawn uniformly with replacement.

    ``sampler(step, generator) -> dict`` (keys of ``RaySet.select``). All random numbers come from
    ``generator`` (on its device). ``step`` is the training iteration; this sampler's sequence does
    not depend on it (it is part of the sampler interface shared with iteration-dependent samplers).
    Resuming: save ``state_dict()`` together with the generator's state; after ``load_state_dict`` and
    restoring the generator, the sampler continues with the same batches. The state holds the
    position in the current permutation and the generator state it was drawn from (not the
    permutation itself), so it stays small.
    """

    MODES = ("permutation", "iid")

    def __init__(self, rayset: RaySet, batch_size: int, mode: str = "permutation"):
        if mode not in self.MODES:
            raise ValueError(f"RaySampler mode must be one of {self.MODES}, got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(rayset) == 0:
            raise ValueError("RaySampler needs a non-empty RaySet")
        self.rayset = rayset
        self.batch_size = int(batch_size)
        self.mode = mode
        self._perm: torch.Tensor | None = None
        self._perm_state: torch.Tensor | None = None
        self._perm_device = "cpu"
        self._pos = 0
        self.epoch = 0

    def __call__(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.rayset.select(self.next_indices(generator))

    def next_indices(self, generator: torch.Generator) -> torch.Tensor:
        """Indices [batch_size] int64 of the next batch (advances the sampler)."""
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"RaySampler needs a torch.Generator for its random numbers, got {type(generator).__name__}"
            )
        n = len(self.rayset)
        if self.mode == "iid":
            return torch.randint(n, (self.batch_size,), generator=generator, device=generator.device)
        parts, need = [], self.batch_size
        while need > 0:
            if self._perm is None or self._pos >= n:
                if self._perm is not None:
                    self.epoch += 1
                self._new_permutation(generator)
            take = min(need, n - self._pos)
            parts.append(self._perm[self._pos : self._pos + take])
            self._pos += take
            need -= take
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _new_permutation(self, generator: torch.Generator) -> None:
        self._perm_state = generator.get_state()
        self._perm_device = str(generator.device)
        self._perm = torch.randperm(len(self.rayset), generator=generator, device=generator.device)
        self._pos = 0

    def state_dict(self) -> dict:
        """Plain values: mode, batch size, epoch, position and the generator state of the current permutation."""
        return {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "n_rays": len(self.rayset),
            "epoch": self.epoch,
            "position": self._pos,
            "perm_generator_state": None if self._perm_state is None else self._perm_state.clone(),
            "perm_generator_device": self._perm_device,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` (the RaySet must hold the same rays in the same order)."""
        if state["n_rays"] != len(self.rayset) or state["mode"] != self.mode:
            raise ValueError(
                f"sampler state is for {state['n_rays']} rays in mode {state['mode']!r}; "
                f"this sampler has {len(self.rayset)} rays in mode {self.mode!r}"
            )
        self.batch_size = int(state["batch_size"])
        self.epoch = int(state["epoch"])
        self._pos = int(state["position"])
        self._perm_state = state["perm_generator_state"]
        self._perm_device = state["perm_generator_device"]
        self._perm = None
        if self._perm_state is not None:
            g = torch.Generator(device=self._perm_device)
            g.set_state(self._perm_state)
            self._perm = torch.randperm(len(self.rayset), generator=g, device=g.device)
