"""Dynamic NeRF as a model family: an ``nvidia_dynamic`` scene, a static pre-training stage, then the dynamic stage.

Data: ``data.root`` (a sequence in the official DynamicNeRF layout, see ``common.data.nvidia_dynamic``; its
``disp/``, ``flow/`` and ``motion_masks/`` priors must have been computed elsewhere with MiDaS / RAFT) or, when
unset, the synthetic ``nvidia_dynamic`` kind of ``common.data.synthetic`` whose priors are the GENERATOR'S
GROUND TRUTH (named so in ``test_metrics.json`` -> "priors" and in ``priors.json`` of the run directory).

Stages (official ``run_nerf.py`` with ``pretrain = True``): "static" (``model.pretrain_iters`` steps, F_s only,
rays drawn from the static pixels of one random frame per step, no S3IM) then "" (``train.iters`` steps,
F_d only with F_s frozen, every loss; S3IM, when enabled, on the composite colour). ``model.pretrain=false``:
one stage training both fields.

Sampler (``DynamicRaySampler``, official "evenly sample dynamic region and static region"): per step a
frame k uniform over the training frames, one random permutation of its pixels, then the first
min(B / 2, #moving) moving pixels and B minus that many static ones (static first in the batch), drawn
without replacement. The official batch shrinks when a frame has fewer than B / 2 moving pixels; ours is
filled with static pixels so that it always holds B rays (S3IM's virtual patch needs a fixed size). Each
batch carries the frame's priors per ray: disp, flow_fwd / flow_bwd [R, 2], mask_fwd / mask_bwd, static
(1 - motion mask), frame.
"""

from __future__ import annotations

import numpy as np
import torch

from common.config import Config
from common.data import DataFormatError
from common.engine.experiment import ExperimentData, ModelFamily, Stage, final_evaluation, load_data
from common.rays import RayBank
from s3im.models.dynamic_nerf.model import DynamicNeRF, resolve_config

PRIOR_KEYS = ("disp", "flow_fwd", "mask_fwd", "flow_bwd", "mask_bwd")


def dynamic_nerf_data(cfg: Config) -> ExperimentData:
    """The sequence of ``cfg.data`` (synthetic ``nvidia_dynamic`` when ``data.root`` is unset), with its priors."""
    data = cfg.data
    if data.format != "nvidia_dynamic":
        raise DataFormatError(data.root or data.format, f"format '{data.format}'", "data.format: nvidia_dynamic")
    scene, source = load_data(cfg)
    if scene.extras.get("priors") is None:
        raise DataFormatError(scene.root, "no prior maps loaded", "disp/, flow/ and motion_masks/ (require_priors)")
    if "test" not in scene.splits:
        raise DataFormatError(scene.root, scene.extras.get("test_missing") or "no test split", "gt/v000_t*.png")
    return ExperimentData(scene=scene, source=source, train=RayBank(scene, "train"))


def priors_label(scene) -> str:
    return f"priors: {scene.extras.get('priors_source', 'unknown')}"


class DynamicRaySampler:
    """Batches of ``batch_size`` rays of one random training frame (module doc); ``mode`` "static" draws static
    pixels only (static pre-training), "balanced" half moving / half static."""

    def __init__(self, bank: RayBank, priors: dict, batch_size: int, mode: str = "balanced"):
        if mode not in ("static", "balanced"):
            raise ValueError(f"DynamicRaySampler mode must be 'static' or 'balanced', got {mode!r}")
        if bank.restricted:
            raise ValueError("DynamicRaySampler needs an unrestricted RayBank")
        self.bank, self.batch_size, self.mode = bank, int(batch_size), mode
        dev = bank.device
        frames = list(range(len(bank.views)))
        self.priors = {k: torch.as_tensor(np.asarray(priors[k])[frames], device=dev).float() for k in PRIOR_KEYS}
        self.moving = torch.as_tensor(np.asarray(priors["motion_mask"])[frames], device=dev).bool()
        n = self.bank.height * self.bank.width
        if self.batch_size > n:
            raise ValueError(f"batch_size {self.batch_size} exceeds the {n} pixels of a frame")

    def pixel_ids(self, k: int, generator: torch.Generator) -> torch.Tensor:
        """Pixel ids v W + u [B] of frame k: moving ones after static ones (module doc)."""
        H, W, B = self.bank.height, self.bank.width, self.batch_size
        perm = torch.randperm(H * W, generator=generator, device=generator.device).to(self.bank.device)
        moving = self.moving[k].reshape(-1)[perm]
        stat, dyn = perm[~moving], perm[moving]
        if self.mode == "static":
            if len(stat) == 0:
                raise ValueError(f"frame {k} has no static pixel")
            return stat[torch.arange(B, device=stat.device) % len(stat)]
        n_d = min(B // 2, len(dyn))
        n_s = min(B - n_d, len(stat))
        n_d = B - n_s
        return torch.cat([stat[:n_s], dyn[:n_d]])

    def __call__(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        H, W = self.bank.height, self.bank.width
        k = int(torch.randint(len(self.bank.views), (1,), generator=generator, device=generator.device))
        pix = self.pixel_ids(k, generator)
        batch = self.bank.gather(k * H * W + pix)
        v, u = pix // W, pix % W
        for key, arr in self.priors.items():
            batch[key] = arr[k, v, u]
        batch["static"] = (~self.moving[k, v, u]).float()
        batch["frame"] = torch.full_like(pix, k)
        return batch


def dynamic_nerf_sampler(cfg: Config, data: ExperimentData, stage: Stage, bank: RayBank) -> DynamicRaySampler:
    mode = "static" if stage.name == "static" else "balanced"
    return DynamicRaySampler(bank, data.scene.extras["priors"], cfg.train.batch_size, mode)


def dynamic_nerf_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    model_cfg = cfg.model.to_dict()
    c = resolve_config(model_cfg)
    scene = data.scene
    train = scene.split("train")

    def build_static(_previous) -> torch.nn.Module:
        model = DynamicNeRF(model_cfg, scene.c2w[train], scene.K[train], scene.height, scene.width)
        model.set_phase("static")
        return model.to(device)

    def build_dynamic(previous) -> torch.nn.Module:
        model = previous
        if model is None:
            model = DynamicNeRF(model_cfg, scene.c2w[train], scene.K[train], scene.height, scene.width).to(device)
        model.set_phase("dynamic")
        return model

    if not c["pretrain"]:
        return [Stage("", cfg.train.iters, build_dynamic)]
    return [
        Stage("static", int(c["pretrain_iters"]), build_static, extra_losses=False),
        Stage("", cfg.train.iters, build_dynamic),
    ]


def dynamic_nerf_evaluate(model, data: ExperimentData, cfg: Config, run, device) -> dict:
    """The driver's test evaluation (fixed view v000 at every time), with the priors named in the report."""
    report = final_evaluation(model, data.scene, cfg, run, device, data.source)
    report["priors"] = priors_label(data.scene)
    report["protocol"] = "camera 0 (v000) at every training time, official utils/evaluation.py"
    run.write_json("test_metrics.json", report)
    run.write_json("priors.json", {"priors": priors_label(data.scene), "data_source": data.source})
    return report


DYNAMIC_NERF = ModelFamily(
    stages=dynamic_nerf_stages,
    data=dynamic_nerf_data,
    sampler=dynamic_nerf_sampler,
    evaluate=dynamic_nerf_evaluate,
    description="Dynamic NeRF (Gao et al.): static + dynamic NeRF, scene flow, blending, depth / flow priors",
)
