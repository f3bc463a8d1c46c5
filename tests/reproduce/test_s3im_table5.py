"""Table 5 (Dynamic NeRF) end to end in the smoke profile on the synthetic nvidia_dynamic sequence, and its spec."""

from __future__ import annotations

import json

import pytest

from common.config import load_config
from common.results import registry
from reproduce import s3im_table5


@pytest.mark.slow
def test_table5_smoke_writes_results(tmp_path, monkeypatch):
    for k, v in {
        "NF_DATA_CACHE": tmp_path / "cache",
        "PROFILE": "smoke",
        "DEVICE": "cpu",
        "JOBS": "2",
        "RUNS_DIR": tmp_path / "runs",
        "RESULTS_DIR": tmp_path / "results",
    }.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.delenv("NVIDIA_DYNAMIC_ROOT", raising=False)
    assert s3im_table5.main([]) == 0
    doc = json.loads((tmp_path / "results" / "table.json").read_text())
    assert doc["provenance"]["data_source"] == "synthetic"
    md = (tmp_path / "results" / "table.md").read_text()
    assert "22.55" in md and "balloons" in md and "generator ground truth (MiDaS/RAFT substitutes)" in md
    report = json.loads((tmp_path / "runs" / "balloon1" / "multiplex" / "seed1" / "test_metrics.json").read_text())
    assert report["data_source"] == "synthetic" and report["mean"]["psnr"] > 0
    assert report["priors"].startswith("priors: generator ground truth")


def test_table5_spec_maps_cells_and_configs(monkeypatch):
    monkeypatch.delenv("NVIDIA_DYNAMIC_ROOT", raising=False)
    spec = s3im_table5.SPEC
    assert [spec.scene(c) for c in spec.scenes] == ["balloons"]
    monkeypatch.setenv("NVIDIA_DYNAMIC_ROOT", "/data/nvidia")
    assert spec.scene("balloon1") == "Balloon1"
    paper = registry.get(spec.paper, spec.table_id)
    assert list(paper.columns) == ["balloon1"] and set(spec.settings) <= set(paper.rows)
    for profile in ("paper", "quick", "smoke"):
        for args in spec.settings.values():
            cfg = load_config(spec.preset, profile, None, args)
            assert cfg.model.name == "dynamic_nerf" and cfg.data.format == "nvidia_dynamic"
            assert (cfg.train.batch_size * cfg.s3im.repeat_time) % cfg.s3im.patch_height == 0
    assert load_config(spec.preset, "paper", None, []).data.options == {"factor": 2}
