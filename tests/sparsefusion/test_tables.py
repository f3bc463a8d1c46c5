"""The reproduce scripts' smoke profile: trains, evaluates every method and writes each table (under tmp)."""

import json

import pytest

from sparsefusion import tables


@pytest.mark.slow
def test_smoke_profile_writes_every_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PROFILE", "smoke")
    monkeypatch.setenv("RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    for table_id in ("table2", "table3", "table5", "table6", "figure8", "table4"):
        assert tables.main(table_id, []) == 0
    doc = json.loads((tmp_path / "results" / "table2" / "synthetic-smoke" / "table.json").read_text())
    assert doc["data_source"] == "synthetic" and doc["ours"]["sparsefusion"]["psnr"]["donut"] is not None
    assert doc["ours"]["pixelnerf"]["psnr"]["donut"] is not None  # our PixelNeRF beside the paper's row
    assert not any(m["row"] == "pixelnerf" and m["column"] == "donut" for m in doc["missing"])
    assert any("PixelNeRF: ours" in n and "trained from scratch" in n for n in doc["notes"])  # encoder weights named
    t4 = json.loads((tmp_path / "results" / "table4" / "synthetic-smoke" / "table.json").read_text())
    assert t4["ours"]["pixelnerf"]["psnr"]["views2"] is not None
    assert (tmp_path / "results" / "table2" / "synthetic-smoke" / "views.png").is_file()
    assert (tmp_path / "results" / "figure8" / "synthetic-smoke" / "figure8.png").is_file()
    t6 = json.loads((tmp_path / "results" / "table6" / "synthetic-smoke" / "table.json").read_text())
    assert len(t6["ours"]) == 8


def test_table_spec_covers_the_registered_tables():
    assert set(tables.SPEC) == {"table2", "table3", "table4", "table5", "table6", "figure8"}
    assert set(tables.ROWS6.values()) == {
        f"{s}_{m}{p}" for s in ("latent", "pixel") for m in ("single", "multi") for p in ("", "_perceptual")
    }
