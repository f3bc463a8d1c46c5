"""Validation and layout conversion shared by the image metrics.

Every image metric takes ``pred`` and ``gt`` as one image ``[H, W, C]`` or a batch ``[B, H, W, C]``,
numpy arrays or torch tensors, float values in [0, 1]. ``image_pair`` turns them into torch
``[B, C, H, W]`` tensors and remembers how to hand the result back (``ImagePair.output``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class ImagePair:
    """Two image batches ``x`` (pred) and ``y`` (gt), both ``[B, C, H, W]`` on one device.

    ``batched``: the inputs had a batch axis. ``as_torch``: at least one input was a torch tensor.
    """

    x: torch.Tensor
    y: torch.Tensor
    batched: bool
    as_torch: bool

    def output(self, values: torch.Tensor) -> float | np.ndarray | torch.Tensor:
        """Per-image ``values`` [B] -> a float (single image), else a 1-D tensor or numpy array."""
        values = values.detach()
        if not self.batched:
            return float(values[0])
        return values if self.as_torch else values.cpu().numpy()


def _as_tensor(img: object, role: str) -> torch.Tensor:
    if isinstance(img, torch.Tensor):
        t = img.detach()
    elif isinstance(img, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(img))
    else:
        raise TypeError(f"{role}: got {type(img).__name__}; expected a numpy array or torch tensor")
    if not t.is_floating_point():
        raise TypeError(f"{role}: got dtype {t.dtype}; expected float images with values in [0, 1]")
    if t.ndim not in (3, 4):
        raise ValueError(f"{role}: got shape {tuple(t.shape)}; expected [H, W, C] or [B, H, W, C]")
    return t


def image_pair(
    pred: object,
    gt: object,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    channels: int | None = None,
) -> ImagePair:
    """Check ``pred``/``gt`` and convert both to ``[B, C, H, W]`` tensors of ``dtype``.

    The device is ``device`` when given, else the device of the first torch input, else CPU.
    ``channels``: the required C (e.g. 3 for LPIPS); any C >= 1 when None.
    """
    x, y = _as_tensor(pred, "pred"), _as_tensor(gt, "gt")
    if x.shape != y.shape:
        raise ValueError(f"pred has shape {tuple(x.shape)} but gt has {tuple(y.shape)}; expected equal shapes")
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(f"images have {x.shape[-1]} channels; expected [..., H, W, {channels}]")
    if device is None:
        tensors = [t for t in (pred, gt) if isinstance(t, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
    batched = x.ndim == 4
    if not batched:
        x, y = x[None], y[None]
    x = x.to(device=device, dtype=dtype).permute(0, 3, 1, 2)
    y = y.to(device=device, dtype=dtype).permute(0, 3, 1, 2)
    as_torch = isinstance(pred, torch.Tensor) or isinstance(gt, torch.Tensor)
    return ImagePair(x=x, y=y, batched=batched, as_torch=as_torch)
