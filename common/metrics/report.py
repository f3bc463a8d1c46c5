"""Per-image PSNR / SSIM / LPIPS of a rendered test split, as a JSON-ready dict with its conventions.

A metric that cannot be computed (LPIPS without its weights) is ``None`` with the reason under
``"missing"``, never a number. LPIPS is the requested net when its weights are found, else LPIPS-squeeze
when that network is found (:func:`common.metrics.lpips.choose_lpips`); ``conventions["lpips"]["label"]``
says which, and must be shown beside every LPIPS number taken from the report.
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
from common.metrics.lpips import MIN_SIZE, choose_lpips, load_lpips, lpips, lpips_label

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
    squeeze_path: str | Path | None = None,
    lpips_fallback: bool = True,
) -> dict:
    """Metrics of ``preds`` against ``gts``: sequences of ``[H, W, 3]`` images in [0, 1] (sizes may differ
    between pairs) or ``[B, H, W, 3]`` batches; ``names`` default to "0000", "0001", ...

    Returns ``{"conventions": {"psnr", "ssim", "lpips"}, "per_image": [{"name", "psnr", "ssim", "lpips"}],
    "mean": {"psnr", "ssim", "lpips"}, "missing": {"lpips": reason} or {}}``, where ``conventions["lpips"]`` is
    ``{"version": "0.1", "net_requested", "net", "label", "backbone_file", "heads_file"}`` (plus
    ``"fallback_reason"`` when ``net`` differs from ``net_requested``; label e.g. "LPIPS-alex" or
    "LPIPS-squeeze; the paper reports LPIPS-alex", see :func:`common.metrics.lpips.lpips_label`), or
    ``{"net_requested", "label", "missing": reason}`` when LPIPS cannot be computed (no weights, or an image
    side below the net's minimum, ``MIN_SIZE``).

    LPIPS net: ``lpips_net`` ("alex" by default, the papers' choice) with ``backbone_path`` / ``heads_path``;
    when its files are missing and ``lpips_fallback``, LPIPS-squeeze from ``squeeze_path`` or its default
    locations. ``lpips_net=None`` skips LPIPS (reported as missing). Means are over images (mean of per-image
    PSNR, as in the NeRF literature). PSNR of identical images is ``inf``. PSNR/SSIM run on the inputs' device;
    LPIPS on ``device`` (default: the torch input's device, else CPU).
    """
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions but {len(gts)} ground-truth images; expected equal counts")
    names = [f"{i:04d}" for i in range(len(preds))] if names is None else [str(n) for n in names]
    if len(names) != len(preds):
        raise ValueError(f"got {len(names)} names for {len(preds)} images; expected one name per image")

    missing: dict[str, str] = {}
    choice = None
    try:
        if lpips_net is None:
            raise MetricUnavailable("LPIPS not requested (lpips_net=None)")
        paths = {"backbone_path": backbone_path, "heads_path": heads_path, "squeeze_path": squeeze_path}
        choice = choose_lpips(lpips_net, **paths, fallback=lpips_fallback)
        smallest = min(min(p.shape[0], p.shape[1]) for p in preds) if len(preds) else MIN_SIZE[choice.net]
        if smallest < MIN_SIZE[choice.net]:
            raise MetricUnavailable(
                f"images with a side of {smallest} pixels are too small for LPIPS-{choice.net}; "
                f"expected sides >= {MIN_SIZE[choice.net]}"
            )
        load_lpips(choice.net, device, choice.backbone_file, choice.heads_file)
        lpips_info = choice.conventions()
    except MetricUnavailable as exc:
        choice = None
        missing["lpips"] = exc.reason
        lpips_info = {
            "net_requested": lpips_net,
            "label": lpips_label({"net_requested": lpips_net}),
            "missing": exc.reason,
        }

    per_image = []
    for name, pred, gt in zip(names, preds, gts):
        row = {"name": name, "psnr": psnr(pred, gt), "ssim": ssim(pred, gt), "lpips": None}
        if choice is not None:
            row["lpips"] = lpips(
                pred, gt, choice.net, device=device, backbone_path=choice.backbone_file, heads_path=choice.heads_file
            )
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
