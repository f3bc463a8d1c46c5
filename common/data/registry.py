"""Format name -> loader. Every loader module exposes ``load(root, **options) -> SceneData``.

Modules are imported lazily, so importing `common.data` stays cheap and a loader's optional
dependencies are only needed when that format is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from common.data.errors import DataFormatError
from common.data.scene import SceneData

FORMATS: dict[str, str] = {
    "replica_monosdf": "common.data.replica_monosdf",
    "replica_semantic_nerf": "common.data.replica_semantic_nerf",
    "replica_nice_slam": "common.data.replica_nice_slam",
    "tnt_nsvf": "common.data.tnt_nsvf",
    "tnt_nerfpp": "common.data.tnt_nerfpp",
    "scannet": "common.data.scannet",
    "co3dv2": "common.data.co3dv2",
    "blender": "common.data.blender",
    "dnerf": "common.data.dnerf",
    "nvidia_dynamic": "common.data.nvidia_dynamic",
    "transforms_json": "common.data.transforms_json",
    "dtu_neus": "common.data.dtu_neus",
    "image_folder": "common.data.image_folder",
}


def load_scene(format: str, root: str | Path, **options) -> SceneData:
    """Load the scene at ``root`` written in ``format`` (a key of `FORMATS`).

    ``options`` are passed to the format's loader (e.g. ``downscale=2``, ``split=...``).
    Raises DataFormatError for an unknown format, a missing root or malformed files.
    """
    if format not in FORMATS:
        raise DataFormatError(str(root), f"unknown format '{format}'", f"one of {sorted(FORMATS)}")
    root = Path(root)
    if not root.exists():
        raise DataFormatError(root, "does not exist", f"a directory in the '{format}' layout")
    module = importlib.import_module(FORMATS[format])
    scene = module.load(root, **options)
    scene.format = format
    scene.root = str(root)
    return scene.validate()
