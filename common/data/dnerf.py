"""D-NeRF loader: the Blender layout plus a per-frame ``time`` in [0, 1].

Layout (D-NeRF synthetic scenes)::

    root/transforms_{train,val,test}.json   frames [{"file_path": "./train/r_000", "time": 0.0,
                                                      "rotation": ..., "transform_matrix": 4x4}, ...]
    root/train/r_000.png ...                 RGBA

Everything but time is read exactly as in `common.data.blender` (OpenGL -> OpenCV poses, focal from
``camera_angle_x``, compositing on ``background``, near / far 2 / 6, bbox [-1.5, 1.5]^3). Every frame
must carry ``time`` (D-NeRF's fallback of evenly spaced times is not applied: a missing time is an
error); they become ``times`` [N] float32, in view order.

Options: the same as the Blender loader (``splits``, ``background``, ``testskip``, ``downscale``,
``lazy``). ``splits`` matters for partial copies: e.g. a folder holding only the test and val files
loads with the default (every split file present) or ``splits=("test", "val")``.
"""

from __future__ import annotations

from pathlib import Path

from common.data.blender import load_transforms
from common.data.scene import SceneData


def load(
    root: Path,
    splits=None,
    background=(1.0, 1.0, 1.0),
    testskip: int = 1,
    downscale: int = 1,
    lazy: bool = False,
) -> SceneData:
    """Load a D-NeRF scene; ``times`` [N] in [0, 1] follow the view order (splits concatenated)."""
    return load_transforms(root, splits, background, testskip, downscale, lazy, read_times=True)
