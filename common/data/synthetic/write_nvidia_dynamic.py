"""A small dynamic scene seen by a monocular camera, written in the layout Dynamic NeRF prepares for the NVIDIA
Dynamic Scenes data (read by `common.data.nvidia_dynamic`), with GROUND-TRUTH depth and optical-flow priors.

Scene ``balloons`` (the Balloon1 stand-in; more scenes are seeded variants ``balloons1``, ...): a textured
back wall at y = 6 and floor at z = -1 (world z up), a static box and cylinder, and two textured balls that
move along smooth paths and spin about z. Every part is rigid; the ball of instance j sits at time t at
``M_j(t) = [R_z(spin_j t) | c_j(t)]`` applied to its object-frame vertices (static parts: identity), t = i / (N - 1).

Monocular capture as in the NVIDIA data: a rig of ``frames`` cameras on a horizontal line (x from -0.45 to 0.45,
slight height wobble) looking towards (0, 5, 0); frame i is camera i at time i. Image size W = ``res``,
H = round(9 W / 16), horizontal field of view 60 degrees, principal point at the centre.

Files per scene (see `common.data.nvidia_dynamic` for the format)::

    images/%03d.png                frame i
    poses_bounds.npy               LLFF rows (down, right, back, centre, (H, W, f)) + [min, max] depth of the frame
    disp/%03d.npy                  GROUND-TRUTH disparity 1 / z-depth (stands in for MiDaS)
    flow/%03d_fwd.npz, _bwd.npz    GROUND-TRUTH optical flow (stands in for RAFT): for the surface point X seen
                                   at pixel p of frame i, X' = M_j(t_k) M_j(t_i)^-1 X (j its part, k = i +- 1)
                                   projected by camera k: flow = pi_k(X') - p (pixel centres at u + 0.5);
                                   mask = X' in front of camera k, inside the image and not occluded there
                                   (its depth within 2 % of frame k's rendered depth at that pixel)
    motion_masks/%03d.png          255 on the moving balls, dilated by one pixel (the official masks are dilated)
    gt/v000_t%03d.png              camera 0 at every time i (the fixed-view evaluation images)
    priors.json                    {"source": "generator ground truth (MiDaS/RAFT substitutes)", ...}
    synthetic_scene.json           generator facts (marks the scene as synthetic)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.data.synthetic import files
from common.data.synthetic.meshes import Light, Part, Scene, box_geometry, cylinder_geometry, make_part, quad
from common.data.synthetic.meshes import sphere_geometry as _sphere
from common.data.synthetic.objects import rot_z, tex
from common.data.synthetic.raycast import Renderer
from common.data.synthetic.rooms import TEXTURE_SIZE, _bank
from common.data.synthetic.seeds import scene_seed

SCENES = ("balloons",)
PRIORS_SOURCE = "generator ground truth (MiDaS/RAFT substitutes)"
DYNAMIC_IDS = (10, 11)
FOV_X_DEG = 60.0


def image_size(res: int) -> tuple[int, int]:
    """(H, W) of a ``res``-wide 16:9 frame."""
    return int(round(res * 9 / 16)), int(res)


def intrinsics(height: int, width: int) -> np.ndarray:
    f = 0.5 * width / math.tan(math.radians(FOV_X_DEG) / 2)
    return np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])


def look_at_cv(eye, target, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenCV c2w [4, 4] at ``eye`` looking at ``target`` (x right, y down, z forward)."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = (target - eye) / np.linalg.norm(target - eye)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    out = np.eye(4)
    out[:3, :3] = np.stack([x, y, z], 1)
    out[:3, 3] = eye
    return out


def rig_cameras(n: int) -> np.ndarray:
    """c2w [n, 4, 4] (OpenCV) of the camera line; camera i films frame i."""
    xs = np.linspace(-0.45, 0.45, n)
    return np.stack([look_at_cv((x, 0.0, 0.06 * np.sin(2.0 * i)), (0.0, 5.0, 0.0)) for i, x in enumerate(xs)])


def _params(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "tints": rng.uniform(0.75, 1.0, (6, 3)),
        "phase": rng.uniform(-0.2, 0.2, 2),
    }


def object_motion(t: float, seed: int) -> dict[int, np.ndarray]:
    """Instance id -> rigid transform M(t) [4, 4] of each moving ball at time t in [0, 1]."""
    p = _params(seed)
    a, b = p["phase"]
    centres = {
        10: (-0.7 + 1.3 * t, 3.1 + 0.2 * np.sin(np.pi * t), -0.25 + 0.45 * np.sin(np.pi * (t + a))),
        11: (0.8 - 0.9 * t, 3.7, 0.15 + 0.3 * np.sin(2 * np.pi * (t + b))),
    }
    spins = {10: 1.6 * t, 11: -2.2 * t}
    out = {}
    for j, c in centres.items():
        m = np.eye(4)
        m[:3, :3] = rot_z(spins[j])
        m[:3, 3] = c
        out[j] = m
    return out


def scene_at(t: float, seed: int) -> Scene:
    """The scene at time t in [0, 1]."""
    p = _params(seed)
    tint = p["tints"]
    wall = quad((-5.0, 6.0, 3.0), (10.0, 0.0, 0.0), (0.0, 0.0, -6.0), (0, -1, 0), (5.0, 3.0))
    floor = quad((-5.0, 0.0, -1.0), (10.0, 0.0, 0.0), (0.0, 6.5, 0.0), (0, 0, 1), (5.0, 3.25))
    box = box_geometry((0.7, 0.7, 0.8), 0.4)
    cyl = cylinder_geometry(0.3, 1.2, 20, 0.4)
    parts: list[Part] = [
        make_part(wall, tex("brick"), tint[0], 1, 1),
        make_part(floor, tex("gravel"), tint[1], 1, 2),
        make_part(box, tex("coffee"), tint[2], 1, 3, 0.4, (-1.3, 4.3, -0.6)),
        make_part(cyl, tex("rocket"), tint[3], 1, 4, 0.0, (1.4, 4.8, -1.0)),
    ]
    balls = {10: (_sphere(0.36, 12, 20, 0.25), "chelsea", tint[4]), 11: (_sphere(0.28, 12, 20, 0.2), "coins", tint[5])}
    for j, m in object_motion(t, seed).items():
        (v, f, uv), name, colour = balls[j]
        part = make_part((v, f, uv), tex(name), colour, 2, j)
        part.vertices = v @ m[:3, :3].T + m[:3, 3]
        parts.append(part)
    return Scene(
        name="balloons",
        parts=parts,
        textures=_bank(TEXTURE_SIZE),
        class_names=("void", "static", "moving"),
        lights=[Light("directional", (0.3, -0.6, 0.75), 0.55), Light("directional", (-0.5, -0.4, 0.3), 0.2)],
        ambient=0.45,
        background=(0.0, 0.0, 0.0),
        bounds=np.array([[-5.0, 0.0, -1.0], [5.0, 6.0, 3.0]]),
    )


def unproject(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """World points [H, W, 3] of z-depth [H, W] (pixel centres at u + 0.5)."""
    H, W = depth.shape
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    cam = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(K).T * depth[..., None]
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def project(points: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pixel coordinates [..., 2] with centres at u + 0.5, camera z [...]) of world points [..., 3]."""
    cam = (points - c2w[:3, 3]) @ c2w[:3, :3]
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = (cam @ K.T)[..., :2] / z[..., None]
    return uv, z


