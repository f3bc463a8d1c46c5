"""Training rays from a `SceneData`, built on the fly from (view, pixel) indices over compact per-view arrays.

A `RayBank` stores the views, not the rays: images (uint8 by default), intrinsics, poses and the optional
per-pixel / per-view annotations. ``gather(ids)`` turns flat ray ids into a batch dict of per-ray fields,
computing origins and directions with the float32 formula of ``common.cameras.get_rays``:

    d_cam = K^-1 [u + 0.5, v + 0.5, 1]^T,   d = R d_cam,   rays_d = d / ||d||,   rays_o = t,
    dir_norm = ||d|| = ||K^-1 [u + 0.5, v + 0.5, 1]||   (R orthonormal),

so rays are bit-identical to ``get_rays`` per view. Directions are unit vectors in the world frame (OpenCV
cameras; see ``common.cameras``), so a ray parameter is a distance from the camera centre. Batch samplers
over a bank are in ``common.samplers``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from common.cameras import get_rays
from common.data.scene import SceneData
from common.samplers import RaySampler

__all__ = ["RayBank", "RaySampler", "image_rays", "view_ray_dict"]

RGB_DTYPES = (torch.uint8, torch.float16, torch.float32)


def _label_dtype(labels: np.ndarray) -> torch.dtype:
    """int16 when every label fits (void -1 included), else int32."""
    info = np.iinfo(np.int16)
    if labels.size == 0 or (int(labels.min()) >= info.min and int(labels.max()) <= info.max):
        return torch.int16
    return torch.int32


class RayBank:
    """All pixels of some views of a scene, stored per view; rays are built on demand by ``gather``.

    Storage (on ``device``): ``images`` [V, H, W, 3] in ``dtype`` (uint8 by default: value round(255 rgb);
    float16 / float32 keep the loader's floats), ``K`` [V, 3, 3] and ``c2w`` [V, 4, 4] float32, and where the
    scene has them ``depth`` [V, H, W] float32 z-depth (0 = invalid), ``mask`` [V, H, W] bool, ``semantic`` /
    ``instance`` [V, H, W] int16 (int32 when a label does not fit; -1 = void), ``time`` [V] float32. Memory:
    3 B/ray for uint8 rgb, plus 4 (depth), 1 (mask), 2 or 4 per label map, against 64 B/ray for float32
    origins, directions, rgb, dir_norm and int64 view and pixel per ray.

    Flat ray id r = k H W + v W + u for pixel (u, v) = (column, row) of the k-th stored view (view-major,
    row-major). ``restrict(idx)`` keeps a subset of rays in a given order (the bank then also holds their flat
    ids, int32 when they fit); ``len``, ``gather`` and ``chunks`` then address positions in that list.

    rgb quantisation: with uint8 storage, ``gather`` returns ``u8.float() / 255`` (float32), which equals
    the loaders' float image bit for bit when it was read from an 8-bit file (``read_rgb``: float32(u8) / 255).
    Other images (16-bit files, alpha composited onto a background, synthetic floats) are rounded to the
    nearest multiple of 1/255; ``rgb_quantization_error`` is the largest absolute change over all stored
    pixels (0.0 when exact). Pass ``dtype=torch.float32`` to keep such images exactly.

    Images are read one view at a time with ``scene.load_image`` (lazy scenes work; peak memory = the bank
    plus one float32 view).
    """

    def __init__(
        self,
        scene: SceneData,
        views: Sequence[int] | str,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.uint8,
    ):
        idx = scene.split(views) if isinstance(views, str) else [int(i) for i in views]
        if len(idx) == 0:
            raise ValueError("RayBank: no view selected")
        if dtype not in RGB_DTYPES:
            raise ValueError(f"RayBank dtype must be one of {RGB_DTYPES}, got {dtype}")
        H, W, V = int(scene.height), int(scene.width), len(idx)
        self.views = idx
        self.height, self.width = H, W
        self.device = torch.device(device)
        self.rgb_quantization_error = 0.0
        self.K = torch.as_tensor(np.asarray(scene.K, dtype=np.float32)[idx], device=device)
        self.c2w = torch.as_tensor(np.asarray(scene.c2w, dtype=np.float32)[idx], device=device)
        self.images = torch.empty(V, H, W, 3, dtype=dtype, device=device)
        for k, i in enumerate(idx):
            self.images[k] = self._encode_image(scene, i, dtype)

        def per_view(arr, torch_dtype):
            if arr is None:
                return None
            out = torch.empty(V, *arr.shape[1:], dtype=torch_dtype, device=device)
            for k, i in enumerate(idx):
                out[k] = torch.as_tensor(np.asarray(arr[i]), device=device).to(torch_dtype)
            return out

        self.depth = per_view(scene.depth, torch.float32)
        self.mask = per_view(scene.masks, torch.bool)
        self.semantic = None if scene.semantics is None else per_view(scene.semantics, _label_dtype(scene.semantics))
        self.instance = None if scene.instances is None else per_view(scene.instances, _label_dtype(scene.instances))
        self.time = per_view(scene.times, torch.float32)
        self._ids: torch.Tensor | None = None
        self._derive_cameras()

    def _encode_image(self, scene: SceneData, i: int, dtype: torch.dtype) -> torch.Tensor:
        image = torch.as_tensor(np.asarray(scene.load_image(i), dtype=np.float32), device=self.device)
        if tuple(image.shape) != (self.height, self.width, 3):
            raise ValueError(
                f"{scene.root or scene.format}: view {i} image has shape {tuple(image.shape)}; "
                f"expected {(self.height, self.width, 3)}"
            )
        if dtype != torch.uint8:
            stored = image.to(dtype)
            err = (stored.float() - image).abs().max()
        else:
            stored = torch.round(image * 255).clamp_(0, 255).to(torch.uint8)
            err = (stored.float() / 255 - image).abs().max()
        self.rgb_quantization_error = max(self.rgb_quantization_error, float(err))
        return stored

    def _derive_cameras(self) -> None:
        """Per-view K^-1 and R, transposed for row-vector products (inverted one view at a time as get_rays)."""
        self._kinv_t = torch.stack([torch.linalg.inv(k).transpose(0, 1) for k in self.K]).contiguous()
        self._rot_t = self.c2w[:, :3, :3].transpose(1, 2).contiguous()
        self._views_t = torch.as_tensor(self.views, dtype=torch.int64, device=self.device)

    def __len__(self) -> int:
        if self._ids is not None:
            return int(self._ids.shape[0])
        return len(self.views) * self.height * self.width

    @property
    def restricted(self) -> bool:
        """True after ``restrict``: the rays are a subset of the stored pixels."""
        return self._ids is not None

    @property
    def nbytes(self) -> int:
        """Bytes held by the bank's tensors (storage, derived camera matrices and restricted ids)."""
        tensors = (self.images, self.K, self.c2w, self.depth, self.mask, self.semantic, self.instance, self.time)
        tensors += (self._ids, self._kinv_t, self._rot_t, self._views_t)
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def flat_ids(self, idx: torch.Tensor) -> torch.Tensor:
        """Flat ray ids (k H W + v W + u) [B] int64 of positions ``idx`` [B] in this bank's ray list."""
        idx = torch.as_tensor(idx, device=self.device).long()
        return idx if self._ids is None else self._ids[idx].long()

    def gather(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Batch dict of rays ``idx`` [B] (positions in this bank's ray list), on the bank's device.

        rays_o [B, 3], rays_d [B, 3] (unit), viewdirs [B, 3] (the same tensor as rays_d), dir_norm [B]
        (||K^-1 [u+0.5, v+0.5, 1]||; ``rays_d * dir_norm`` is the camera-z-1 direction), rgb [B, 3] float32 in
        [0, 1]: float32. view [B] (the scene's view index), pixel [B, 2] (u, v): int64. Where the scene has
        them: depth [B] float32 (distance along the unit ray = z-depth * dir_norm; 0 invalid), mask [B]
        float32 0/1, time [B] float32, semantic [B] and instance [B] int64 (-1 void).
        """
        ids = self.flat_ids(idx)
        H, W = self.height, self.width
        k, rem = ids // (H * W), ids % (H * W)
        v, u = rem // W, rem % W
        pix = torch.stack([u.float() + 0.5, v.float() + 0.5, torch.ones(u.shape, device=self.device)], -1)
        d = ((pix[:, None, :] @ self._kinv_t[k]) @ self._rot_t[k])[:, 0]
        norm = torch.linalg.norm(d, dim=-1)
        rays_d = d / norm[:, None]
        rgb = self.images[k, v, u]
        rgb = rgb.float() / 255 if rgb.dtype == torch.uint8 else rgb.float()
        out = {
            "rays_o": self.c2w[k, :3, 3],
            "rays_d": rays_d,
            "viewdirs": rays_d,
            "dir_norm": norm,
            "rgb": rgb,
            "view": self._views_t[k],
            "pixel": torch.stack([u, v], -1),
        }
        if self.depth is not None:
            out["depth"] = self.depth[k, v, u] * norm
        if self.mask is not None:
            out["mask"] = self.mask[k, v, u].float()
        if self.time is not None:
            out["time"] = self.time[k]
        if self.semantic is not None:
            out["semantic"] = self.semantic[k, v, u].long()
        if self.instance is not None:
            out["instance"] = self.instance[k, v, u].long()
        return out

    def restrict(self, idx: torch.Tensor) -> RayBank:
        """A bank over the same storage holding only rays ``idx`` [R] (int positions in this bank's ray list,
        or a bool mask [len]), in that order; e.g. the rays that reach occupied space."""
        idx = torch.as_tensor(idx, device=self.device)
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise ValueError(f"restrict: bool mask has shape {tuple(idx.shape)}; expected ({len(self)},)")
            idx = idx.nonzero().squeeze(1)
        idx = idx.long().reshape(-1)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise ValueError(f"restrict: ray indices must lie in [0, {len(self)})")
        ids = self.flat_ids(idx)
        total = len(self.views) * self.height * self.width
        out = self._copy(self.device)
        out._ids = ids.to(torch.int32) if total <= torch.iinfo(torch.int32).max else ids
        return out

    @property
    def ids(self) -> torch.Tensor | None:
        """Flat ids [R] of a restricted bank's rays (int32 when they fit), None for an unrestricted bank."""
        return self._ids

    def with_ids(self, ids: torch.Tensor | None) -> RayBank:
        """A bank over the same storage holding the rays of flat ids ``ids`` [R] (None: every stored pixel);
        ``bank.with_ids(other.ids)`` rebuilds a restriction saved from ``other`` (e.g. in a checkpoint)."""
        total = len(self.views) * self.height * self.width
        out = self._copy(self.device)
        if ids is None:
            out._ids = None
            return out
        ids = torch.as_tensor(ids, device=self.device).reshape(-1)
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= total):
            raise ValueError(f"with_ids: flat ray ids must lie in [0, {total})")
        out._ids = ids.to(torch.int32) if total <= torch.iinfo(torch.int32).max else ids.long()
        return out

    def chunks(self, chunk: int = 65536) -> Iterator[dict[str, torch.Tensor]]:
        """``gather`` dicts of consecutive rays [0, chunk), [chunk, 2 chunk), ... covering every ray once."""
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        n = len(self)
        for start in range(0, n, chunk):
            yield self.gather(torch.arange(start, min(start + chunk, n), device=self.device))

    def to(self, device: str | torch.device) -> RayBank:
        """A bank with every tensor on ``device``."""
        return self._copy(torch.device(device))

    def _copy(self, device: torch.device) -> RayBank:
        out = RayBank.__new__(RayBank)
        out.__dict__.update(self.__dict__)
        out.device = device
        for name, value in self.__dict__.items():
            if isinstance(value, torch.Tensor):
                setattr(out, name, value.to(device))
        return out


def image_rays(scene: SceneData, i: int, device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Rays of every pixel of view i, for rendering a full image: rays_o, rays_d [H, W, 3] float32, unit rays_d."""
    K = torch.as_tensor(np.asarray(scene.K[i], dtype=np.float32), device=device)
    c2w = torch.as_tensor(np.asarray(scene.c2w[i], dtype=np.float32), device=device)
    o, d = get_rays(K, c2w, scene.height, scene.width, normalize=False)
    return o, d / torch.linalg.norm(d, dim=-1, keepdim=True)


def view_ray_dict(scene: SceneData, i: int, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Every pixel of view i as a ray dict with the keys of ``RayBank.gather`` (row-major, H W rays).

    rgb is the scene's float32 image unquantised (for evaluation); it equals a uint8 bank's rgb wherever the
    image is exactly representable in 8 bits.
    """
    bank = RayBank(scene, [i], device=device, dtype=torch.float32)
    return bank.gather(torch.arange(len(bank), device=bank.device))
