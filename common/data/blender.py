"""Blender / NeRF-synthetic loader: ``transforms_{train,val,test}.json`` plus RGBA PNGs.

Layout (NeRF synthetic, as read by DVGO's ``load_blender``)::

    root/transforms_train.json   {"camera_angle_x": float, "frames": [{"file_path": "./train/r_0",
    root/transforms_val.json                                           "transform_matrix": 4x4}, ...]}
    root/transforms_test.json
    root/train/r_0.png ...       RGBA (8 or 16 bit); ``file_path`` may omit the ".png" extension

Conventions applied on the way in:
  * ``transform_matrix`` is an OpenGL camera-to-world (x right, y up, looking along -z); it is
    converted to OpenCV by negating rotation columns 1 and 2 (``common.cameras.opengl_to_opencv``).
  * K: fx = fy = 0.5 W / tan(0.5 camera_angle_x), cx = W / 2, cy = H / 2 (pixel centres at u + 0.5).
  * RGBA images are composited on ``background``: rgb * a + bg * (1 - a); masks = (alpha >= 0.5).
  * near / far = 2 / 6 and bbox = [-1.5, 1.5]^3 (DVGO / TensoRF / nerfstudio values for this data set).

Options:
  splits: json files to read, e.g. ("train", "test"); default None = every one of train/val/test
      that exists (at least one must). Views are concatenated in split order, frames in file order.
  background: RGB in [0, 1] for alpha compositing (white (1, 1, 1) as DVGO/NeRF with ``white_bkgd``).
  testskip: keep every ``testskip``-th frame of val and test (train is never subsampled).
  downscale: integer factor; images resized to (H // downscale, W // downscale), K scaled to match.
  lazy: images None, ``image_paths`` / ``image_loader`` set; masks are then not read (None).

``load_transforms`` is shared with the D-NeRF loader; the generic view and frame helpers it uses live in
`common.data.views`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common.cameras import opengl_to_opencv
from common.data.errors import DataFormatError
from common.data.io import read_json
from common.data.scene import SceneData
from common.data.views import frames_of, pose_matrix, read_views, resize_K, resolve_image

SPLITS = ("train", "val", "test")
NEAR, FAR = 2.0, 6.0
BBOX = np.array([[-1.5, -1.5, -1.5], [1.5, 1.5, 1.5]], dtype=np.float32)


def load_transforms(
    root: Path,
    splits=None,
    background=(1.0, 1.0, 1.0),
    testskip: int = 1,
    downscale: int = 1,
    lazy: bool = False,
    read_times: bool = False,
) -> SceneData:
    """Read Blender-style ``transforms_<split>.json`` files (shared by the Blender and D-NeRF loaders).

    With ``read_times`` each frame must carry ``time`` in [0, 1]; they become ``times`` [N].
    """
    root = Path(root)
    if not isinstance(testskip, int) or testskip < 1:
        raise DataFormatError(root, f"testskip={testskip!r}", "an integer >= 1")
    names = [s for s in SPLITS if (root / f"transforms_{s}.json").is_file()] if splits is None else list(splits)
    if not names:
        raise DataFormatError(root / "transforms_train.json", "file not found", "transforms_{train,val,test}.json")
    paths, c2w, times, frame_ids, split_idx = [], [], [], [], {}
    angle = None
    for name in names:
        jpath = root / f"transforms_{name}.json"
        meta = read_json(jpath)
        frames = frames_of(meta, jpath)
        if name != "train":
            frames = frames[::testskip]
        a = meta.get("camera_angle_x")
        fov = "a horizontal field of view in (0, pi) radians"
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0.0 < float(a) < math.pi:
            raise DataFormatError(jpath, f"camera_angle_x = {a!r}", fov)
        if angle is not None and not math.isclose(float(a), angle, rel_tol=1e-6):
            raise DataFormatError(jpath, f"camera_angle_x {a} differs from {angle} of the other splits", "one camera")
        angle = float(a)
        split_idx[name] = list(range(len(paths), len(paths) + len(frames)))
        for i, fr in enumerate(frames):
            where = f"frame {i} ({fr['file_path']})"
            paths.append(resolve_image(root, fr["file_path"], jpath))
            c2w.append(pose_matrix(fr.get("transform_matrix"), jpath, where))
            frame_ids.append(f"{name}/{Path(fr['file_path']).stem}")
            if read_times:
                t = fr.get("time")
                if not isinstance(t, (int, float)) or not 0.0 <= float(t) <= 1.0:
                    raise DataFormatError(jpath, f"{where}: time = {t!r}", "a number 'time' in [0, 1]")
                times.append(float(t))
    images, masks, loader, (H, W), hw = read_views(
        paths, None, downscale, lazy, background=tuple(background), alpha_masks=True
    )
    focal = 0.5 * W / math.tan(0.5 * angle)
    K = np.array([[focal, 0.0, W / 2.0], [0.0, focal, H / 2.0], [0.0, 0.0, 1.0]])
    K = np.repeat(resize_K(K, (H, W), hw)[None], len(paths), axis=0)
    return SceneData(
        images=images,
        K=K.astype(np.float32),
        c2w=opengl_to_opencv(np.stack(c2w)).astype(np.float32),
        height=hw[0],
        width=hw[1],
        splits=split_idx,
        near=NEAR,
        far=FAR,
        bbox=BBOX.copy(),
        image_paths=[str(p) for p in paths],
        frame_ids=frame_ids,
        masks=masks,
        times=np.asarray(times, dtype=np.float32) if read_times else None,
        extras={"camera_angle_x": angle, "background": tuple(float(v) for v in background)},
        image_loader=loader,
    )


def load(
    root: Path,
    splits=None,
    background=(1.0, 1.0, 1.0),
    testskip: int = 1,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a NeRF-synthetic (Blender) scene; see the module docstring for the layout and options."""
    return load_transforms(root, splits, background, testskip, downscale, lazy, read_times=False)
