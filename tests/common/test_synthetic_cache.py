"""Data cache: generate once, reuse, regenerate on parameter change, never leave a half data set."""

from __future__ import annotations

import json

import pytest

import common.data.synthetic as synthetic
from common.data import load_scene
from common.data.synthetic import GENERATOR_VERSION, KINDS, Kind, ensure_dataset
from common.data.synthetic.__main__ import main


@pytest.fixture
def counting(monkeypatch):
    """The tnt_nsvf kind wrapped so that generator calls are counted."""
    calls = []
    real = KINDS["tnt_nsvf"]

    def generate(out, **kw):
        calls.append(kw)
        return real.generate(out, **kw)

    monkeypatch.setitem(KINDS, "tnt_nsvf", Kind(generate, real.format, 1, 32, 4, real.description))
    return calls


def test_reuse_and_regenerate(tmp_path, counting):
    first = ensure_dataset("tnt_nsvf", root=tmp_path)
    assert first == tmp_path / "tnt_nsvf-r32-s0" and len(counting) == 1
    marker = json.loads((first / "done.json").read_text())
    assert marker == {"kind": "tnt_nsvf", "scenes": 1, "res": 32, "seed": 0, "frames": 4, "version": GENERATOR_VERSION}
    assert load_scene("tnt_nsvf", first / "Barn").num_views == 4
    assert ensure_dataset("tnt_nsvf", root=tmp_path) == first and len(counting) == 1
    ensure_dataset("tnt_nsvf", root=tmp_path, frames=5)
    assert len(counting) == 2 and load_scene("tnt_nsvf", first / "Barn").num_views == 5
    ensure_dataset("tnt_nsvf", root=tmp_path, frames=5, seed=1)
    assert len(counting) == 3 and (tmp_path / "tnt_nsvf-r32-s1" / "done.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "tnt_nsvf-r32-s0",
        "tnt_nsvf-r32-s1",
    ]


def test_version_change_regenerates(tmp_path, counting, monkeypatch):
    ensure_dataset("tnt_nsvf", root=tmp_path)
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", GENERATOR_VERSION + 1)
    ensure_dataset("tnt_nsvf", root=tmp_path)
    assert len(counting) == 2


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def broken(out, **kw):
        (out / "partial.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setitem(KINDS, "broken", Kind(broken, "tnt_nsvf", 1, 8, 1, "fails"))
    with pytest.raises(KeyboardInterrupt):
        ensure_dataset("broken", root=tmp_path)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_env_cache_and_unknown_kind(tmp_path, counting, monkeypatch):
    monkeypatch.setenv("NF_DATA_CACHE", str(tmp_path / "c"))
    assert ensure_dataset("tnt_nsvf").parent == tmp_path / "c"
    with pytest.raises(ValueError, match="unknown synthetic kind"):
        ensure_dataset("nope", root=tmp_path)


def test_cli_writes_a_loadable_layout(tmp_path, capsys):
    assert main(["scannet", "--out", str(tmp_path), "--scenes", "1", "--res", "40", "--frames", "3"]) == 0
    assert "scannet" in capsys.readouterr().out
    scene = load_scene("scannet", tmp_path / "scene0000_00", size=None)
    assert scene.num_views == 3 and scene.width == 40
    with pytest.raises(SystemExit):
        main(["not_a_kind", "--out", str(tmp_path)])


def test_is_synthetic_recognises_generated_scenes(tmp_path):
    from common.data.synthetic import is_synthetic

    scene = tmp_path / "set" / "scan1"
    scene.mkdir(parents=True)
    assert not is_synthetic(scene) and not is_synthetic(scene.parent)
    (scene / "synthetic_scene.json").write_text("{}")
    assert is_synthetic(scene) and is_synthetic(scene.parent)


def test_every_generated_scene_dir_is_recognised_as_synthetic(tmp_path):
    """A scene dir of a kind without synthetic_scene.json (the Blender-layout shapes) is still synthetic."""
    from common.data.synthetic import is_synthetic

    root = ensure_dataset("shapes", root=tmp_path / "gen", scenes=1, res=16, frames=4)
    scene_dir = next(p for p in sorted(root.iterdir()) if p.is_dir())
    assert not (scene_dir / "synthetic_scene.json").exists()
    assert is_synthetic(scene_dir) and is_synthetic(scene_dir / "train") and is_synthetic(root)
    (tmp_path / "real" / "scene").mkdir(parents=True)
    assert not is_synthetic(tmp_path / "real" / "scene")
