"""A generator with the pi-GAN interface fitted to the synthetic deformable shape family (ground truth known).

The shape family (``common.data.synthetic.shapes``) has K instances with per-vertex correspondences. A
`FiLMSiren` (mapping network + FiLM-SIREN + colour branch, the pi-GAN interface) is fitted to it as an
auto-decoder: instance k has a learned latent z_k, and the network is trained with 3D supervision, which is
fast on a CPU (adversarial training on renders is what `nerf_correspondence.models` does; it needs far more
compute than the benchmark's budget)::

    L = mean ((relu(sigma(x)) - SIGMA_MAX occ_k(x)) / SIGMA_MAX)^2 + mean_near |rgb(x) - rgb_k(x)|^2 + 1e-4 |z|^2
    occ_k: occupancy of instance k's mesh (Open3D ray casting); rgb_k: colour of the nearest vertex (only for
    points within ``color_band`` of the surface)

Density outside the object box (|x|_inf > box_side / 2) is zero (`BoxedFiLMSiren`), so the unsupervised space
around the box holds no floaters.

Points: a pool per instance, half near the surface (vertex + N(0, near_std^2)), half uniform in the box,
drawn afresh every ``refresh_every`` steps. Cameras of the family (z up): on the sphere of radius 4 at
elevations -20..70 deg, field of view 39.6 deg.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from common.data.synthetic.shapes import CAMERA_ANGLE_X, CAMERA_DISTANCE
from common.o3d import import_open3d
from nerf_correspondence.rendering import camera_space_directions, look_at_rotation
from nerf_correspondence.siren import FiLMSiren

FOV_DEGREES = math.degrees(CAMERA_ANGLE_X)
NEAR, FAR = CAMERA_DISTANCE - 1.3, CAMERA_DISTANCE + 1.3
SIGMA_MAX = 30.0  # density fitted inside the meshes


@dataclass
class Instance:
    """One member of the family: vertices [V, 3] (corresponding across instances), faces [F, 3], labels [V],
    colours [V, 3] in [0, 1]."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    labels: np.ndarray
    colors: np.ndarray


class BoxedFiLMSiren(FiLMSiren):
    """`FiLMSiren` whose raw density is -1e4 (rendered density relu(.) = 0) outside the box of side box_side."""

    def forward_with_modulations(self, x, gamma, beta, ray_dirs, feature_layers=()):
        sigma, rgb, feats = super().forward_with_modulations(x, gamma, beta, ray_dirs, feature_layers)
        inside = (x.abs() <= self.box_side / 2).all(-1)
        return torch.where(inside, sigma, torch.full_like(sigma, -1e4)), rgb, feats


def load_family(root: str | Path) -> list[Instance]:
    """Every instance listed in ``root/shape_family.json`` (the template first), from its correspondence.npz."""
    root = Path(root)
    meta = root / "shape_family.json"
    if not meta.is_file():
        raise FileNotFoundError(f"{meta}: missing; expected a shape family written by common.data.synthetic.shapes")
    out = []
    for name in json.loads(meta.read_text())["instances"]:
        d = np.load(root / name / "correspondence.npz")
        out.append(Instance(name, d["vertices"], d["faces"], d["labels"], d["colors"]))
    return out


