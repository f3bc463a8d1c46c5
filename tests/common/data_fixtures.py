"""Writers of tiny scenes for the loader tests: random poses, images and label maps with known values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from common.data.io import write_png

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_sample(name: str) -> Path:
    """Path of a real sample under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real sample {path} not present")
    return path


def random_c2w(rng: np.random.Generator, n: int, spread: float = 2.0) -> np.ndarray:
    """[n, 4, 4] random rigid camera-to-world matrices."""
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.random(n, random_state=rng.integers(1 << 31)).as_matrix()
    c2w[:, :3, 3] = rng.uniform(-spread, spread, (n, 3))
    return c2w


def random_images(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """[n, h, w, 3] uint8 images."""
    return rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def write_images(paths: list[Path], images: np.ndarray) -> None:
    for p, img in zip(paths, images):
        write_png(p, img)


def write_matrix(path: Path, mat: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.asarray(mat).reshape(-1, mat.shape[-1]) if mat.ndim > 1 else mat[None])


def assert_names(err: pytest.ExceptionInfo, path: Path | str) -> None:
    """The DataFormatError message names ``path`` (a file or directory)."""
    assert str(path) in str(err.value), f"{path} not in: {err.value}"
