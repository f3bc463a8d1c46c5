from __future__ import annotations

import pytest

from common.data import FORMATS, DataFormatError, load_scene


def test_unknown_format_lists_the_known_ones(tmp_path):
    with pytest.raises(DataFormatError, match="unknown format 'nerf_llff'") as err:
        load_scene("nerf_llff", tmp_path)
    assert str(tmp_path) in str(err.value)
    for name in ("replica_monosdf", "scannet", "tnt_nsvf"):
        assert name in str(err.value)


@pytest.mark.parametrize(
    "fmt", ["replica_monosdf", "replica_semantic_nerf", "replica_nice_slam", "tnt_nsvf", "tnt_nerfpp", "scannet"]
)
def test_missing_root(tmp_path, fmt):
    assert fmt in FORMATS
    with pytest.raises(DataFormatError, match="does not exist") as err:
        load_scene(fmt, tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value) and fmt in str(err.value)


@pytest.mark.parametrize(
    "fmt", ["replica_monosdf", "replica_semantic_nerf", "replica_nice_slam", "tnt_nsvf", "tnt_nerfpp", "scannet"]
)
def test_empty_root_is_a_format_error_naming_a_file(tmp_path, fmt):
    with pytest.raises(DataFormatError) as err:
        load_scene(fmt, tmp_path)
    assert str(tmp_path) in str(err.value)
