"""Surface-reconstruction metrics: the MonoSDF Replica protocol (accuracy, completeness, Chamfer-L1, F-score, normals).

Protocol (MonoSDF ``replica_eval``; both meshes in world units, metres for Replica)::

    1. cull the reconstruction against the camera trajectory (``cull_to_frustums``): a vertex is seen when it
       projects inside the image (0 < u < W, 0 < v < H) in front of ANY camera; faces whose three vertices
       are all unseen are removed (pure frustum test, no occlusion test);
    2. crop the reconstruction to the ground truth's oriented bounding box scaled by 1.05 (``crop_to_box``):
       faces keep only when all three vertices lie inside;
    3. sample n = 200,000 points on each mesh, area-weighted, with their face normals (``sample_surface``);
    4. exact nearest neighbours among the samples (``nearest``: Open3D's NearestNeighborSearch in float64;
       MonoSDF uses a scipy cKDTree, same result, slower when the meshes are far apart),
       d(p, M) = min_{q in samples(M)} ||p - q||:
         accuracy      = mean_{p in rec} d(p, gt)            completeness = mean_{q in gt} d(q, rec)
         chamfer_l1    = (accuracy + completeness) / 2
         precision     = P = frac_{p in rec} [d(p, gt) < tau]  recall       = R = frac_{q in gt} [d(q, rec) < tau]
         fscore        = 2 P R / (P + R)   (tau = 5 cm)
         normal_consistency = (mean_p |n_p . n_gt(NN(p))| + mean_q |n_q . n_rec(NN(q))|) / 2
    5. distances in cm (x 100), ratios, F-score and normal consistency in % (x 100).

One deviation, documented: MonoSDF draws a second set of 200k samples for the normal term; here the normals
come with the same samples (the same distribution, half the nearest-neighbour queries).

Meshes are read with Open3D (``load_mesh``: .ply / .obj / .off / .stl / .glb); a missing, unreadable or empty
file raises ``DataFormatError`` naming the file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.data.errors import DataFormatError
from common.metrics.errors import MetricUnavailable
from common.o3d import import_open3d

N_SAMPLES = 200_000  # points sampled on each mesh (MonoSDF)
THRESHOLD = 0.05  # precision / recall distance threshold in world units (5 cm)
BOX_SCALE = 1.05  # crop box = ground-truth oriented box scaled by this
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".glb", ".gltf")
# metric -> (report unit, factor from world units / ratios)
UNITS = {
    "accuracy": ("cm", 100.0),
    "completeness": ("cm", 100.0),
    "chamfer_l1": ("cm", 100.0),
    "precision": ("%", 100.0),
    "recall": ("%", 100.0),
    "fscore": ("%", 100.0),
    "normal_consistency": ("%", 100.0),
}
SURFACE_METRICS = tuple(UNITS)


# ------------------------------------------------------------------------------------------- meshes
def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(vertices [V, 3] float64, faces [F, 3] int64) of a triangle mesh file; DataFormatError naming it otherwise."""
    path = Path(path)
    expected = f"a triangle mesh file ({' / '.join(MESH_SUFFIXES)}) with at least one face"
    if not path.is_file():
        raise DataFormatError(path, "mesh file not found", expected)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise DataFormatError(path, f"unsupported mesh file type '{path.suffix}'", expected)
    o3d = import_open3d()
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        mesh = o3d.io.read_triangle_mesh(str(path))
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.triangles, dtype=np.int64)
    if len(faces) == 0 or len(vertices) == 0:
        raise DataFormatError(path, "unreadable or empty mesh (no triangles)", expected)
    if not np.isfinite(vertices).all():
        raise DataFormatError(path, "non-finite vertex coordinates", expected)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise DataFormatError(path, "face indices out of range", expected)
    return vertices, faces


def save_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray) -> Path:
    """Write a triangle mesh (.ply) atomically (temporary file + rename); returns the path."""
    o3d = import_open3d()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.asarray(vertices, dtype=np.float64)),
        o3d.utility.Vector3iVector(np.asarray(faces, dtype=np.int32)),
    )
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if not o3d.io.write_triangle_mesh(str(tmp), mesh):
        raise OSError(f"{path}: Open3D could not write the mesh")
    tmp.replace(path)
    return path


