"""SparseFusion's evaluation protocol and the per-scene evaluation of every method.

Protocol (official ``load_dataset_test``): a dev sequence of n frames gives 32 evaluation frames
``linspace(0, n - 1, 32).long()``; the input views are the first V of ``randperm(32)`` drawn with a generator
seeded with the scene's index; the other 32 - V views are evaluated on the masked (black background) image
crops: PSNR, SSIM and LPIPS (VGG as the official code; LPIPS-squeeze, named, when VGG's weights are absent).
Each evaluated view also records the angle (degrees, about the object centre) to its nearest input view,
binned 0-15, 15-30, 30-45, 45+ (Figure 8).

Methods: "black" (all-background prediction: the reference a model must beat), "eft" (EFT colour renders),
"vldm" (one VLDM sample per view, conditioned on EFT features), "pixelnerf" (the category's PixelNeRF rendering the
targets from the input views, ``sparsefusion.pixelnerf``; its report names the encoder's weight source),
"eft_ingp" / "vldm_ingp" (an NGP fit to EFT renders / to VLDM samples: mean seeking, Table 5), and the
diffusion-distilled NGP for each distillation setting (``DistillSettings.key``; "pixel_multi_perceptual" is
SparseFusion). Results are written per (scene, V, method) as JSON and reused by every table script.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.data.co3dv2 import eval_frame_indices
from common.data.io import atomic_write_bytes
from common.metrics import choose_lpips, evaluate_images, load_lpips
from sparsefusion.data import frame_tensor
from sparsefusion.distill import DistillSettings, optimize_ngp
from sparsefusion.geometry import circle_cameras, relative_to, view_angle_deg
from sparsefusion.model import SparseFusionModel
from sparsefusion.pixelnerf import METHOD as PIXELNERF
from sparsefusion.pixelnerf import PixelNeRF

BINS = ((0.0, 15.0), (15.0, 30.0), (30.0, 45.0), (45.0, math.inf))
BIN_LABELS = ("0-15", "15-30", "30-45", "45+")
SPARSEFUSION = DistillSettings().key  # pixel space, multi-step, perceptual
NO_LPIPS_LOSS = ("black", "eft", "vldm", "eft_ingp", "vldm_ingp", PIXELNERF)  # methods without a distillation


def protocol(n_frames: int, n_inputs: int, scene_index: int, n_eval: int = 32) -> tuple[list[int], list[int]]:
    """(evaluation frame indices [n_eval], positions of the input views among them [n_inputs])."""
    frames = eval_frame_indices(n_frames, n_eval)
    g = torch.Generator().manual_seed(scene_index)
    return frames, torch.randperm(n_eval, generator=g)[:n_inputs].tolist()


def angle_bin(angle: float) -> str:
    for (lo, hi), label in zip(BINS, BIN_LABELS):
        if lo <= angle < hi:
            return label
    return BIN_LABELS[-1]


def to_tensors(seq: dict, idx: list[int]) -> dict:
    return {
        "images": frame_tensor(seq["images"][idx]),
        "masks": torch.from_numpy(seq["masks"][idx])[:, None].float(),
        "K": torch.from_numpy(seq["K"][idx]),
        "c2w": torch.from_numpy(seq["c2w"][idx]),
    }


@torch.no_grad()
def eft_views(model: SparseFusionModel, inputs: dict, K: torch.Tensor, c2w: torch.Tensor, res: int) -> dict:
    """EFT renders of cameras (K [M, 3, 3], c2w [M, 4, 4]) from the inputs: rgb [M, 3, S, S] (rendered at
    ``res`` and bilinearly resized to S) and features [M, F, h, w] at latent resolution."""
    size = model.image_size
    imgs, Kc = inputs["images"][None], inputs["K"][None]
    feats = model.eft.encode(imgs)
    rgbs, conds = [], []
    for m in range(len(c2w)):
        q = c2w[m : m + 1]
        rel = relative_to(inputs["c2w"][None], q)
        rgb = model.eft_grid(q, K[m : m + 1], imgs, Kc, rel, feats, res)["rgb"]
        rgbs.append(F.interpolate(rgb, size=(size, size), mode="bilinear", align_corners=False) if res != size else rgb)
        conds.append(model.eft_grid(q, K[m : m + 1], imgs, Kc, rel, feats, model.latent_size)["features"])
    return {"rgb": torch.cat(rgbs).clamp(0, 1), "features": torch.cat(conds)}


@torch.no_grad()
def vldm_samples(model: SparseFusionModel, features: torch.Tensor, steps: int, generator) -> torch.Tensor:
    """One decoded VLDM sample per condition [M, F, h, w] -> [M, 3, S, S]."""
    return torch.cat([model.autoencoder.decode(model.vldm.sample(f[None], steps, generator)) for f in features])


def differentiable_lpips(net: str):
    """(fn(x, y) -> [B] LPIPS on [0, 1] images with gradients, name of the net actually used)."""
    choice = choose_lpips(net)
    model = load_lpips(choice.net, "cpu", choice.backbone_file, choice.heads_file)
    return (lambda x, y: model(x, y, normalize=True)), choice.conventions()["label"]


class SceneEvaluation:
    """Everything one (dev sequence, V input views) evaluation needs, computed once and shared by the methods.

    ``model``: the joint EFT + VLDM model (None when only "pixelnerf" is evaluated); ``pixelnerf``: the category's
    PixelNeRF (needed for "pixelnerf" only).
    """

    def __init__(
        self,
        model: SparseFusionModel | None,
        cfg,
        seq: dict,
        scene_index: int,
        n_inputs: int,
        pixelnerf: PixelNeRF | None = None,
    ):
        self.model, self.cfg, self.seq, self.pixelnerf = model, cfg, seq, pixelnerf
        n_eval = cfg.eval.n_views
        self.frames, self.input_pos = protocol(len(seq["images"]), n_inputs, scene_index, n_eval)
        self.target_pos = [p for p in range(n_eval) if p not in self.input_pos]
        self.inputs = to_tensors(seq, [self.frames[p] for p in self.input_pos])
        self.views = to_tensors(seq, self.frames)
        angles = view_angle_deg(self.views["c2w"][self.target_pos], self.inputs["c2w"]).min(dim=1).values
        self.angles = [float(a) for a in angles]
        self.seed = 1000 * scene_index + n_inputs
        self._cache: dict | None = None

    def cache(self) -> dict:
        """EFT renders and features for the 32 scene cameras + the circle cameras (distillation cache)."""
        if self._cache is None:
            circle = circle_cameras(self.views["c2w"].double(), self.cfg.distill.circle_views).float()
            K = torch.cat([self.views["K"], self.views["K"][:1].expand(len(circle), 3, 3)])
            c2w = torch.cat([self.views["c2w"], circle])
            out = eft_views(self.model, self.inputs, K, c2w, self.cfg.eval.eft_render_res)
            self._cache = {"K": K, "c2w": c2w, "eft_rgb": out["rgb"], "features": out["features"]}
        return self._cache

    def predictions(self, method: str, lpips_fn=None) -> torch.Tensor:
        """[T, 3, S, S] predictions of ``method`` for the target views."""
        g = torch.Generator().manual_seed(self.seed)
        targets = self.target_pos
        if method == PIXELNERF:
            K, c2w = self.views["K"][targets], self.views["c2w"][targets]
            return self.pixelnerf.render_views(self.inputs, K, c2w, self.cfg.pixelnerf.render_res, g)
        cache, cfg = self.cache(), self.cfg
        if method == "black":  # reference: the all-background prediction of the masked targets
            return torch.zeros_like(cache["eft_rgb"][targets])
        if method == "eft":
            return cache["eft_rgb"][targets]
        if method == "vldm":
            return vldm_samples(self.model, cache["features"][targets], cfg.vldm.sample_steps, g)
        dcfg = cfg.distill.to_dict()
        if method == "eft_ingp":
            ngp = optimize_ngp(self.inputs, cache, dcfg, "eft", g)
        elif method == "vldm_ingp":
            samples = vldm_samples(self.model, cache["features"], cfg.vldm.sample_steps, g)
            ngp = optimize_ngp(self.inputs, {**cache, "samples": samples}, dcfg, "samples", g)
        else:
            space, steps, *rest = method.split("_")
            settings = DistillSettings(space, steps == "multi", bool(rest))
            ngp = optimize_ngp(self.inputs, cache, dcfg, "distill", g, self.model, settings, lpips_fn)
        size, res = self.model.image_size, dcfg["render_res"]
        with torch.no_grad():
            out = [ngp.render_image(self.views["K"][p], self.views["c2w"][p], size, res)["rgb"] for p in targets]
            return F.interpolate(torch.stack(out), size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)

    def evaluate(self, method: str, lpips_fn=None) -> tuple[dict, torch.Tensor]:
        """(report with per-view metrics and angles, predictions [T, 3, S, S])."""
        start = time.perf_counter()
        preds = self.predictions(method, lpips_fn)
        gts = self.views["images"][self.target_pos]
        report = evaluate_images(
            list(preds.permute(0, 2, 3, 1).numpy()), list(gts.permute(0, 2, 3, 1).numpy()),
            [str(self.frames[p]) for p in self.target_pos], lpips_net=self.cfg.eval.lpips_net,
        )  # fmt: skip
        for row, angle in zip(report["per_image"], self.angles):
            row["angle_to_nearest_input"] = angle
            row["angle_bin"] = angle_bin(angle)
        report["method"] = method
        if method == PIXELNERF:
            report["encoder"] = self.pixelnerf.encoder.weights_label
        report["input_frames"] = [self.frames[p] for p in self.input_pos]
        report["time_s"] = time.perf_counter() - start
        return report, preds


def write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def run_scene(model, cfg, seq, scene_index, n_inputs, methods, out_dir: Path, pixelnerf=None) -> dict[str, dict]:
    """Evaluate ``methods`` on one scene, reusing results already in ``out_dir`` (JSON + preds .npy)."""
    ev = SceneEvaluation(model, cfg, seq, scene_index, n_inputs, pixelnerf)
    lpips_fn = None
    reports = {}
    for method in methods:
        path = out_dir / f"{method}.json"
        if path.is_file():
            reports[method] = json.loads(path.read_text())
            continue
        if lpips_fn is None and method not in NO_LPIPS_LOSS:
            lpips_fn, label = differentiable_lpips(cfg.eval.lpips_net)
        report, preds = ev.evaluate(method, lpips_fn)
        if lpips_fn is not None:
            report["distill_lpips"] = label
        out_dir.mkdir(parents=True, exist_ok=True)
        np.save(out_dir / f"{method}.npy", (preds.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8))
        write_json(path, report)
        reports[method] = report
    if not (out_dir / "inputs.npy").is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        np.save(out_dir / "inputs.npy", seq["images"][[ev.frames[p] for p in ev.input_pos]])
        np.save(out_dir / "targets.npy", seq["images"][[ev.frames[p] for p in ev.target_pos]])
    return reports
