"""JacobiNeRF as a model family of the experiment driver: pretrain stage, then the MI-shaping stage.

Stages (``common.engine.experiment.Stage``):
  1. ``pretrain`` (``model.pretrain_iters`` iterations, ``train.batch_size`` random rays over all training pixels):
     the plain NeRF, L = mse(fine) + mse(coarse). Its final checkpoint in ``<run>/pretrain`` is the "NeRF (no
     shaping)" model of Tables 4 and 5.
  2. shaping (``train.iters`` iterations, ``shaping.rays`` = 64 random rays per step; the transition hook
     ``Stage.build`` takes the pretrained model, attaches the per-pixel features of the training views and switches
     it to shaping): L = L_NeRF + lambda L_MIG + gamma mean(||J|| - 1)^2 (``jacobinerf.shaping``), with J the
     batched closed-form Jacobian of ``jacobinerf.jacobian`` (second order through its graph).

Data: ``data.format`` replica_semantic_nerf (Semantic-NeRF layout) or scannet (raw export); ``data.root`` a real
scene, else the synthetic room ``data.scene`` of the matching synthetic kind, written once in that layout.
Features: ``features.source`` (selfsup | dino, see ``jacobinerf.features``), fitted on the training images only and
cached in ``features.cache_dir`` (key: scene, views, image size, feature settings, seed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from common.config import Config, ConfigError
from common.data import SceneData, load_scene
from common.engine.experiment import ExperimentData, ModelFamily, Stage, default_sampler
from common.rays import RayBank, RaySampler
from jacobinerf.features import SELFSUP_VERSION, DenseEncoder, FeatureSource, SelfSupSource, make_source
from jacobinerf.jacobian import flat, grey_jacobian
from jacobinerf.model import ShapedNeRF
from jacobinerf.shaping import AdaptiveThreshold, feature_similarity, gradient_norm_loss, mig_infonce

SYNTHETIC = {"replica_semantic_nerf": "replica_semantic_nerf", "scannet": "scannet"}
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ data
def load_data(cfg: Config) -> tuple[SceneData, str]:
    """(scene, "real" | "synthetic") of ``cfg.data`` (module doc)."""
    from common.data.synthetic import ensure_dataset, is_synthetic

    d = cfg.data
    options = dict(d.get("options") or {})
    if "size" in options and options["size"] is not None:
        options["size"] = tuple(options["size"])
    if d.root:
        source = "synthetic" if is_synthetic(d.root) else "real"
        return load_scene(d.format, d.root, downscale=d.downscale, **options), source
    if d.format not in SYNTHETIC:
        raise ConfigError(f"data.format: no synthetic default for {d.format!r}; set data.root")
    root = ensure_dataset(
        SYNTHETIC[d.format], res=d.synthetic_res, scenes=d.get("synthetic_scenes"), frames=d.get("synthetic_frames")
    )
    return load_scene(d.format, Path(root) / d.scene, downscale=d.downscale, **options), "synthetic"


def jnerf_data(cfg: Config) -> ExperimentData:
    scene, source = load_data(cfg)
    return ExperimentData(scene=scene, source=source, train=RayBank(scene, "train"))


# -------------------------------------------------------------------------------------------- features
def _cache_key(cfg: Config, scene: SceneData, views: list[int]) -> str:
    info = {
        "root": str(scene.root),
        "views": views,
        "size": [scene.height, scene.width],
        "features": cfg.features.to_dict(),
        "seed": cfg.experiment.seed,
        "version": SELFSUP_VERSION,
    }
    return hashlib.sha1(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fitted_source(cfg: Config, scene: SceneData, train_images: torch.Tensor) -> FeatureSource:
    """The feature source of ``cfg.features`` fitted on the training images [V, H, W, 3] (selfsup encoders cached)."""
    fcfg = cfg.features.to_dict()
    source = make_source(fcfg, seed=cfg.experiment.seed)
    if not isinstance(source, SelfSupSource):
        return source.fit(train_images)
    cache = REPO / fcfg["cache_dir"] / f"selfsup-{_cache_key(cfg, scene, scene.split('train'))}.pt"
    if cache.is_file():
        source.encoder = DenseEncoder(dim=source.dim)
        source.encoder.load_state_dict(torch.load(cache, weights_only=True))
        source.encoder.eval()
        return source
    source.fit(train_images)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    torch.save(source.encoder.state_dict(), tmp)
    tmp.replace(cache)
    return source


def bank_images(bank: RayBank) -> torch.Tensor:
    """float images [V, H, W, 3] of a RayBank."""
    return bank.images.float() / 255 if bank.images.dtype == torch.uint8 else bank.images.float()


# ----------------------------------------------------------------------------------------------- model
class JacobiNeRF(ShapedNeRF):
    """``ShapedNeRF`` with the shaping step. ``start_shaping(features, views, shaping_cfg)`` switches the losses
    from L_NeRF to L_TM (module doc); features [V, H, W, D] of the training views ``views`` (scene indices)."""

    def __init__(self, cfg: dict, near: float, far: float):
        super().__init__(cfg, near, far)
        self.shaping = False
        self.threshold = AdaptiveThreshold()
        self.mig_weight = self.norm_weight = 0.0
        self.features: torch.Tensor | None = None
        self.view_row: dict[int, int] = {}

    def start_shaping(self, features: torch.Tensor, views: list[int], shaping: dict) -> JacobiNeRF:
        self.shaping = True
        self.features = features
        self.view_row = {int(v): k for k, v in enumerate(views)}
        self.mig_weight, self.norm_weight = float(shaping["mig_weight"]), float(shaping["norm_weight"])
        self.threshold = AdaptiveThreshold(
            tau=float(shaping["tau_init"]),
            tau_min=float(shaping["tau_min"]),
            tau_max=float(shaping["tau_max"]),
            step=float(shaping["tau_step"]),
            low=float(shaping["pos_low"]),
            high=float(shaping["pos_high"]),
        )
        return self

    def forward(self, batch: dict, step: int | None = None) -> dict[str, torch.Tensor]:
        out = self.render_rays(batch, keep_samples=self.shaping)
        if self.shaping:
            out["jacobian"] = flat(grey_jacobian(out["weights"], out["logits"], out["h"]))
        return out

    def batch_features(self, batch: dict) -> torch.Tensor:
        """Features [R, D] of the batch pixels (view, pixel (u, v))."""
        rows = torch.tensor([self.view_row[int(v)] for v in batch["view"]], device=batch["view"].device)
        u, v = batch["pixel"][:, 0], batch["pixel"][:, 1]
        return self.features[rows, v, u]

    def losses(self, outputs: dict, batch: dict, step: int | None = None) -> dict[str, torch.Tensor]:
        terms = super().losses(outputs, batch, step)
        if not self.shaping:
            return terms
        jac = outputs["jacobian"]
        positives = self.threshold.positives(feature_similarity(self.batch_features(batch)))
        mig, _ = mig_infonce(jac, positives)
        terms["mig"] = self.mig_weight * mig
        terms["grad_norm"] = self.norm_weight * gradient_norm_loss(jac)
        return terms

    def extra_checkpoint_state(self) -> dict:
        return {"tau": self.threshold.tau, "shaping": self.shaping}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self.threshold.tau = float(state["tau"])


# ---------------------------------------------------------------------------------------------- stages
def jnerf_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    """[pretrain, shaping] (module doc)."""
    scene = data.scene
    model_cfg = cfg.model.to_dict()

    def build_pretrain(_previous) -> JacobiNeRF:
        return JacobiNeRF(model_cfg, scene.near, scene.far).to(device)

    def build_shaping(previous: JacobiNeRF) -> JacobiNeRF:
        source = fitted_source(cfg, scene, bank_images(data.train))
        feats = source(bank_images(data.train)).to(device)
        previous.feature_source = source.name
        return previous.start_shaping(feats, list(data.train.views), cfg.shaping.to_dict())

    return [
        Stage("pretrain", int(cfg.model.pretrain_iters), build_pretrain),
        Stage("", int(cfg.train.iters), build_shaping, sampler="iid"),
    ]


def jnerf_sampler(cfg: Config, data: ExperimentData, stage: Stage, bank: RayBank):
    """Pretrain: the driver's default sampler; shaping: ``shaping.rays`` i.i.d. rays over all training pixels."""
    if stage.name == "pretrain":
        return default_sampler(cfg, data, stage, bank)
    return RaySampler(bank, int(cfg.shaping.rays), mode="iid")


JNERF = ModelFamily(
    stages=jnerf_stages,
    data=jnerf_data,
    sampler=jnerf_sampler,
    description="JacobiNeRF: vanilla NeRF pretraining, then MI-shaping of the fine rgb_linear tangent space",
)
