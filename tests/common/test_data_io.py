"""Image and text readers/writers: value ranges, compositing, errors naming the file, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest

from common.data import DataFormatError
from common.data.io import (
    atomic_write_bytes,
    read_alpha,
    read_mask,
    read_matrix,
    read_rgb,
    read_uint,
    resize,
    write_png,
)


def test_rgb_round_trip_and_rgba_compositing(tmp_path):
    img = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32)
    write_png(tmp_path / "a.png", img)
    np.testing.assert_allclose(read_rgb(tmp_path / "a.png"), img, atol=1 / 255)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[0, 0, 3] = 255  # one opaque red pixel, the rest transparent
    write_png(tmp_path / "b.png", rgba)
    out = read_rgb(tmp_path / "b.png", background=(0.0, 0.0, 1.0))
    np.testing.assert_allclose(out[0, 0], [1, 0, 0])
    np.testing.assert_allclose(out[1, 1], [0, 0, 1])
    np.testing.assert_allclose(read_alpha(tmp_path / "b.png"), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(read_mask(tmp_path / "b.png"), [[True, True], [True, True]])  # red channel


def test_uint16_depth_and_labels(tmp_path):
    depth_mm = (np.arange(12).reshape(3, 4) * 1000).astype(np.uint16)
    write_png(tmp_path / "d.png", depth_mm)
    np.testing.assert_array_equal(read_uint(tmp_path / "d.png"), depth_mm)
    write_png(tmp_path / "f.png", np.ones((2, 2, 3), np.float32))
    np.testing.assert_array_equal(read_uint(tmp_path / "f.png"), np.full((2, 2), 255))  # first channel, 8-bit
    with pytest.raises(DataFormatError, match="missing.png"):
        read_uint(tmp_path / "missing.png")


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataFormatError, match="nope.png: file not found"):
        read_rgb(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="bad.png: unreadable image"):
        read_rgb(tmp_path / "bad.png")
    (tmp_path / "m.txt").write_text("1 2 3\n4 5 x\n")
    with pytest.raises(DataFormatError, match="m.txt: not numeric"):
        read_matrix(tmp_path / "m.txt")
    (tmp_path / "k.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(DataFormatError, match="k.txt: has 6 numbers; expected 9"):
        read_matrix(tmp_path / "k.txt", (3, 3))
    (tmp_path / "n.txt").write_text("1 nan\n")
    with pytest.raises(DataFormatError, match="non-finite"):
        read_matrix(tmp_path / "n.txt")


def test_resize_area_average_and_nearest_labels():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(resize(img, 2, 2), [[2.5, 4.5], [10.5, 12.5]])
    labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(resize(labels, 2, 2, nearest=True), [[1, 2], [3, 4]])


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "x.json"
    atomic_write_bytes(path, b"one")
    atomic_write_bytes(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_as_matrix_checks_type_shape_and_finiteness():
    from common.data.io import as_matrix

    np.testing.assert_array_equal(as_matrix(np.eye(4).tolist(), "m.json", "pose"), np.eye(4))
    assert as_matrix(np.ones((3, 4)), "c.npz", "P", ((4, 4), (3, 4))).shape == (3, 4)
    with pytest.raises(DataFormatError, match=r"m.json: pose has shape \(3, 4\); expected a 4x4 matrix"):
        as_matrix(np.ones((3, 4)), "m.json", "pose")
    with pytest.raises(DataFormatError, match="pose is not numeric"):
        as_matrix([["a"]], "m.json", "pose")
    with pytest.raises(DataFormatError, match="non-finite"):
        as_matrix(np.full((4, 4), np.inf), "m.json", "pose")
