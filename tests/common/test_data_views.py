"""Shared view assembly: the lazy ViewReader (same pixels as an eager read, errors naming file and view)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from common.data import DataFormatError
from common.data.io import write_png
from common.data.views import ViewReader, read_views, scaled_size


def _write(tmp_path, n=3, hw=(6, 8)):
    rng = np.random.default_rng(0)
    paths = [tmp_path / f"{i}.png" for i in range(n)]
    for p in paths:
        write_png(p, rng.integers(0, 256, (*hw, 4), dtype=np.uint8))
    return paths


def test_lazy_reader_equals_eager_read_and_pickles(tmp_path):
    paths = _write(tmp_path)
    eager, masks, _, full_hw, hw = read_views(paths, None, 2, False, background=(1.0, 0.0, 0.0), alpha_masks=True)
    none, _, reader, full_hw2, hw2 = read_views(paths, None, 2, True, background=(1.0, 0.0, 0.0))
    assert none is None and (full_hw, hw) == (full_hw2, hw2) == ((6, 8), (3, 4)) and masks.shape == (3, 3, 4)
    reader = pickle.loads(pickle.dumps(reader))
    for i in range(3):
        np.testing.assert_array_equal(reader(i), eager[i])


def test_lazy_reader_names_file_and_view_when_the_image_changed_or_broke(tmp_path):
    paths = _write(tmp_path)
    reader = ViewReader(paths, (3, 4), (6, 8))
    write_png(paths[1], np.zeros((7, 8, 3), np.uint8))
    with pytest.raises(DataFormatError, match="view 1: image is 7x8") as err:
        reader(1)
    assert str(err.value).startswith(f"{paths[1]}: ")
    paths[2].write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataFormatError, match="view 2: unreadable") as err:
        reader(2)
    assert str(err.value).startswith(f"{paths[2]}: ") and "\n" not in str(err.value)


def test_scaled_size_checks_the_factor():
    assert scaled_size(6, 9, 2, "x") == (3, 4)
    for bad in (0, 7, 1.5, True):
        with pytest.raises(DataFormatError, match="downscale"):
            scaled_size(6, 9, bad, "x")
