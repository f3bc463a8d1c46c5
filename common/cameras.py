"""Pinhole cameras in one internal convention, ray generation and projection.

Convention (the whole project): OpenCV camera axes, x right, y down, z forward, and
camera-to-world matrices ``c2w`` [4, 4] = [[R, t], [0, 1]] with R's columns the camera axes in world
coordinates and t the camera centre. Pixel (u, v) (integer column u, row v) covers the square
[u, u + 1) x [v, v + 1); its centre is (u + 0.5, v + 0.5). Intrinsics K [3, 3] map camera
coordinates to these continuous pixel coordinates: (x', y') = (fx x / z + cx, fy y / z + cy).

Small-matrix helpers (convention flips, intrinsics, ``look_at``, pose normalisation) return the
type they were given (numpy array or torch tensor). Ray generation and projection are torch
functions (numpy inputs are converted); they follow the device and dtype of ``c2w``. The numpy-only
pieces (the `Normalization` similarity, ``decompose_projection``) live in `common.geometry`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from common.geometry import Normalization

_GL_TO_CV = (1.0, -1.0, -1.0)


def _flip_yz(c2w):
    """c2w with rotation columns 1 and 2 negated (the OpenGL <-> OpenCV change of camera axes)."""
    if isinstance(c2w, torch.Tensor):
        sign = torch.tensor((*_GL_TO_CV, 1.0), dtype=c2w.dtype, device=c2w.device)
        return c2w * sign
    c2w = np.asarray(c2w)
    return c2w * np.asarray((*_GL_TO_CV, 1.0), dtype=c2w.dtype if c2w.dtype.kind == "f" else np.float64)


def opengl_to_opencv(c2w):
    """OpenGL c2w (x right, y up, z backward) -> OpenCV c2w (x right, y down, z forward).

    c2w: [..., 4, 4] numpy or torch; returns a new array of the same type. Blender, NeRF, D-NeRF
    and instant-ngp poses are OpenGL. The camera centre is unchanged; the camera's y and z axes
    (rotation columns 1 and 2) are negated: ``c2w_cv = c2w_gl @ diag(1, -1, -1, 1)``.
    """
    return _flip_yz(c2w)


def opencv_to_opengl(c2w):
    """OpenCV c2w -> OpenGL c2w (the same column flip; the map is its own inverse)."""
    return _flip_yz(c2w)


def intrinsics_matrix(fx, fy, cx, cy):
    """K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]].

    Scalars give a [3, 3] float64 numpy array. Tensors (broadcastable to a common shape [...])
    give a torch tensor [..., 3, 3] in their dtype and device.
    """
    if any(isinstance(a, torch.Tensor) for a in (fx, fy, cx, cy)):
        ref = next(a for a in (fx, fy, cx, cy) if isinstance(a, torch.Tensor))
        fx, fy, cx, cy = torch.broadcast_tensors(
            *(torch.as_tensor(a, dtype=ref.dtype, device=ref.device) for a in (fx, fy, cx, cy))
        )
        zero, one = torch.zeros_like(fx), torch.ones_like(fx)
        rows = [torch.stack(r, -1) for r in ((fx, zero, cx), (zero, fy, cy), (zero, zero, one))]
        return torch.stack(rows, -2)
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def scale_intrinsics(K, sx: float, sy: float | None = None):
    """Intrinsics of an image resized by factors (sx, sy): rows 0 and 1 of K scaled.

    K: [..., 3, 3] numpy or torch (same type returned). fx' = fx sx, cx' = cx sx, fy' = fy sy, cy' = cy sy
    (skew scaled by sx). This is exact for the pixel-centre convention of this module when the resize
    maps the image's outer pixel EDGES onto each other (continuous coordinate x' = sx x; what PIL,
    cv2.INTER_AREA and ``F.interpolate(..., align_corners=False)`` do). With integer pixel centres
    one would need cx' = (cx + 0.5) sx - 0.5 instead. For a crop, subtract the crop offset from cx, cy.
    sy defaults to sx.
    """
    sy = sx if sy is None else sy
    if isinstance(K, torch.Tensor):
        s = torch.tensor((sx, sy, 1.0), dtype=K.dtype, device=K.device)
    else:
        K = np.asarray(K)
        s = np.asarray((sx, sy, 1.0), dtype=K.dtype if K.dtype.kind == "f" else np.float64)
    return K * s[:, None]


def focal_from_fov(fov_rad: float, size: float) -> float:
    """Focal length in pixels for a full field of view ``fov_rad`` across ``size`` pixels.

    f = (size / 2) / tan(fov / 2); e.g. Blender's ``camera_angle_x`` with the image width.
    """
    if not 0.0 < fov_rad < math.pi:
        raise ValueError(f"field of view must be in (0, pi) radians, got {fov_rad}")
    return 0.5 * size / math.tan(0.5 * fov_rad)


def pixel_centers(H: int, W: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous coordinates of all pixel centres: u [H, W] = column + 0.5, v [H, W] = row + 0.5."""
    u = torch.arange(W, device=device, dtype=dtype) + 0.5
    v = torch.arange(H, device=device, dtype=dtype) + 0.5
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return uu, vv


