"""The experiment driver: a toy model family registered in a test trains, evaluates and resumes through
``common.engine.cli`` like any paper model (one stage, two stages with a transition hook, a GAN-style
``train_step`` with named optimizers, schedules, gradient clipping, EMA, a callback reaching the sampler)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from common.data.scene import SceneData
from common.engine.checkpoint import latest_checkpoint, load_checkpoint
from common.engine.cli import main
from common.engine.experiment import ExperimentData, ModelFamily, Stage
from common.rays import RayBank

PRESET = {
    "experiment": {"name": "toy", "group": "toy/scene", "setting": "standard", "seed": 3},
    "data": {
        "format": "toy",
        "root": None,
        "scene": "s",
        "downscale": 1,
        "synthetic_res": 8,
        "max_test_views": None,
        "options": None,
    },
    "train": {
        "iters": 6,
        "batch_size": 16,
        "sampler": "permutation",
        "patch_size": None,
        "lr_schedule": "exponential",
        "lr_decay_steps": 10,
        "lr_warmup_steps": 0,
        "lr_final_factor": 0.0,
        "lr_milestones": [],
        "lr_gamma": 0.1,
        "grad_clip": None,
        "ema_decay": None,
        "log_every": 1,
        "eval_every": 3,
        "eval_max_views": 1,
        "checkpoint_every": 2,
        "keep_last": 3,
        "progress": False,
    },
    "model": {"name": "toy", "width": 8, "stages": 1, "gan": False, "filter_at": None},
    "eval": {"chunk": 64, "lpips_net": None, "save_renders": True},
}


def toy_scene(n_views: int = 4, size: int = 12) -> SceneData:
    rng = np.random.default_rng(0)
    K = np.tile(np.array([[12.0, 0, 6], [0, 12.0, 6], [0, 0, 1]], dtype=np.float32), (n_views, 1, 1))
    c2w = np.tile(np.eye(4, dtype=np.float32), (n_views, 1, 1))
    c2w[:, 0, 3] = np.arange(n_views, dtype=np.float32) * 0.1
    images = (rng.integers(0, 256, (n_views, size, size, 3)) / 255).astype(np.float32)
    return SceneData(
        images=images,
        K=K,
        c2w=c2w,
        height=size,
        width=size,
        splits={"train": list(range(n_views - 1)), "test": [n_views - 1]},
        near=0.1,
        far=2.0,
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], dtype=np.float32),
        format="toy",
    )


CRASH: dict = {"at": None}
DIVERGE: dict = {"at": None}  # the step whose loss the toy field makes NaN (a diverged run)


class ToyField(torch.nn.Module):
    """rgb = sigmoid(MLP(rays_o, rays_d)); noise from the global RNG so resume must restore it."""

    def __init__(self, width: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(6, width), torch.nn.ReLU(), torch.nn.Linear(width, 3))
        self.filter_at = None
        self.filtered = []

    def param_groups(self):
        return [{"name": "net", "params": list(self.net.parameters()), "lr": 1e-2}]

    def _rgb(self, rays):
        return torch.sigmoid(self.net(torch.cat([rays["rays_o"], rays["rays_d"]], -1)))

    def forward(self, batch, step):
        return {"rgb": self._rgb(batch) + 1e-4 * torch.rand(len(batch["rays_o"]), 1)}

    def losses(self, outputs, batch, step):
        mse = torch.mean((outputs["rgb"] - batch["rgb"]) ** 2)
        return {"mse": mse * float("nan") if step == DIVERGE["at"] else mse}

    def render(self, rays, chunk):
        return {
            "rgb": torch.cat(
                [
                    self._rgb({k: v[i : i + chunk] for k, v in rays.items()})
                    for i in range(0, len(rays["rays_o"]), chunk)
                ]
            )
        }

    def callbacks(self):
        def keep_bright_rays(trainer, step):  # as TensoRF filtering rays with its alpha mask
            if self.filter_at is not None and step + 1 == self.filter_at:
                bank = trainer.sampler.bank
                ids = torch.arange(0, len(bank), 2)
                trainer.sampler.set_bank(bank.restrict(ids))
                self.filtered.append(step)

        def crash(trainer, step):  # a Ctrl-C in the middle of the run
            if CRASH["at"] is not None and step + 1 == CRASH["at"]:
                CRASH["at"] = None
                raise KeyboardInterrupt

        return [keep_bright_rays, crash]


class ToyGan(ToyField):
    """A step that is not one summed loss: a 'discriminator' and a 'generator' optimizer in turn."""

    def __init__(self, width: int):
        super().__init__(width)
        self.disc = torch.nn.Linear(3, 1)

    def configure_optimizers(self, betas, eps):
        return {
            "generator": torch.optim.Adam(self.net.parameters(), lr=1e-2, betas=betas, eps=eps),
            "discriminator": torch.optim.SGD(self.disc.parameters(), lr=1e-2),
        }

    def train_step(self, batch, step, optimizers):
        fake = self._rgb(batch)
        d_loss = (
            torch.nn.functional.softplus(self.disc(fake.detach())).mean()
            + torch.nn.functional.softplus(-self.disc(batch["rgb"])).mean()
        )
        optimizers["discriminator"].zero_grad()
        d_loss.backward()
        optimizers["discriminator"].step()
        g_loss = torch.nn.functional.softplus(-self.disc(fake)).mean() + torch.mean((fake - batch["rgb"]) ** 2)
        optimizers["generator"].zero_grad()
        g_loss.backward()
        optimizers["generator"].step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def toy_stages(cfg, data, device):
    m = cfg.model

    def first(_prev):
        model = (ToyGan if m.gan else ToyField)(m.width)
        model.filter_at = m.filter_at
        return model

    if m.stages == 1:
        return [Stage("", cfg.train.iters, first)]

    def grow(prev):  # the transition hook: a wider head initialised from the trained one
        model = ToyField(m.width)
        model.load_state_dict(prev.state_dict())
        with torch.no_grad():
            model.net[2].bias.add_(0.01)
        return model

    return [Stage("pretrain", 4, first, extra_losses=False, sampler="iid"), Stage("main", cfg.train.iters, grow)]


def toy_data(cfg):
    scene = toy_scene()
    return ExperimentData(scene=scene, source="synthetic", train=RayBank(scene, "train"))


REGISTRY = {"toy": ModelFamily(stages=toy_stages, data=toy_data)}


@pytest.fixture
def preset(tmp_path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(PRESET))
    return path


def run(preset: Path, run_dir: Path, *overrides: str, resume: bool = False, extra=None) -> int:
    argv = ["--config", str(preset), "--profile", "paper", "--device", "cpu", "--run-dir", str(run_dir), *overrides]
    return main(
        argv + (["--resume"] if resume else []),
        prog="toy",
        project="toy",
        registry=REGISTRY,
        default_run_root=str(run_dir.parent),
        extra_losses=extra,
    )


def assert_same_checkpoints(a: Path, b: Path) -> None:
    ca, cb = load_checkpoint(latest_checkpoint(a)), load_checkpoint(latest_checkpoint(b))
    assert ca["step"] == cb["step"]
    for k, v in ca["model"].items():
        assert torch.equal(v, cb["model"][k]), k
    assert json.dumps(ca["schedulers"], default=str) == json.dumps(cb["schedulers"], default=str)
    assert torch.equal(ca["generator"], cb["generator"]) and torch.equal(ca["rng"]["torch"], cb["rng"]["torch"])
    if ca["ema"] is not None:
        for k, v in ca["ema"]["shadow"].items():
            assert torch.equal(v, cb["ema"]["shadow"][k]), k


CASES = {
    "one stage": [],
    "two stages": ["model.stages=2"],
    "gan train_step": ["model.gan=true"],
    "cosine": ["train.lr_schedule=warmup_cosine", "train.lr_warmup_steps=2"],
    "clip": ["train.grad_clip=0.01"],
    "ema": ["train.ema_decay=0.9"],
    "step schedule": ["train.lr_schedule=step", "train.lr_milestones=[2, 4]"],
    "callback filters rays": ["model.filter_at=2"],
    "image sampler": ["train.sampler=image"],
}


@pytest.mark.parametrize("case", CASES)
def test_toy_family_trains_and_resumes_bit_exact(preset, tmp_path, case, capsys):
    overrides = CASES[case]
    assert run(preset, tmp_path / "straight", *overrides) == 0
    CRASH["at"] = 5  # interrupted after step 5; the latest checkpoint is step 4
    assert run(preset, tmp_path / "split", *overrides) == 130
    assert "interrupted (at step 4); continue with --resume" in capsys.readouterr().err
    assert run(preset, tmp_path / "split", *overrides, resume=True) == 0
    assert_same_checkpoints(tmp_path / "straight", tmp_path / "split")
    a = json.loads((tmp_path / "straight" / "test_metrics.json").read_text())
    b = json.loads((tmp_path / "split" / "test_metrics.json").read_text())
    assert a["mean"]["psnr"] == b["mean"]["psnr"] and a["data_source"] == "synthetic"
    assert (tmp_path / "straight" / "renders" / "gt").is_dir()
    if case == "two stages":
        assert (tmp_path / "straight" / "pretrain" / "done.json").is_file()
        assert load_checkpoint(latest_checkpoint(tmp_path / "straight" / "pretrain"))["step"] == 4


def test_training_lowers_the_loss(preset, tmp_path):
    assert run(preset, tmp_path / "r", "train.iters=40", "train.eval_every=null") == 0
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    train = [r["values"]["mse"] for r in lines if r["split"] == "train"]
    assert train[-1] < train[0]


def test_schedules_reach_the_optimizer(preset, tmp_path):
    assert run(preset, tmp_path / "r", "train.lr_schedule=step", "train.lr_milestones=[2]", "train.lr_gamma=0.5") == 0
    lines = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["values"]["lr"] for r in lines if r["split"] == "train"]
    assert lrs[:3] == pytest.approx([1e-2, 5e-3, 5e-3])


def test_resume_of_a_finished_run_reuses_its_result(preset, tmp_path, capsys):
    assert run(preset, tmp_path / "r") == 0
    before = (tmp_path / "r" / "metrics.jsonl").read_text()
    assert run(preset, tmp_path / "r", resume=True) == 0
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == before  # no duplicate test record


def test_resume_with_other_settings_is_refused(preset, tmp_path, capsys):
    assert run(preset, tmp_path / "r", "train.iters=3") == 0
    capsys.readouterr()
    assert run(preset, tmp_path / "r", "train.batch_size=8", "experiment.seed=5", resume=True) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "train.batch_size: 16 -> 8" in err and "experiment.seed: 3 -> 5" in err
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["train"]["batch_size"] == 16


def test_extra_losses_only_in_the_stages_that_take_them(preset, tmp_path):
    calls = []

    def extra(cfg):
        def term(outputs, batch):
            calls.append(len(batch["rgb"]))
            return 0.0 * outputs["rgb"].sum()

        return {"extra": term}

    assert run(preset, tmp_path / "r", "model.stages=2", extra=extra) == 0
    assert len(calls) == PRESET["train"]["iters"]  # the pretrain stage declares extra_losses=False


def test_loader_options_come_from_the_config(tmp_path):
    """data.options reaches the format's loader (here the Blender background colour of RGBA images)."""
    from common.config import Config
    from common.data.synthetic import ensure_dataset
    from common.engine.experiment import load_data

    root = ensure_dataset("shapes", root=tmp_path, scenes=1, res=16, frames=4)
    scene_dir = next(p for p in sorted(root.iterdir()) if p.is_dir())
    data = {**PRESET["data"], "format": "blender", "root": str(scene_dir)}
    white, source = load_data(Config({**PRESET, "data": data}))
    black, _ = load_data(Config({**PRESET, "data": {**data, "options": {"background": [0.0, 0.0, 0.0]}}}))
    assert source == "synthetic"
    corner_w, corner_b = white.load_image(0)[0, 0], black.load_image(0)[0, 0]
    assert np.allclose(corner_w, 1.0) and np.allclose(corner_b, 0.0)