def ground_truth_flow(
    depth: np.ndarray,
    instance: np.ndarray,
    K: np.ndarray,
    c2w_src: np.ndarray,
    c2w_dst: np.ndarray,
    motion_src: dict[int, np.ndarray],
    motion_dst: dict[int, np.ndarray],
    depth_dst: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(flow [H, W, 2] float32, mask [H, W] bool) from frame src to frame dst (module doc)."""
    H, W = depth.shape
    pts = unproject(depth, K, c2w_src)
    for j, m_src in motion_src.items():
        sel = instance == j
        rel = motion_dst[j] @ np.linalg.inv(m_src)
        pts[sel] = pts[sel] @ rel[:3, :3].T + rel[:3, 3]
    uv, z = project(pts, K, c2w_dst)
    u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    flow = (uv - np.stack([u, v], -1)).astype(np.float32)
    inside = (z > 1e-6) & np.all(np.isfinite(uv), -1)
    inside &= (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H)
    cols = np.clip(np.floor(np.nan_to_num(uv[..., 0])).astype(int), 0, W - 1)
    rows = np.clip(np.floor(np.nan_to_num(uv[..., 1])).astype(int), 0, H - 1)
    seen = depth_dst[rows, cols]
    mask = inside & (depth > 0) & (np.abs(seen - z) <= 0.02 * np.maximum(z, 1e-6))
    return np.where(np.isfinite(flow), flow, 0.0).astype(np.float32), mask


def dilate(mask: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Binary dilation by a (2 pixels + 1)^2 square."""
    out = mask.copy()
    H, W = mask.shape
    pad = np.pad(mask, pixels)
    for dy in range(-pixels, pixels + 1):
        for dx in range(-pixels, pixels + 1):
            out |= pad[pixels + dy : pixels + dy + H, pixels + dx : pixels + dx + W]
    return out


def llff_rows(c2w_cv: np.ndarray, height: int, width: int, focal: float, bounds: np.ndarray) -> np.ndarray:
    """poses_bounds.npy rows [N, 17]: LLFF columns (down, right, back) = (y_cv, x_cv, -z_cv), centre, hwf."""
    rows = []
    for c, b in zip(c2w_cv, bounds):
        m = np.stack([c[:3, 1], c[:3, 0], -c[:3, 2], c[:3, 3], np.array([height, width, focal])], 1)
        rows.append(np.concatenate([m.reshape(-1), b]))
    return np.asarray(rows, dtype=np.float64)


def write_scene(root: Path, res: int, frames: int, seed: int) -> None:
    H, W = image_size(res)
    K = intrinsics(H, W)
    cams = rig_cameras(frames)
    times = np.arange(frames) / max(frames - 1, 1)
    views, motions = [], []
    for i, t in enumerate(times):
        views.append(Renderer(scene_at(float(t), seed)).render(K, cams[i], H, W))
        motions.append(object_motion(float(t), seed))
    bounds = []
    for i, view in enumerate(views):
        if not np.all(view.depth > 0):
            raise RuntimeError(f"synthetic nvidia_dynamic: frame {i} has pixels that hit nothing")
        files.write_rgb_png(root / "images" / f"{i:03d}.png", view.rgb)
        np.save(root / "disp" / f"{i:03d}.npy", (1.0 / view.depth).astype(np.float32))
        moving = dilate(np.isin(view.instance, DYNAMIC_IDS))
        files.write_png(root / "motion_masks" / f"{i:03d}.png", (moving * 255).astype(np.uint8))
        for k, tag in ((i + 1, "fwd"), (i - 1, "bwd")):
            if 0 <= k < frames:
                flow, mask = ground_truth_flow(
                    view.depth, view.instance, K, cams[i], cams[k], motions[i], motions[k], views[k].depth
                )
                np.savez(root / "flow" / f"{i:03d}_{tag}.npz", flow=flow, mask=mask)
        bounds.append([float(view.depth.min()), float(view.depth.max())])
    np.save(root / "poses_bounds.npy", llff_rows(cams, H, W, K[0, 0], np.asarray(bounds)))
    for i, t in enumerate(times):
        view = views[0] if i == 0 else Renderer(scene_at(float(t), seed)).render(K, cams[0], H, W)
        files.write_rgb_png(root / "gt" / f"v000_t{i:03d}.png", view.rgb)
    files.write_json(
        root / "priors.json",
        {
            "source": PRIORS_SOURCE,
            "disp": "1 / z-depth of the ray-cast frame (not MiDaS)",
            "flow": "reprojection of the known rigid motion of every part (not RAFT); mask = visible in the target",
            "motion_masks": "pixels of the moving parts, dilated by 1 px (not the official epipolar + Mask R-CNN)",
        },
    )
    files.write_json(
        root / "synthetic_scene.json",
        {"kind": "nvidia_dynamic", "frames": frames, "height": H, "width": W, "seed": seed, "moving": DYNAMIC_IDS},
    )


def write_nvidia_dynamic(out: Path, scenes: int = 1, res: int = 96, seed: int = 0, frames: int = 12) -> list[Path]:
    """Write ``scenes`` sequences (``balloons``, then seeded variants ``balloons1``, ...); returns their dirs."""
    out = Path(out)
    written = []
    for k in range(scenes):
        name = SCENES[0] if k == 0 else f"{SCENES[0]}{k}"
        for sub in ("images", "disp", "flow", "motion_masks", "gt"):
            (out / name / sub).mkdir(parents=True, exist_ok=True)
        write_scene(out / name, res, frames, scene_seed(seed, "nvidia-dynamic", k))
        written.append(out / name)
    return written
