"""PROFILE=smoke runs of the reproduce scripts (tables 1-5, figures 6-8) end to end, under a temporary RUNS_DIR."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def smoke_env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    runs = tmp_path_factory.mktemp("repro")
    mp.setenv("PROFILE", "smoke")
    mp.setenv("RUNS_DIR", str(runs))
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("DEVICE", "cpu")
    yield runs
    mp.undo()


def test_smoke_tables_and_figures(smoke_env):
    from reproduce import jacobinerf_figures, jacobinerf_table1, jacobinerf_table3, jacobinerf_table45

    assert jacobinerf_table1.main(["replica"]) == 0
    doc = json.loads((smoke_env / "results/table1_replica/synthetic-smoke/table.json").read_text())
    assert doc["provenance"]["data_source"] == "synthetic"
    assert "selfsup" in json.dumps(doc["provenance"]["extra"]["feature_source"])
    assert jacobinerf_table45.main([]) == 0
    assert jacobinerf_table3.main([]) == 0
    assert jacobinerf_figures.main([]) == 0
    figs = smoke_env / "results/figures/synthetic-smoke"
    assert {"figure6_density.png", "figure7_sigma.png", "figure8_recolour.png", "figures.json"} <= {
        p.name for p in figs.iterdir()
    }
    for stem in (
        "table4_psnr/synthetic-smoke/table.json",
        "table5/synthetic-smoke/table_left.json",
        "table3/synthetic-smoke/table_right.json",
    ):
        assert (smoke_env / "results" / stem).is_file()


@pytest.mark.slow
def test_smoke_table2_scannet(smoke_env):
    from reproduce import jacobinerf_table1

    assert jacobinerf_table1.main(["scannet"]) == 0
    doc = json.loads((smoke_env / "results/table2_scannet/synthetic-smoke/table.json").read_text())
    assert doc["provenance"]["extra"]["labels"] == "instance"
