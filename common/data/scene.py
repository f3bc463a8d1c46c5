"""`SceneData`: the one data contract every loader returns.

Conventions (fixed for the whole project):
  * images: float32 in [0, 1], [N, H, W, 3] (RGB; alpha already composited by the loader).
  * K: [N, 3, 3] pinhole intrinsics in pixels, pixel centres at (u + 0.5, v + 0.5) for integer u, v.
  * c2w: [N, 4, 4] camera-to-world, OpenCV convention (x right, y down, z forward).
  * depth: [N, H, W] z-depth (distance along the camera z axis) in the same units as c2w; 0 = invalid.
  * world units: the data set's own (metres for Replica / ScanNet) until `normalize()` is called;
    `normalization` then records the similarity transform applied, so results map back.
All views of one scene share one image size (H, W) unless `images` is None (lazy) and
`image_paths` is given; lazy images are read with `load_image(i)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from common.data.checks import check_intrinsics, check_rotation
from common.data.errors import DataFormatError
from common.geometry import Normalization

__all__ = ["Normalization", "SceneData"]  # Normalization re-exported: SceneData.normalization holds one


@dataclass
class SceneData:
    """A scene: posed images plus optional per-view and per-scene annotations.

    Required:
      images: [N, H, W, 3] float32 in [0, 1] (or None when `image_paths` is set and loading is lazy).
      K: [N, 3, 3] float32 intrinsics (already scaled to the loaded image size).
      c2w: [N, 4, 4] float32 camera-to-world, OpenCV convention.
      height, width: image size in pixels (all views).
      splits: name -> sorted list of view indices (at least ``train``; ``test`` where the format defines one).
      near, far: scalar ray bounds in scene units.
      bbox: [2, 3] float (min corner, max corner) of the region of interest, in scene units.
    Optional per view (first axis N): depth [N,H,W] float32, masks [N,H,W] bool,
      semantics [N,H,W] int32 (class ids, -1 = void), instances [N,H,W] int32, times [N] float32 in [0,1].
    Optional per scene: class_names (id -> name), mesh_path (ground-truth mesh, in the same units/frame
      as `c2w` before normalisation), extras (format-specific values, e.g. distortion coefficients).
    """

    images: np.ndarray | None
    K: np.ndarray
    c2w: np.ndarray
    height: int
    width: int
    splits: dict[str, list[int]]
    near: float
    far: float
    bbox: np.ndarray
    image_paths: list[str] | None = None
    frame_ids: list[str] | None = None
    depth: np.ndarray | None = None
    masks: np.ndarray | None = None
    semantics: np.ndarray | None = None
    instances: np.ndarray | None = None
    times: np.ndarray | None = None
    class_names: dict[int, str] | None = None
    mesh_path: str | None = None
    normalization: Normalization = field(default_factory=Normalization)
    format: str = ""
    root: str = ""
    extras: dict = field(default_factory=dict)
    image_loader: Callable[[int], np.ndarray] | None = field(default=None, repr=False)

    @property
    def num_views(self) -> int:
        return int(self.c2w.shape[0])

    def load_image(self, i: int) -> np.ndarray:
        """[H, W, 3] float32 image of view i (from memory, or read lazily)."""
        if self.images is not None:
            return self.images[i]
        if self.image_loader is None:
            raise DataFormatError(self.root, "no images in memory and no lazy loader", "images or image_paths")
        return self.image_loader(i)

    def materialize(self) -> SceneData:
        """A copy with every image read into memory."""
        if self.images is not None:
            return self
        imgs = np.stack([self.load_image(i) for i in range(self.num_views)]).astype(np.float32)
        return replace(self, images=imgs)

    def split(self, name: str) -> list[int]:
        """Indices of split ``name``; a clear error when it is missing or empty."""
        if name not in self.splits:
            raise DataFormatError(self.root, f"no split '{name}'", f"one of {sorted(self.splits)}")
        idx = self.splits[name]
        if len(idx) == 0:
            raise DataFormatError(self.root, f"split '{name}' selects no view", "at least one view")
        return idx

    def normalize(self, target: str = "sphere", radius: float = 1.0) -> SceneData:
        """Map the scene into a sphere of ``radius`` (around bbox centre) or the box [-radius, radius]^3.

        Transforms c2w, depth, near/far, bbox together and records the transform (composed
        with any earlier one) in ``normalization``; ``mesh_path`` stays in original units
        (use ``normalization`` to map it). Returns a new SceneData.
        """
        lo, hi = np.asarray(self.bbox, dtype=np.float64)
        center = (lo + hi) / 2
        if target == "sphere":
            scale = radius / max(np.linalg.norm(hi - lo) / 2, 1e-12)
        elif target == "box":
            scale = radius / max(np.max(hi - lo) / 2, 1e-12)
        else:
            raise ValueError(f"normalize target must be 'sphere' or 'box', got {target!r}")
        t = Normalization(scale=float(scale), center=tuple(float(v) for v in center))
        return replace(
            self,
            c2w=t.apply_c2w(self.c2w).astype(np.float32),
            depth=None if self.depth is None else (self.depth * scale).astype(np.float32),
            near=float(self.near * scale),
            far=float(self.far * scale),
            bbox=t.apply_points(self.bbox).astype(np.float32),
            normalization=t.compose(self.normalization),
        )

    def validate(self) -> SceneData:
        """Check shapes, finiteness and ranges; raise DataFormatError naming the root otherwise.

        Every view's K must be an invertible pinhole matrix (fx, fy > 0) and its c2w rotation a rotation
        (`common.data.checks`); errors name the view (and its frame id when there is one).
        """
        n = self.num_views
        src = self.root or self.format
        if self.c2w.shape != (n, 4, 4):
            raise DataFormatError(src, f"c2w has shape {self.c2w.shape}", "[N, 4, 4] camera-to-world matrices")
        if self.K.shape != (n, 3, 3):
            raise DataFormatError(src, f"K has shape {self.K.shape}", f"[{n}, 3, 3] intrinsics")
        for name, arr in (("c2w", self.c2w), ("K", self.K)):
            if not np.all(np.isfinite(arr)):
                raise DataFormatError(src, f"{name} has non-finite values", "finite numbers")
        for i in range(n):
            where = f"view {i}" + (f" ({self.frame_ids[i]})" if self.frame_ids and i < len(self.frame_ids) else "")
            check_intrinsics(self.K[i], src, where)
            check_rotation(self.c2w[i], src, where)
        if self.images is not None and self.images.shape != (n, self.height, self.width, 3):
            raise DataFormatError(
                src, f"images have shape {self.images.shape}", f"[{n}, {self.height}, {self.width}, 3]"
            )
        for name, arr, tail in (
            ("depth", self.depth, (self.height, self.width)),
            ("masks", self.masks, (self.height, self.width)),
            ("semantics", self.semantics, (self.height, self.width)),
            ("instances", self.instances, (self.height, self.width)),
            ("times", self.times, ()),
        ):
            if arr is not None and tuple(arr.shape) != (n, *tail):
                raise DataFormatError(src, f"{name} has shape {arr.shape}", f"{(n, *tail)}")
        for sname, idx in self.splits.items():
            if len(idx) == 0:
                raise DataFormatError(src, f"split '{sname}' selects no view", "at least one view per split")
            if min(idx) < 0 or max(idx) >= n:
                raise DataFormatError(src, f"split '{sname}' has indices outside [0, {n})", "valid view indices")
        if not (np.isfinite(self.near) and np.isfinite(self.far) and 0 <= self.near < self.far):
            raise DataFormatError(src, f"near/far = {self.near}/{self.far}", "0 <= near < far, finite")
        return self

    def subset(self, indices: list[int]) -> SceneData:
        """Views ``indices`` only (splits re-indexed, views outside dropped)."""
        idx = list(indices)
        remap = {old: new for new, old in enumerate(idx)}

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self,
            images=take(self.images),
            K=self.K[idx],
            c2w=self.c2w[idx],
            image_paths=None if self.image_paths is None else [self.image_paths[i] for i in idx],
            frame_ids=None if self.frame_ids is None else [self.frame_ids[i] for i in idx],
            depth=take(self.depth),
            masks=take(self.masks),
            semantics=take(self.semantics),
            instances=take(self.instances),
            times=take(self.times),
            splits={k: [remap[i] for i in v if i in remap] for k, v in self.splits.items()},
            image_loader=None if self.image_loader is None else (lambda i, f=self.image_loader: f(idx[i])),
        )
