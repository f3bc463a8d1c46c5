"""Bad input to a training entry point: one line naming the key or file, exit 2, nothing created.

Uses the toy model family of test_engine_experiment (the same CLI as ``python -m s3im.train``).
"""

from __future__ import annotations

import re

import pytest
import torch
from test_engine_experiment import PRESET, REGISTRY, run

from common.engine.checkpoint import list_checkpoints
from common.engine.cli import main


@pytest.fixture
def preset(tmp_path):
    import yaml

    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(PRESET))
    return path


CONFIG_CASES = {
    "unknown key": (["train.itres=3"], "train.itres"),
    "wrong type": (["train.iters=many"], "train.iters"),
    "zero iters": (["train.iters=0"], "train.iters"),
    "negative iters": (["train.iters=-5"], "train.iters"),
    "zero batch": (["train.batch_size=0"], "train.batch_size"),
    "zero keep_last": (["train.keep_last=0"], "train.keep_last"),
    "zero checkpoint_every": (["train.checkpoint_every=0"], "train.checkpoint_every"),
    "nan number": (["train.lr_gamma=.nan"], "train.lr_gamma"),
    "inf number": (["train.grad_clip=.inf"], "train.grad_clip"),
    "unknown lpips net": (["eval.lpips_net=resnet"], "eval.lpips_net"),
    "unknown schedule": (["train.lr_schedule=linear"], "lr_schedule"),
    "unknown sampler": (["train.sampler=spiral"], "spiral"),
    "patch without size": (["train.sampler=patch"], "patch_size"),
    "negative ema": (["train.ema_decay=-1"], "train.ema_decay"),
    "unknown model": (["model.name=nerf9"], "model.name"),
    "bare override": (["train.iters"], "train.iters"),
    "bad yaml value": (["train.iters=[1,"], "train.iters"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_config_errors_are_one_line_before_any_run_dir(preset, tmp_path, capsys, case):
    overrides, needle = CONFIG_CASES[case]
    rc = run(preset, tmp_path / "r", *overrides)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--profile", "paper"], "--config"),
        (["--config", "no/such/preset.yaml"], "no/such/preset.yaml"),
        (["--config", "PRESET", "--device", "tpu"], "--device"),
        (["--config", "PRESET", "--profile", "fast"], "fast"),
        (["--config", "PRESET", "--frobnicate"], "--frobnicate"),
        (["--config", "PRESET", "--file", "missing.yaml"], "missing.yaml"),
    ],
)
def test_command_line_errors_are_one_line(preset, tmp_path, capsys, argv, needle):
    argv = [str(preset) if a == "PRESET" else a for a in argv]
    rc = main(
        [*argv, "--run-dir", str(tmp_path / "r")],
        prog="toy",
        project="toy",
        registry=REGISTRY,
        default_run_root=str(tmp_path),
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err


def test_cuda_requested_without_a_gpu(preset, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    rc = main(
        ["--config", str(preset), "--device", "cuda", "--run-dir", str(tmp_path / "r")],
        prog="toy",
        project="toy",
        registry=REGISTRY,
        default_run_root=str(tmp_path),
    )
    assert rc == 2 and "--device cuda" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_starting_over_a_run_with_checkpoints_is_refused(preset, tmp_path, capsys):
    assert run(preset, tmp_path / "r", "train.iters=2") == 0
    capsys.readouterr()
    assert run(preset, tmp_path / "r", "train.iters=2") == 2
    assert "--resume" in capsys.readouterr().err


def test_truncated_latest_checkpoint_falls_back_to_the_previous_one(preset, tmp_path, capsys):
    assert run(preset, tmp_path / "straight") == 0
    from test_engine_experiment import CRASH, assert_same_checkpoints

    CRASH["at"] = 5
    assert run(preset, tmp_path / "split") == 130
    ckpts = list_checkpoints(tmp_path / "split" / "checkpoints")
    assert [p.name for p in ckpts][-1] == "step-000000004.pt"
    ckpts[-1].write_bytes(ckpts[-1].read_bytes()[:100])  # truncated by a full disk
    capsys.readouterr()
    assert run(preset, tmp_path / "split", resume=True) == 0
    err = capsys.readouterr().err
    assert "step-000000004.pt: unreadable checkpoint" in err and "falling back" in err
    assert_same_checkpoints(tmp_path / "straight", tmp_path / "split")  # retrained from step 2: same result


def test_non_finite_training_stops_without_metrics(preset, tmp_path, capsys):
    from test_engine_experiment import DIVERGE

    DIVERGE["at"] = 3
    try:
        assert run(preset, tmp_path / "r") == 3
    finally:
        DIVERGE["at"] = None
    err = capsys.readouterr().err.strip()
    assert re.search(r"step \d+: non-finite (loss term|parameter) '", err) and len(err.splitlines()) == 1
    assert not (tmp_path / "r" / "test_metrics.json").exists() and not (tmp_path / "r" / "done.json").exists()
