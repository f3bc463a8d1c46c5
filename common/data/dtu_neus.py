"""DTU / BlendedMVS in the NeuS (IDR) layout: ``cameras_sphere.npz``, ``image/``, ``mask/``.

Layout::

    root/cameras_sphere.npz   world_mat_i: [4, 4] (or [3, 4]) P = K [R | t] of view i (world -> pixels);
                              scale_mat_i: [4, 4] similarity mapping the unit sphere to world units
    root/image/000000.png     RGB; the folder may also be named ``images/``
    root/mask/000.png         object mask (any channel > 0.5 of full scale = foreground)

Views are the image files present (sorted). A view's number is the integer value of its file stem
(``000003.png`` -> 3, matching ``world_mat_3`` and ``mask/003.png``); when stems are not all integers,
views are numbered by sorted position as NeuS does. Cameras and masks of views WITHOUT an image are
skipped: a partial copy with 10 of 49 images loads those 10 views (a view whose camera or mask is
missing is an error).

Cameras, as NeuS / IDR ``load_K_Rt_from_P``: P = world_mat @ scale_mat (pixels from NORMALISED
coordinates), decomposed as P[:3, :3] = K R (RQ decomposition, signs fixed so diag(K) > 0 and
det(R) = +1, P negated first if det(P[:3, :3]) < 0), K /= K[2, 2], camera centre c = -P[:3, :3]^-1 P[:3, 3],
c2w = [[R^T, c], [0, 1]] (already OpenCV: x right, y down, z forward); see
`common.geometry.decompose_projection`. A P with a singular 3x3 block, or whose decomposition is not a valid
pinhole camera, is refused naming the view (`common.data.checks.projection_camera`). Returned poses are in the
normalised frame where the object lies in the unit sphere; ``normalization`` records scale_mat
(world = s * x_n + t, i.e. ``Normalization(scale=1/s, center=t)``). Every view must share scale_mat.
NeuS casts pixel (i, j)'s ray through the integer point (i, j); this project casts it through the
pixel centre (i + 0.5, j + 0.5), so K's principal point is shifted by +0.5 pixel to keep NeuS's rays.

near / far: NeuS bounds each ray by mid -/+ 1 (mid = the ray's closest approach to the origin); the
scene-level values here are max(0, min_i |c_i| - 1) and max_i |c_i| + 1, which contain every such
interval. bbox = [-1, 1]^3. Images are read as RGB (NeuS itself keeps cv2's BGR order).

Options: ``masks`` (attach masks when ``mask/`` exists), ``downscale``, ``lazy`` (RGB images not read,
``image_paths`` / ``image_loader`` set; masks are still read), ``test_every`` (None: train = every
view, as NeuS; k: test = every k-th view, train = the rest), ``cameras`` (npz file name, e.g.
"cameras_large.npz").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.data.checks import projection_camera
from common.data.errors import DataFormatError
from common.data.io import as_matrix, read_mask, resize
from common.data.scene import SceneData
from common.data.views import IMAGE_EXTENSIONS, read_views, resize_K
from common.geometry import Normalization

BBOX = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]], dtype=np.float32)


def _numbered(files: list[Path]) -> dict[int, Path]:
    """View number -> file: integer stems, or sorted position when any stem is not an integer."""
    if all(f.stem.isdigit() for f in files):
        return {int(f.stem): f for f in files}
    return dict(enumerate(files))


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _matrix(cams, key: str, npz: Path) -> np.ndarray:
    if key not in cams:
        raise DataFormatError(npz, f"no array '{key}'", "world_mat_i and scale_mat_i for every view with an image")
    return as_matrix(cams[key], npz, f"'{key}'", ((4, 4), (3, 4)))


def _similarity(S: np.ndarray, npz: Path, key: str) -> tuple[float, np.ndarray]:
    """(s, t) of a scale_mat [[s I, t], [0, 1]]; DataFormatError when it is not of that form."""
    s = S[0, 0]
    expected = np.eye(4) * s
    expected[:3, 3], expected[3, 3] = S[:3, 3], 1.0
    if S.shape != (4, 4) or s <= 0 or not np.allclose(S, expected, rtol=1e-6, atol=1e-9 * abs(s)):
        raise DataFormatError(npz, f"'{key}' is not a similarity {S.tolist()}", "[[s I, t], [0, 0, 0, 1]] with s > 0")
    return float(s), S[:3, 3].copy()


def load(
    root: Path,
    masks: bool = True,
    downscale: int = 1,
    lazy: bool = False,
    test_every: int | None = None,
    cameras: str = "cameras_sphere.npz",
) -> SceneData:
    """Load a NeuS-format scene; see the module docstring for the layout and conventions."""
    root = Path(root)
    npz = root / cameras
    if not npz.is_file():
        raise DataFormatError(npz, "file not found", "cameras_sphere.npz with world_mat_i / scale_mat_i")
    try:
        cams = dict(np.load(npz))
    except Exception as exc:  # numpy raises several types for corrupt archives
        raise DataFormatError(npz, f"unreadable npz ({type(exc).__name__})", "a numpy .npz archive") from exc
    folder = next((root / d for d in ("image", "images") if (root / d).is_dir()), None)
    if folder is None:
        raise DataFormatError(root / "image", "folder not found", "image/ (or images/) with one PNG per view")
    files = _numbered(_image_files(folder))
    if not files:
        raise DataFormatError(folder, "no image files", f"images with extensions {IMAGE_EXTENSIONS}")
    numbers = sorted(files)
    Ks, c2ws, scale_ref = [], [], None
    for n in numbers:
        world, scale_mat = _matrix(cams, f"world_mat_{n}", npz), _matrix(cams, f"scale_mat_{n}", npz)
        s, t = _similarity(scale_mat, npz, f"scale_mat_{n}")
        if scale_ref is None:
            scale_ref = (s, t, n, scale_mat)
        elif not (np.isclose(s, scale_ref[0], rtol=1e-6) and np.allclose(t, scale_ref[1], rtol=1e-6, atol=1e-9 * s)):
            raise DataFormatError(npz, f"scale_mat_{n} differs from scale_mat_{scale_ref[2]}", "one scale_mat")
        K, c2w = projection_camera(world[:3, :4] @ scale_mat, npz, f"view {n} (world_mat_{n} @ scale_mat_{n})")
        Ks.append(K)
        c2ws.append(c2w)
    paths = [files[n] for n in numbers]
    images, _, loader, full_hw, hw = read_views(paths, None, downscale, lazy)
    K = np.stack(Ks)
    K[:, 0, 2] += 0.5
    K[:, 1, 2] += 0.5
    K = resize_K(K, full_hw, hw)
    mask_arr = None
    if masks and (root / "mask").is_dir():
        mask_files = _numbered(_image_files(root / "mask"))
        mask_list = []
        for n in numbers:
            if n not in mask_files:
                raise DataFormatError(root / "mask", f"no mask for view {n} ({files[n].name})", "one mask per image")
            m = read_mask(mask_files[n])
            if m.shape != tuple(full_hw):
                raise DataFormatError(mask_files[n], f"mask is {m.shape[0]}x{m.shape[1]}", f"{full_hw} like the image")
            mask_list.append(resize(m, *hw, nearest=True))
        mask_arr = np.stack(mask_list)
    c2w = np.stack(c2ws)
    dist = np.linalg.norm(c2w[:, :3, 3], axis=-1)
    n_views = len(numbers)
    if test_every is None:
        splits = {"train": list(range(n_views))}
    else:
        if not isinstance(test_every, int) or not 2 <= test_every <= n_views:
            raise DataFormatError(root, f"test_every={test_every!r}, {n_views} views", f"an integer in [2, {n_views}]")
        splits = {
            "train": [i for i in range(n_views) if i % test_every],
            "test": list(range(0, n_views, test_every)),
        }
    s, t, _, scale_mat = scale_ref
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=c2w.astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=splits,
        near=float(max(0.0, dist.min() - 1.0)),
        far=float(dist.max() + 1.0),
        bbox=BBOX.copy(),
        image_paths=[str(p) for p in paths],
        frame_ids=[p.stem for p in paths],
        masks=mask_arr,
        normalization=Normalization(scale=1.0 / s, center=tuple(float(v) for v in t)),
        extras={"view_numbers": numbers, "scale_mat": scale_mat},
        image_loader=loader,
    )