def _as_tensor(x, ref: torch.Tensor | None = None) -> torch.Tensor:
    if ref is None:
        t = torch.as_tensor(x)
        return t if t.is_floating_point() else t.to(torch.get_default_dtype())
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


def _directions(K: torch.Tensor, c2w: torch.Tensor, u: torch.Tensor, v: torch.Tensor, normalize: bool):
    """World directions for continuous pixel coordinates u, v [..., P] (K [..., 3, 3], c2w [..., 4, 4])."""
    pix = torch.stack([u, v, torch.ones_like(u)], -1)  # [..., P, 3]
    d_cam = pix @ torch.linalg.inv(K).transpose(-1, -2)
    d_world = d_cam @ c2w[..., :3, :3].transpose(-1, -2)
    if normalize:
        d_world = d_world / torch.linalg.norm(d_world, dim=-1, keepdim=True)
    return d_world


def get_rays(K, c2w, H: int, W: int, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre.

    K: [3, 3] or [B, 3, 3]; c2w: [4, 4] or [B, 4, 4] (OpenCV). Returns origins, directions, both
    [H, W, 3] or [B, H, W, 3] in c2w's dtype and device:
      d_cam = K^-1 [u + 0.5, v + 0.5, 1]^T,  d_world = R d_cam,  o = t.
    Un-normalised (``normalize=False``), d_cam has z = 1, so the ray parameter t of o + t d is the
    z-depth of the point. Normalised (default), d has unit length and t is the distance from o.
    """
    c2w = _as_tensor(c2w)
    K = _as_tensor(K, c2w)
    if K.shape[-2:] != (3, 3) or c2w.shape[-2:] != (4, 4):
        raise ValueError(
            f"get_rays expects K [..., 3, 3] and c2w [..., 4, 4], got {tuple(K.shape)}, {tuple(c2w.shape)}"
        )
    batch = torch.broadcast_shapes(K.shape[:-2], c2w.shape[:-2])
    u, v = pixel_centers(H, W, device=c2w.device, dtype=c2w.dtype)
    d = _directions(K.expand(*batch, 3, 3), c2w.expand(*batch, 4, 4), u.reshape(-1), v.reshape(-1), normalize)
    d = d.reshape(*batch, H, W, 3)
    o = c2w[..., None, None, :3, 3].expand(*batch, H, W, 3)
    return o, d


def rays_from_pixels(K, c2w, u, v, normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through the centres of integer pixels (u, v), one camera per ray.

    K: [R, 3, 3] or [3, 3]; c2w: [R, 4, 4] or [4, 4]; u, v: [R] integer column / row indices
    (the +0.5 to the pixel centre is applied here). Returns origins [R, 3], directions [R, 3]
    (unit when ``normalize``), identical to ``get_rays`` at those pixels.
    """
    c2w = _as_tensor(c2w)
    K = _as_tensor(K, c2w)
    u = _as_tensor(u, c2w) + 0.5
    v = _as_tensor(v, c2w) + 0.5
    R = u.shape[0]
    Kr, c2wr = K.expand(R, 3, 3), c2w.expand(R, 4, 4)
    d = _directions(Kr, c2wr, u[:, None], v[:, None], normalize)[:, 0]
    return c2wr[:, :3, 3], d


def project_points(points, K, c2w) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points into a camera.

    points: [P, 3]; K: [3, 3]; c2w: [4, 4] (OpenCV, rigid). Returns uv [P, 2] in continuous pixel
    coordinates (pixel (u, v) has its centre at (u + 0.5, v + 0.5), so ``floor(uv)`` is the pixel
    index) and z [P], the depth along the camera's z axis (z > 0 in front of the camera):
      x_cam = R^T (x - t),  uv = (K x_cam)[:2] / z.
    Points with z = 0 give non-finite uv; mask them with ``z > 0``.
    """
    c2w = _as_tensor(c2w)
    K = _as_tensor(K, c2w)
    points = _as_tensor(points, c2w)
    R, t = c2w[..., :3, :3], c2w[..., :3, 3]
    x_cam = (points - t[..., None, :]) @ R
    z = x_cam[..., 2]
    pix = x_cam @ K.transpose(-1, -2)
    return pix[..., :2] / z[..., None], z


def look_at(eye, target, up=(0.0, 0.0, 1.0)):
    """c2w [..., 4, 4] (OpenCV) of a camera at ``eye`` looking at ``target``.

    z = normalize(target - eye), x = normalize(z x up), y = z x x (so y points "down", against ``up``).
    eye, target, up: [..., 3] (broadcast). Returns torch if ``eye`` is a tensor, else float64 numpy.
    Raises ValueError when the viewing direction is parallel to ``up`` or eye == target.
    """
    is_torch = isinstance(eye, torch.Tensor)
    ref = eye if is_torch else torch.as_tensor(np.asarray(eye, dtype=np.float64))
    eye_t, target_t, up_t = (_as_tensor(a, ref) for a in (eye, target, up))
    fwd = target_t - eye_t
    right = torch.linalg.cross(fwd, up_t.expand_as(fwd))
    fn, rn = torch.linalg.norm(fwd, dim=-1), torch.linalg.norm(right, dim=-1)
    if bool((fn <= 1e-12).any()) or bool((rn <= 1e-9 * fn * torch.linalg.norm(up_t, dim=-1)).any()):
        raise ValueError("look_at: eye equals target or the viewing direction is parallel to up")
    z = fwd / fn[..., None]
    x = right / rn[..., None]
    y = torch.linalg.cross(z, x)
    c2w = torch.zeros(*z.shape[:-1], 4, 4, dtype=z.dtype, device=z.device)
    c2w[..., :3, 0], c2w[..., :3, 1], c2w[..., :3, 2], c2w[..., :3, 3] = x, y, z, eye_t.expand_as(z)
    c2w[..., 3, 3] = 1.0
    return c2w if is_torch else c2w.numpy()


def normalize_poses_to_sphere(c2w, points=None, radius: float = 1.0):
    """Similarity transform that puts all camera centres (and ``points``) inside a sphere of ``radius``.

    c2w: [N, 4, 4] (numpy or torch); points: optional [P, 3] scene points (e.g. a sparse point cloud).
    centre = midpoint of the axis-aligned box around the camera centres (and points);
    scale = radius / max_i ||p_i - centre|| (1 when that is 0). Returns (c2w_n, norm) with
    c2w_n = ``norm.apply_c2w(c2w)`` (rotation kept, centre mapped to scale (t - centre)) in c2w's type
    and dtype, and ``norm`` a ``Normalization`` (``norm.inverse_c2w`` / ``inverse_points`` map back).
    Projections are invariant: project(norm(x), K, c2w_n) has the same uv as project(x, K, c2w),
    and z scaled by ``norm.scale``.
    """
    is_torch = isinstance(c2w, torch.Tensor)
    arr = c2w.detach().cpu().numpy() if is_torch else np.asarray(c2w)
    pos = arr[..., :3, 3].reshape(-1, 3).astype(np.float64)
    if points is not None:
        pts = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else np.asarray(points)
        pos = np.concatenate([pos, pts.reshape(-1, 3).astype(np.float64)])
    center = (pos.min(0) + pos.max(0)) / 2
    extent = float(np.linalg.norm(pos - center, axis=-1).max())
    scale = radius / extent if extent > 0 else 1.0
    norm = Normalization(scale=float(scale), center=tuple(float(c) for c in center))
    out = norm.apply_c2w(arr)
    if is_torch:
        return torch.as_tensor(out, dtype=c2w.dtype, device=c2w.device), norm
    return out.astype(arr.dtype if arr.dtype.kind == "f" else np.float64), norm
