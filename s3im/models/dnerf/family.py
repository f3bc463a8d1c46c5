"""D-NeRF as a model family: a dnerf-format scene (real ``data.root`` or the synthetic animated objects), one stage.

The driver's generic loader has no synthetic default for the dnerf format, so ``dnerf_data`` generates the
``dnerf`` kind of ``common.data.synthetic`` (D-NeRF Blender layout, animated objects) when ``data.root`` is
unset. Training rays carry each view's time (``RayBank`` "time"); the sampler is the driver's
(``train.sampler``; D-NeRF itself draws each batch from one image: ``image``).
"""

from __future__ import annotations

import torch

from common.config import Config
from common.engine.experiment import ExperimentData, ModelFamily, Stage, load_data
from common.rays import RayBank
from s3im.models.dnerf.model import DNeRF


def dnerf_data(cfg: Config) -> ExperimentData:
    """The dnerf-format scene of ``cfg.data`` (synthetic animated objects when ``data.root`` is unset)."""
    scene, source = load_data(cfg)
    if scene.times is None:
        raise ValueError(f"{scene.root}: D-NeRF needs per-frame times ('time' in transforms_*.json)")
    return ExperimentData(scene=scene, source=source, train=RayBank(scene, "train"))


def dnerf_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    model_cfg = cfg.model.to_dict()
    scene = data.scene

    def build(_previous) -> torch.nn.Module:
        return DNeRF(model_cfg, scene.near, scene.far, scene.bbox).to(device)

    return [Stage("", cfg.train.iters, build)]


DNERF = ModelFamily(
    stages=dnerf_stages,
    data=dnerf_data,
    description="D-NeRF: deformation network + canonical NeRF with time input",
)
