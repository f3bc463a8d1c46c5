"""NeuS family evaluation (s3im.models.neus.family): world-unit mesh, surface metrics, unit-sphere data."""

from __future__ import annotations

import json

import numpy as np
import torch

from common.config import load_config
from common.data.scene import SceneData
from common.engine.experiment import ExperimentData
from common.engine.run_dir import RunDir
from common.metrics.surface import load_mesh, save_mesh
from common.o3d import import_open3d
from s3im.models.neus.family import cull_cameras, mesh_bounds, model_config, neus_evaluate
from s3im.models.neus.model import NeuS


def tiny_scene(tmp_path) -> SceneData:
    """Two 16 x 16 views of a world-unit sphere (radius 2 about (1, 2, 3)) with its mesh as ground truth."""
    o3d = import_open3d()
    sphere = o3d.geometry.TriangleMesh.create_sphere(radius=2.0, resolution=20)
    v = np.asarray(sphere.vertices) + [1.0, 2.0, 3.0]
    gt = save_mesh(tmp_path / "gt.ply", v, np.asarray(sphere.triangles))
    c2w = np.tile(np.eye(4), (2, 1, 1)).astype(np.float32)
    c2w[:, :3, 3] = [[1.0, 2.0, -5.0], [1.0, 2.0, -6.0]]
    K = np.tile(np.array([[16.0, 0, 8], [0, 16.0, 8], [0, 0, 1]], np.float32), (2, 1, 1))
    bbox = np.array([[-1.5, -0.5, 0.5], [3.5, 4.5, 5.5]], np.float32)
    return SceneData(
        images=np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32),
        K=K,
        c2w=c2w,
        height=16,
        width=16,
        splits={"train": [0, 1], "test": [1]},
        near=0.5,
        far=12.0,
        bbox=bbox,
        mesh_path=str(gt),
        root=str(tmp_path),
    ).normalize("sphere")


def test_evaluation_writes_world_mesh_and_surface_metrics(tmp_path):
    cfg = load_config("s3im/configs/neus_replica.yaml", "smoke", None, ["eval.lpips_net=null"])
    scene = tiny_scene(tmp_path)
    torch.manual_seed(0)
    model = NeuS({**model_config(cfg), "inside_outside": False, "bias": 0.7})  # a sphere at init
    run = RunDir(tmp_path / "run", config=cfg)
    report = neus_evaluate(model, ExperimentData(scene=scene, source="synthetic"), cfg, run, "cpu")
    v, _ = load_mesh(run.path / "mesh.ply")
    # the mesh is in world units: its centre is near the world centre of the scene box, not near the origin
    assert np.linalg.norm(v.mean(0) - [1.0, 2.0, 3.0]) < 1.0
    on_disk = json.loads((run.path / "test_metrics.json").read_text())
    for k in ("chamfer_l1", "accuracy", "completeness", "fscore", "normal_consistency"):
        assert k in on_disk["mean"] and np.isfinite(on_disk["mean"][k]), k
    assert report["surface"]["protocol"]["cull_cameras"] == "the scene's own views"
    assert json.loads((run.path / "surface_metrics.json").read_text())["ground_truth"] == "gt.ply"


def test_culling_cameras_are_in_world_units_and_mesh_bounds_clip(tmp_path):
    scene = tiny_scene(tmp_path)
    (K, c2w, w, h), desc = cull_cameras(scene)
    assert np.allclose(c2w[:, :3, 3], [[1.0, 2.0, -5.0], [1.0, 2.0, -6.0]], atol=1e-5) and (w, h) == (16, 16)
    lo, hi = mesh_bounds(scene)
    assert (lo >= -1.01).all() and (hi <= 1.01).all() and (hi > lo).all()