def remove_unused_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh with only the vertices some face uses (faces re-indexed)."""
    used, inverse = np.unique(faces.reshape(-1), return_inverse=True)
    return vertices[used], inverse.reshape(faces.shape).astype(np.int64)


# ------------------------------------------------------------------------------------- culling / crop
def visible_vertices(
    vertices: np.ndarray, K: np.ndarray, c2w: np.ndarray, width: int, height: int, chunk: int = 64
) -> np.ndarray:
    """[V] bool: the vertex projects inside the image in front of at least one camera.

    vertices [V, 3] world; K [3, 3] or [N, 3, 3]; c2w [N, 4, 4] OpenCV camera-to-world; seen when z > 0 and
    0 < u < width, 0 < v < height for (u, v) = (K x_cam)[:2] / z (MonoSDF ``cull_mesh``).
    """
    c2w = np.asarray(c2w, dtype=np.float64).reshape(-1, 4, 4)
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (len(c2w), 3, 3))
    seen = np.zeros(len(vertices), dtype=bool)
    for s in range(0, len(c2w), chunk):
        R, t = c2w[s : s + chunk, :3, :3], c2w[s : s + chunk, :3, 3]
        cam = np.einsum("nji,nvj->nvi", R, vertices[None] - t[:, None])  # R^T (x - t): [n, V, 3]
        z = cam[..., 2]
        uvw = np.einsum("nij,nvj->nvi", K[s : s + chunk], cam)
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = uvw[..., 0] / z, uvw[..., 1] / z
        inside = (z > 0) & (u > 0) & (u < width) & (v > 0) & (v < height)
        seen |= inside.any(0)
    return seen


def cull_to_frustums(
    vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, c2w: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mesh without the faces whose three vertices no camera sees (see ``visible_vertices``)."""
    seen = visible_vertices(vertices, K, c2w, width, height)
    keep = seen[faces].any(1)
    return remove_unused_vertices(vertices, faces[keep])


