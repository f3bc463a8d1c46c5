"""NeuS as a model family of the experiment driver: data in the unit sphere, one stage, images + mesh evaluation.

Data: the scene of ``cfg.data`` (real or the synthetic default), mapped into the unit sphere NeuS assumes
(``model.normalize``: "sphere" scales the scene's bounding box into the sphere of radius ``sphere_radius``
about its centre, composing with the loader's normalisation; "none" keeps the loader's frame, e.g. DTU's
cameras_sphere.npz frame). Evaluation (``neus_evaluate``): the driver's image metrics on the test views, then
a marching-cubes mesh (``model.mesh_resolution``) over the scene box, written in WORLD units
(``mesh.ply``, through the normalisation inverse), and, when the scene has a ground-truth mesh
(``SceneData.mesh_path``), the surface metrics of ``common.metrics.surface`` (MonoSDF Replica protocol;
culled against ``traj.txt`` when the scene directory has one, the NICE-SLAM 1200x680 camera, else against
the scene's own views; ``model.surface_samples`` points per mesh, 200k in the protocol), merged into the
report's "mean" and written to ``surface_metrics.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from common.config import Config
from common.data.replica_nice_slam import read_trajectory
from common.engine.experiment import ExperimentData, ModelFamily, Stage, final_evaluation, load_data
from common.metrics.surface import SURFACE_METRICS, evaluate_mesh, save_mesh
from common.rays import RayBank
from s3im.models.neus.mesh import extract_mesh
from s3im.models.neus.model import NeuS

# NICE-SLAM's Replica camera: the one MonoSDF culls reconstructions with (traj.txt poses)
NICE_SLAM_K = np.array([[600.0, 0.0, 599.5], [0.0, 600.0, 339.5], [0.0, 0.0, 1.0]])
NICE_SLAM_SIZE = (1200, 680)
NORMALIZE = ("sphere", "none")
FAMILY_KEYS = ("normalize", "sphere_radius", "surface_samples")  # model: keys read here, not by NeuS


def neus_data(cfg: Config) -> ExperimentData:
    """The scene of ``cfg.data`` in the unit-sphere frame (``model.normalize``) with its training rays."""
    scene, source = load_data(cfg)
    mode = cfg.model.get("normalize", "sphere")
    if mode not in NORMALIZE:
        raise ValueError(f"model.normalize must be one of {NORMALIZE}, got {mode!r}")
    if mode == "sphere":
        scene = scene.normalize("sphere", float(cfg.model.get("sphere_radius", 1.0)))
    return ExperimentData(scene=scene, source=source, train=RayBank(scene, "train"))


def model_config(cfg: Config, scene=None) -> dict:
    """The ``model:`` subtree minus the family's own keys (normalize, sphere_radius); ``grid_box: scene`` becomes
    the normalised scene box of ``scene`` (``grid_box_of``)."""
    out = {k: v for k, v in cfg.model.to_dict().items() if k not in FAMILY_KEYS}
    if out.get("grid_box") == "scene":
        if scene is None:
            raise ValueError("model.grid_box: scene needs the scene (its normalised bounding box)")
        out["grid_box"] = grid_box_of(scene)
    return out


def grid_box_of(scene) -> list[list[float]]:
    """The normalised scene box [[lo], [hi]] clipped to [-1, 1]^3 (the region NeuS models)."""
    lo, hi = np.asarray(scene.bbox, dtype=np.float64)
    return [np.maximum(lo, -1.0).tolist(), np.minimum(hi, 1.0).tolist()]


def neus_stages(cfg: Config, data: ExperimentData, device: torch.device) -> list[Stage]:
    model_cfg = model_config(cfg, data.scene)

    def build(_previous) -> torch.nn.Module:
        return NeuS(model_cfg).to(device)

    return [Stage("", cfg.train.iters, build)]


def cull_cameras(scene) -> tuple[tuple[np.ndarray, np.ndarray, int, int], str]:
    """((K, c2w [N, 4, 4] world, width, height), description) of the trajectory used for culling."""
    traj = Path(scene.root) / "traj.txt" if scene.root else None
    if traj is not None and traj.is_file():
        return (NICE_SLAM_K, read_trajectory(traj), *NICE_SLAM_SIZE), f"{traj.name} (NICE-SLAM 1200x680 camera)"
    c2w = scene.normalization.inverse_c2w(np.asarray(scene.c2w, dtype=np.float64))
    return (np.asarray(scene.K, dtype=np.float64), c2w, scene.width, scene.height), "the scene's own views"


def mesh_bounds(scene, pad: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """The normalised scene box padded by ``pad`` of its size, clipped to [-1.01, 1.01]^3 (NeuS's box)."""
    lo, hi = np.asarray(scene.bbox, dtype=np.float64)
    size = hi - lo
    return np.maximum(lo - pad * size, -1.01), np.minimum(hi + pad * size, 1.01)


def neus_evaluate(model: NeuS, data: ExperimentData, cfg: Config, run, device) -> dict:
    """Image metrics (driver), the world-unit mesh and, with a ground-truth mesh, the surface metrics."""
    scene = data.scene
    report = final_evaluation(model, scene, cfg, run, device, data.source)
    lo, hi = mesh_bounds(scene)
    res = int(model.cfg["mesh_resolution"])
    verts, faces = extract_mesh(model.sdf, res, lo, hi, float(model.cfg["mesh_threshold"]), scene.normalization, device)
    report["mesh"] = {"resolution": res, "vertices": len(verts), "faces": len(faces), "units": "world (scene's own)"}
    missing = report.setdefault("missing", {})
    if len(faces):
        save_mesh(run.path / "mesh.ply", verts, faces)
        report["mesh"]["path"] = "mesh.ply"
    if not scene.mesh_path:
        for k in SURFACE_METRICS:
            missing[k] = "the scene has no ground-truth mesh"
    elif not len(faces):
        for k in SURFACE_METRICS:
            missing[k] = "marching cubes found no surface (the SDF has no zero crossing in the scene box)"
    else:
        cameras, desc = cull_cameras(scene)
        n_samples = int(cfg.model.get("surface_samples", 200_000))
        surf = evaluate_mesh(
            run.path / "mesh.ply", scene.mesh_path, cameras=cameras, n_samples=n_samples, seed=cfg.experiment.seed
        )
        surf["protocol"]["cull_cameras"] = desc
        surf["ground_truth"] = Path(scene.mesh_path).name
        run.write_json("surface_metrics.json", surf)
        report["surface"] = surf
        report["mean"].update(surf["metrics"])
        missing.update(surf.get("missing", {}))
    run.write_json("test_metrics.json", report)
    return report


NEUS = ModelFamily(
    stages=neus_stages,
    data=neus_data,
    evaluate=neus_evaluate,
    description="NeuS (official architecture), SDF volume rendering, mesh + surface metrics",
)
