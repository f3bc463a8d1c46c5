from __future__ import annotations

import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from common.engine.run_dir import RunDir
from common.engine.tracking import Tracker, resolve_mode, wandb_logged_in
from common.engine.trainer import Trainer


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "NETRC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_mode_resolution_order(clean_env, monkeypatch):
    assert not wandb_logged_in() and resolve_mode() == "offline"
    (clean_env / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert wandb_logged_in() and resolve_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode() == "offline"  # the environment beats the login
    assert resolve_mode("disabled") == "disabled"  # the argument beats the environment
    (clean_env / ".netrc").write_text("machine example.com\n  login user\n  password abc\n")
    monkeypatch.delenv("WANDB_MODE")
    assert resolve_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_mode() == "online"
    with pytest.raises(ValueError, match="expected one of online, offline, disabled"):
        resolve_mode("sometimes")


def _wandb_bytes(run_path, key: bytes, timeout_s: float = 10.0) -> bytes:
    """Content of the offline run's .wandb log once it mentions ``key`` (the service writes it asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        files = list(run_path.glob("wandb/offline-run-*/run-*.wandb"))
        data = b"".join(f.read_bytes() for f in files)
        if key in data or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def test_offline_wandb_and_local_files(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = RunDir(tmp_path / "run")
    img = np.linspace(0, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    with Tracker("nf-test", "table1/room0", "multiplex", {"train": {"iters": 3}}, run) as tracker:
        assert tracker.mode == "offline" and tracker.wandb_active
        tracker.log_scalars({"loss_term_alpha": 0.25, "psnr": torch.tensor(21.5)}, step=1)
        tracker.log_scalars({"psnr_heldout": 19.0}, step=1, split="eval")
        paths = tracker.log_images({"test/view 0": img, "depth": (img * 255).astype(np.uint8)}, step=1)
    assert not tracker.wandb_active
    offline = list(run.path.glob("wandb/offline-run-*"))
    assert len(offline) == 1
    data = _wandb_bytes(run.path, b"train/loss_term_alpha")
    for key in (b"train/loss_term_alpha", b"train/psnr", b"eval/psnr_heldout", b"table1/room0", b"multiplex"):
        assert key in data, key
    assert list(offline[0].glob("files/media/images/*.png"))
    assert [(r["split"], r["values"]) for r in run.read_metrics()] == [
        ("train", {"loss_term_alpha": 0.25, "psnr": 21.5}),
        ("eval", {"psnr_heldout": 19.0}),
    ]
    assert [p.relative_to(run.renders).as_posix() for p in paths] == [
        "test/view_0/step-000000001.png",
        "depth/step-000000001.png",
    ]
    np.testing.assert_array_equal(iio.imread(paths[0]), (img * 255 + 0.5).astype(np.uint8))


def test_broken_wandb_init_does_not_fail_the_run(clean_env, monkeypatch, tmp_path):
    import wandb

    def broken_init(**kwargs):
        raise RuntimeError("service unreachable")

    monkeypatch.setattr(wandb, "init", broken_init)
    run = RunDir(tmp_path / "run")
    with pytest.warns(RuntimeWarning, match="wandb disabled .*RuntimeError: service unreachable"):
        tracker = Tracker("nf-test", "g", "n", {}, run, mode="offline")
    assert not tracker.wandb_active

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(3))

        def param_groups(self):
            return [{"name": "w", "params": [self.w], "lr": 0.1}]

        def forward(self, batch, step):
            return {"rgb": self.w.expand(2, 3)}

        def losses(self, outputs, batch, step):
            return {"mse": ((outputs["rgb"] - batch["rgb"]) ** 2).mean()}

    sampler = lambda step, g: {"rgb": torch.full((2, 3), 0.5)}  # noqa: E731
    summary = Trainer(Model(), sampler, iters=3, run_dir=run, tracker=tracker, log_every=1, progress=False).fit()
    tracker.finish()
    assert summary["step"] == 3 and [r["step"] for r in run.read_metrics("train")] == [1, 2, 3]


def test_wandb_failing_while_logging_is_disabled_once(clean_env, monkeypatch, tmp_path):
    run = RunDir(tmp_path / "run")
    tracker = Tracker("nf-test", "g", "n", {}, run, mode="offline")
    assert tracker.wandb_active

    def broken_log(*args, **kwargs):
        raise ConnectionError("lost")

    monkeypatch.setattr(tracker._run, "log", broken_log)
    with pytest.warns(RuntimeWarning, match="ConnectionError: lost"):
        tracker.log_scalars({"a": 1.0}, step=1)
    assert not tracker.wandb_active
    tracker.log_scalars({"a": 2.0}, step=2)  # local logging goes on, silently
    tracker.finish()
    assert [r["values"]["a"] for r in run.read_metrics()] == [1.0, 2.0]


def test_disabled_mode_and_bad_images(clean_env, tmp_path):
    tracker = Tracker("nf-test", None, None, None, tmp_path / "run", mode="disabled")
    assert not tracker.wandb_active and not (tmp_path / "run" / "wandb").exists()
    with pytest.raises(ValueError, match="image 'x' has shape \\(4, 4, 4\\); expected \\[H, W, 3\\]"):
        tracker.log_images({"x": np.zeros((4, 4, 4))}, step=0)
    with pytest.raises(ValueError, match="dtype int64"):
        tracker.log_images({"x": np.zeros((4, 4, 3), dtype=np.int64)}, step=0)
    tracker.finish()