def oriented_box(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(center [3], R [3, 3] columns = box axes, extent [3] full side lengths) of Open3D's oriented bounding box."""
    o3d = import_open3d()
    box = o3d.geometry.OrientedBoundingBox.create_from_points(o3d.utility.Vector3dVector(vertices))
    return np.asarray(box.center), np.asarray(box.R), np.asarray(box.extent)


def crop_to_box(
    vertices: np.ndarray, faces: np.ndarray, box: tuple[np.ndarray, np.ndarray, np.ndarray], scale: float = BOX_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """The faces whose three vertices lie inside ``box`` (center, R, extent) scaled by ``scale`` about its centre."""
    center, R, extent = box
    local = (vertices - center) @ R
    inside = (np.abs(local) <= extent * scale / 2).all(1)
    return remove_unused_vertices(vertices, faces[inside[faces].all(1)])


# ------------------------------------------------------------------------------------------ sampling
def face_areas_normals(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(areas [F], unit normals [F, 3]) of the faces (degenerate faces: area 0, normal 0)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    cross = np.cross(b - a, c - a)
    norm = np.linalg.norm(cross, axis=1)
    normals = np.divide(cross, norm[:, None], out=np.zeros_like(cross), where=norm[:, None] > 0)
    return norm / 2, normals


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(points [n, 3], face normals [n, 3]): n area-weighted uniform samples on the mesh surface.

    A face is drawn with probability area / total area, a point in it by the square-root barycentric rule
    p = (1 - sqrt(r1)) a + sqrt(r1) (1 - r2) b + sqrt(r1) r2 c.
    """
    areas, normals = face_areas_normals(vertices, faces)
    total = areas.sum()
    if not total > 0:
        raise ValueError("the mesh has zero surface area")
    idx = rng.choice(len(faces), size=n, p=areas / total)
    r1, r2 = np.sqrt(rng.random(n))[:, None], rng.random(n)[:, None]
    a, b, c = (vertices[faces[idx, i]] for i in range(3))
    return (1 - r1) * a + r1 * (1 - r2) * b + r1 * r2 * c, normals[idx]


# ------------------------------------------------------------------------------------------- metrics
def nearest(points: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance [Q], index [Q]) of the nearest of ``points`` [P, 3] to each of ``queries`` [Q, 3] (exact, float64)."""
    o3d = import_open3d()
    nns = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor(np.ascontiguousarray(points, dtype=np.float64)))
    nns.knn_index()
    idx, d2 = nns.knn_search(o3d.core.Tensor(np.ascontiguousarray(queries, dtype=np.float64)), 1)
    return np.sqrt(d2.numpy()[:, 0]), idx.numpy()[:, 0].astype(np.int64)


def point_metrics(
    rec_points: np.ndarray,
    gt_points: np.ndarray,
    rec_normals: np.ndarray | None = None,
    gt_normals: np.ndarray | None = None,
    threshold: float = THRESHOLD,
) -> dict[str, float]:
    """Metrics between two point samples in world units / ratios (module doc, step 4).

    rec_points [P, 3], gt_points [Q, 3]; with both normal arrays, ``normal_consistency`` is included.
    """
    d_rec, i_rec = nearest(gt_points, rec_points)  # rec -> gt
    d_gt, i_gt = nearest(rec_points, gt_points)  # gt -> rec
    acc, comp = float(d_rec.mean()), float(d_gt.mean())
    prec, rec = float((d_rec < threshold).mean()), float((d_gt < threshold).mean())
    out = {
        "accuracy": acc,
        "completeness": comp,
        "chamfer_l1": (acc + comp) / 2,
        "precision": prec,
        "recall": rec,
        "fscore": 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0,
    }
    if rec_normals is not None and gt_normals is not None:
        nc_acc = np.abs((rec_normals * gt_normals[i_rec]).sum(1)).mean()
        nc_comp = np.abs((gt_normals * rec_normals[i_gt]).sum(1)).mean()
        out["normal_consistency"] = float((nc_acc + nc_comp) / 2)
    return out


def mesh_metrics(
    rec: tuple[np.ndarray, np.ndarray],
    gt: tuple[np.ndarray, np.ndarray],
    n_samples: int = N_SAMPLES,
    threshold: float = THRESHOLD,
    seed: int = 0,
    crop: bool = True,
) -> dict[str, float]:
    """Metrics (world units / ratios) of reconstruction ``rec`` = (V, F) against ``gt`` = (V, F).

    ``crop``: keep only the reconstruction inside the ground truth's oriented box x 1.05 first. Raises
    ``MetricUnavailable`` when nothing of the reconstruction is left to sample.
    """
    rv, rf = rec
    if crop:
        rv, rf = crop_to_box(rv, rf, oriented_box(gt[0]))
    if len(rf) == 0 or face_areas_normals(rv, rf)[0].sum() <= 0:
        raise MetricUnavailable("the reconstructed mesh has no surface inside the ground-truth box")
    rng = np.random.default_rng(seed)
    rec_p, rec_n = sample_surface(rv, rf, n_samples, rng)
    gt_p, gt_n = sample_surface(gt[0], gt[1], n_samples, rng)
    return point_metrics(rec_p, gt_p, rec_n, gt_n, threshold)


def to_report_units(metrics: dict[str, float]) -> dict[str, float]:
    """World-unit (metre) distances -> cm, ratios -> % (``UNITS``); other keys unchanged."""
    return {k: v * UNITS[k][1] if k in UNITS else v for k, v in metrics.items()}


def evaluate_mesh(
    rec_path: str | Path,
    gt_path: str | Path,
    cameras: tuple[np.ndarray, np.ndarray, int, int] | None = None,
    n_samples: int = N_SAMPLES,
    threshold: float = THRESHOLD,
    seed: int = 0,
) -> dict:
    """The MonoSDF Replica evaluation of two mesh files in world units, as a report dict.

    cameras: (K [3, 3] or [N, 3, 3], c2w [N, 4, 4], width, height) of the trajectory used to cull the
    reconstruction (None: no culling). Returns {"metrics": {name: value in cm or %}, "units", "protocol",
    "faces": {"reconstruction", "after_cull", "ground_truth"}}; a metric that cannot be computed comes back
    in "missing" with its reason and no value.
    """
    rv, rf = load_mesh(rec_path)
    gv, gf = load_mesh(gt_path)
    n_faces = len(rf)
    if cameras is not None:
        K, c2w, width, height = cameras
        rv, rf = cull_to_frustums(rv, rf, K, c2w, width, height)
    report: dict = {
        "units": {k: u for k, (u, _) in UNITS.items()},
        "protocol": {
            "culled": cameras is not None,
            "crop": f"ground-truth oriented box x {BOX_SCALE}",
            "samples": n_samples,
            "threshold_m": threshold,
            "seed": seed,
        },
        "faces": {"reconstruction": n_faces, "after_cull": len(rf), "ground_truth": len(gf)},
    }
    try:
        report["metrics"] = to_report_units(mesh_metrics((rv, rf), (gv, gf), n_samples, threshold, seed))
    except MetricUnavailable as err:
        report["metrics"] = {}
        report["missing"] = {k: f"{rec_path}: {err.reason}" for k in SURFACE_METRICS}
    return report


def mean_metrics(reports: Sequence[dict]) -> dict[str, float | None]:
    """Mean of each surface metric over reports (None when some report lacks it)."""
    out: dict[str, float | None] = {}
    for k in SURFACE_METRICS:
        vals = [r.get("metrics", {}).get(k) for r in reports]
        out[k] = float(np.mean(vals)) if vals and all(v is not None and math.isfinite(v) for v in vals) else None
    return out
