"""The driver family: pretrain -> shaping transition on a tiny synthetic room (smoke profile), the shaping terms,
the adaptive threshold in the checkpoint, and resume."""

from __future__ import annotations

import json

import pytest
import torch

from common.engine.checkpoint import load_latest_good
from jacobinerf.train import main as train_main


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("jnerf") / "run"
    code = train_main(
        [
            "--config",
            "jacobinerf/configs/jnerf_replica.yaml",
            "--profile",
            "smoke",
            "--run-dir",
            str(run),
            "--device",
            "cpu",
            "features.cache_dir=" + str(run.parent / "cache"),
        ]
    )
    assert code == 0
    return run


def test_two_stages_and_shaping_terms(smoke_run):
    assert (smoke_run / "pretrain" / "checkpoints").is_dir() and (smoke_run / "done.json").is_file()
    pre = [json.loads(x) for x in (smoke_run / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    shp = [json.loads(x) for x in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    pre_train = [r for r in pre if r["split"] == "train"]
    shp_train = [r for r in shp if r["split"] == "train"]
    assert pre_train and "mig" not in pre_train[0]["values"]
    assert {"mse", "mse_coarse", "mig", "grad_norm"} <= set(shp_train[0]["values"])
    report = json.loads((smoke_run / "test_metrics.json").read_text())
    assert report["data_source"] == "synthetic"


def test_checkpoint_holds_threshold_and_differs_from_pretrain(smoke_run):
    _, shaped = load_latest_good(smoke_run)
    _, plain = load_latest_good(smoke_run / "pretrain")
    assert "tau" in shaped["model_extra"] and 0.5 <= shaped["model_extra"]["tau"] <= 0.9
    key = "fields.fine.rgb_linear.weight"
    assert not torch.equal(shaped["model"][key], plain["model"][key])


def test_resume_finished_run_is_a_no_op(smoke_run):
    before = (smoke_run / "test_metrics.json").read_text()
    code = train_main(
        [
            "--config",
            "jacobinerf/configs/jnerf_replica.yaml",
            "--profile",
            "smoke",
            "--run-dir",
            str(smoke_run),
            "--device",
            "cpu",
            "--resume",
            "features.cache_dir=" + str(smoke_run.parent / "cache"),
        ]
    )
    assert code == 0
    assert (smoke_run / "test_metrics.json").read_text() == before