def supervision_pool(inst: Instance, n: int, near_std: float, half_box: float, rng: np.random.Generator):
    """(points [n, 3], occupancy [n], colour [n, 3], distance to the nearest vertex [n]) of one instance."""
    o3d = import_open3d()
    scene = o3d.t.geometry.RaycastingScene()
    verts, faces = inst.vertices.astype(np.float32), inst.faces.astype(np.uint32)
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(faces))
    near = inst.vertices[rng.integers(0, len(inst.vertices), n // 2)] + rng.normal(0, near_std, (n // 2, 3))
    uniform = rng.uniform(-half_box, half_box, (n - n // 2, 3))
    pts = np.concatenate([near, uniform]).astype(np.float32)
    occ = scene.compute_occupancy(o3d.core.Tensor(pts)).numpy().astype(np.float32)
    dist, idx = cKDTree(inst.vertices).query(pts)
    return pts, occ, inst.colors[idx].astype(np.float32), dist.astype(np.float32)


def family_cameras(n: int, generator: torch.Generator | None, res: int) -> tuple[Tensor, Tensor]:
    """(origins [n, 3], world ray directions [n, res^2, 3]) of n random family cameras (z up)."""
    lo, hi = math.sin(math.radians(-20)), math.sin(math.radians(70))
    z = torch.rand(n, generator=generator) * (hi - lo) + lo
    az = torch.rand(n, generator=generator) * 2 * math.pi
    r = torch.sqrt(1 - z**2)
    origins = CAMERA_DISTANCE * torch.stack([r * torch.cos(az), r * torch.sin(az), z], -1)
    return origins, circle_rays(origins, res)


def circle_rays(origins: Tensor, res: int) -> Tensor:
    rot = look_at_rotation(origins, (0.0, 0.0, 1.0))
    return torch.einsum("nij,rj->nri", rot, camera_space_directions(res, FOV_DEGREES))


def fit_shape_generator(instances: list[Instance], z_dim: int, width: int, depth: int, mapping_hidden: int,
                        box_side: float, iters: int, points_per_step: int, lr: float, seed: int,
                        pool_size: int = 20000, refresh_every: int = 100, near_std: float = 0.03,
                        color_band: float = 0.05, log=print) -> tuple[FiLMSiren, Tensor, list[dict]]:  # fmt: skip
    """Fit (siren, latents [K, Z]) to the instances; returns them and the loss history (every 50 steps). The
    supervision pools are drawn afresh every ``refresh_every`` steps (empty space seen densely: no floaters)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    k = len(instances)
    siren = BoxedFiLMSiren(z_dim, width, depth, mapping_hidden, box_side)
    latents = torch.nn.Parameter(torch.randn(k, z_dim) * 0.3)
    opt = torch.optim.Adam([{"params": siren.parameters()}, {"params": [latents]}], lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, 0.1 ** (1 / max(iters, 1)))
    g = torch.Generator().manual_seed(seed)
    history = []
    for step in range(iters):
        if step % refresh_every == 0:
            pools = [supervision_pool(inst, pool_size, near_std, box_side / 2, rng) for inst in instances]
            pts, occ, col, dist = (torch.from_numpy(np.stack([p[i] for p in pools])) for i in range(4))
            band = dist < color_band
        idx = torch.randint(0, pool_size, (k, points_per_step), generator=g)
        x = torch.gather(pts, 1, idx[..., None].expand(-1, -1, 3))
        dirs = torch.nn.functional.normalize(torch.randn(k, points_per_step, 3, generator=g), dim=-1)
        gamma, beta = siren.modulations(latents)
        sigma, rgb, _ = siren.forward_with_modulations(x, gamma, beta, dirs)
        l_sigma = (torch.relu(sigma) / SIGMA_MAX - torch.gather(occ, 1, idx)).pow(2).mean()
        m = torch.gather(band, 1, idx).float()
        c_t = torch.gather(col, 1, idx[..., None].expand(-1, -1, 3))
        l_rgb = ((rgb - c_t).pow(2).sum(-1) * m).sum() / m.sum().clamp_min(1)
        loss = l_sigma + l_rgb + 1e-4 * latents.pow(2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == iters - 1:
            history.append({"step": step, "density": l_sigma.item(), "rgb": l_rgb.item()})
            log(f"fit step {step}: density {l_sigma.item():.4f}  colour {l_rgb.item():.4f}")
    return siren.requires_grad_(False), latents.detach(), history


def occupancy_iou(siren: FiLMSiren, latents: Tensor, instances: list[Instance], box_side: float, n: int = 20000,
                  seed: int = 1) -> list[float]:  # fmt: skip
    """Volume IoU per instance between the fitted occupancy (relu(sigma) > SIGMA_MAX / 2) and the mesh's."""
    rng = np.random.default_rng(seed)
    out = []
    o3d = import_open3d()
    for k, inst in enumerate(instances):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(o3d.core.Tensor(inst.vertices.astype(np.float32)),
                            o3d.core.Tensor(inst.faces.astype(np.uint32)))  # fmt: skip
        p = rng.uniform(-box_side / 2, box_side / 2, (n, 3)).astype(np.float32)
        gt = scene.compute_occupancy(o3d.core.Tensor(p)).numpy() > 0.5
        gamma, beta = siren.modulations(latents[k : k + 1])
        with torch.no_grad():
            sigma, _, _ = siren.forward_with_modulations(torch.from_numpy(p)[None], gamma, beta,
                                                         torch.zeros(1, n, 3))  # fmt: skip
        pred = (torch.relu(sigma[0]) > SIGMA_MAX / 2).numpy()
        out.append(float((gt & pred).sum() / max((gt | pred).sum(), 1)))
    return out
