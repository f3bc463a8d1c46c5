"""Per-image PSNR / SSIM / LPIPS of a rendered test split, as a JSON-ready dict with its conventions.

A metric that cannot be computed (LPIPS without its weights) is ``None`` with the reason under
``"missing"``, never a number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from common.data.io import atomic_write_bytes
from common.metrics.errors import MetricUnavailable
from common.metrics.image import conventions, psnr, ssim
from common.metrics.lpips import load_lpips, lpips, lpips_conventions

Images = Sequence[np.ndarray] | Sequence[torch.Tensor] | np.ndarray | torch.Tensor


def evaluate_images(
    preds: Images,
    gts: Images,
    names: Sequence[str] | None = None,
    lpips_net: str | None = "alex",
    device: torch.device | str | None = None,
    *,
    backbone_path: str | Path | None = None,
    heads_path: str | Path | None = None,
) -> dict:
    """Metrics of ``preds`` against ``gts``: sequences of ``[H, W, 3]`` images in [0, 1] (sizes may differ
    between pairs) or ``[B, H, W, 3]`` batches; ``names`` default to "0000", "0001", ...

    Returns ``{"conventions": {"psnr", "ssim", "lpips": {version, net, backbone_file, heads_file} or
    {"missing": reason}}, "per_image": [{"name", "psnr", "ssim", "lpips"}], "mean": {"psnr", "ssim", "lpips"},
    "missing": {"lpips": reason} or {}}``. Means are over images (mean of per-image PSNR, as in the NeRF
    literature). ``lpips_net=None`` skips LPIPS (reported as missing). PSNR of identical images is ``inf``.
    PSNR/SSIM run on the inputs' device; LPIPS on ``device`` (default: the torch input's device, else CPU).
    """
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions but {len(gts)} ground-truth images; expected equal counts")
    names = [f"{i:04d}" for i in range(len(preds))] if names is None else [str(n) for n in names]
    if len(names) != len(preds):
        raise ValueError(f"got {len(names)} names for {len(preds)} images; expected one name per image")

    missing: dict[str, str] = {}
    try:
        if lpips_net is None:
            raise MetricUnavailable("LPIPS not requested (lpips_net=None)")
        lpips_info = lpips_conventions(lpips_net, backbone_path, heads_path)
        load_lpips(lpips_net, device, backbone_path, heads_path)
    except MetricUnavailable as exc:
        missing["lpips"] = exc.reason
        lpips_info = {"missing": exc.reason}

    per_image = []
    for name, pred, gt in zip(names, preds, gts):
        row = {"name": name, "psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "lpips": None}
        if "lpips" not in missing:
            row["lpips"] = lpips(pred, gt, lpips_net, device=device, backbone_path=backbone_path, heads_path=heads_path)
        per_image.append(row)

    def mean(key: str) -> float | None:
        values = [row[key] for row in per_image]
        return None if not values or values[0] is None else float(np.mean(values))

    return {
        "conventions": {**conventions(), "lpips": lpips_info},
        "per_image": per_image,
        "mean": {"psnr": mean("psnr"), "ssim": mean("ssim"), "lpips": mean("lpips")},
        "missing": missing,
    }


def write_report(report: dict, path: str | Path) -> None:
    """Write ``report`` as indented JSON, atomically (an infinite PSNR is written as ``Infinity``)."""
    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
