# ruff: noqa: NPY002 - the model under test deliberately draws from the legacy global numpy RNG
from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.engine.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from common.engine.run_dir import RunDir
from common.engine.schedules import LrSchedule
from common.engine.trainer import Trainer


def exp_schedule(decay_steps: int) -> LrSchedule:
    return LrSchedule("exponential", decay_steps=decay_steps)


class GrowingModel(torch.nn.Module):
    """Tiny model using every RNG (global torch, numpy, python), a counter and a grid that grows at step 1."""

    def __init__(self, init_seed: int, rebuild_at=(1, 3)):
        super().__init__()
        g = torch.Generator().manual_seed(init_seed)
        self.grid = torch.nn.Parameter(torch.rand(4, generator=g))
        self.head = torch.nn.Parameter(torch.rand(3, generator=g))
        self.rebuild_at = set(rebuild_at)
        self.counter = 0

    def param_groups(self):
        return [{"name": "grid", "params": [self.grid], "lr": 0.1}, {"name": "head", "params": [self.head], "lr": 0.05}]

    def before_step(self, step):
        if step == 1:  # progressive upsampling: a new, larger parameter
            bigger = F.interpolate(self.grid.detach()[None, None], size=6, mode="linear", align_corners=True)[0, 0]
            self.grid = torch.nn.Parameter(bigger)
        return step in self.rebuild_at

    def forward(self, batch, step):
        noise = torch.rand(batch["x"].shape[0], 1) * 0.01
        jitter = float(np.random.rand()) * 0.01 + random.random() * 0.01
        logits = batch["x"] * self.grid.mean() + self.head + noise + jitter + 0.001 * self.counter
        return {"rgb": torch.sigmoid(logits)}

    def losses(self, outputs, batch, step):
        return {"mse": F.mse_loss(outputs["rgb"], batch["rgb"]), "reg": 1e-3 * (self.grid**2).sum()}

    def after_backward(self, step):
        self.grid.grad.add_(1e-3 * self.grid.detach())

    def after_step(self, step):
        self.counter += 1

    def extra_checkpoint_state(self):
        return {"counter": self.counter}

    def load_extra_checkpoint_state(self, state):
        self.counter = state["counter"]

    def load_state_dict(self, state_dict, strict=True, assign=False):
        if state_dict["grid"].shape != self.grid.shape:
            self.grid = torch.nn.Parameter(torch.empty_like(state_dict["grid"]))
        return super().load_state_dict(state_dict, strict=strict, assign=assign)


class StatefulSampler:
    def __init__(self, fail_at: int | None = None):
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, step, generator):
        if step == self.fail_at:
            raise RuntimeError("simulated crash")
        self.calls += 1
        x = torch.rand(8, 3, generator=generator) * (1 + 0.01 * self.calls)
        return {"x": x, "rgb": torch.rand(8, 3, generator=generator)}

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


def _trainer(model, sampler, run_dir, iters, **kw):
    kw = {"checkpoint_every": 2, "log_every": 1, "seed": 3, "schedule": exp_schedule(10), "progress": False, **kw}
    return Trainer(model, sampler, iters=iters, run_dir=run_dir, **kw)


def _train_losses(run_dir):
    return [
        (r["step"], {k: v for k, v in r["values"].items() if k != "it_per_s"}) for r in run_dir.read_metrics("train")
    ]


@pytest.mark.parametrize("interruption", ["shorter_run", "crash_after_checkpoint"])
def test_resume_is_bit_exact(tmp_path, interruption):
    straight_model, straight_sampler = GrowingModel(0), StatefulSampler()
    straight = _trainer(straight_model, straight_sampler, RunDir(tmp_path / "a"), 4)
    straight.fit()

    run_b = RunDir(tmp_path / "b")
    if interruption == "shorter_run":
        _trainer(GrowingModel(0), StatefulSampler(), run_b, 2).fit()
    else:  # steps 0..2 complete, checkpoint at 2, then a crash inside step 3 (after its optimizer rebuild)
        with pytest.raises(RuntimeError, match="simulated crash"):
            _trainer(GrowingModel(0), StatefulSampler(fail_at=3), run_b, 4).fit()
        assert [p.name for p in list_checkpoints(run_b.checkpoints)] == ["step-000000002.pt"]
    torch.manual_seed(123)  # a new process would start with other global RNG states
    np.random.seed(123)
    random.seed(123)
    resumed_model, resumed_sampler = GrowingModel(99), StatefulSampler()  # other init: must be overwritten
    resumed = _trainer(resumed_model, resumed_sampler, run_b, 4)
    summary = resumed.fit(resume=True)

    assert summary["resumed_from"] == 2 and summary["step"] == 4
    assert resumed_model.grid.shape == (6,)
    for name, param in straight_model.named_parameters():
        assert torch.equal(param, dict(resumed_model.named_parameters())[name]), name
    assert resumed_model.counter == straight_model.counter == 4
    assert resumed_sampler.calls == straight_sampler.calls == 4
    opt_a, opt_b = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for key, state in opt_a["state"].items():
        for k, v in state.items():
            assert torch.equal(v, opt_b["state"][key][k])
    assert straight.scheduler.state_dict() == resumed.scheduler.state_dict()
    assert _train_losses(RunDir(tmp_path / "a")) == _train_losses(run_b)  # same losses, rewritten lines dropped
    assert [s for s, _ in _train_losses(run_b)] == [1, 2, 3, 4]


def test_resume_restores_global_rng_streams(tmp_path):
    _trainer(GrowingModel(0), StatefulSampler(), RunDir(tmp_path / "a"), 4).fit()
    after_straight = (torch.rand(3), np.random.rand(3), random.random())
    _trainer(GrowingModel(0), StatefulSampler(), RunDir(tmp_path / "b"), 2).fit()
    torch.manual_seed(7)
    _trainer(GrowingModel(5), StatefulSampler(), RunDir(tmp_path / "b"), 4).fit(resume=True)
    after_resumed = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(after_straight[0], after_resumed[0])
    assert np.array_equal(after_straight[1], after_resumed[1])
    assert after_straight[2] == after_resumed[2]


class ConstantGradModel(torch.nn.Module):
    """loss = p: a constant gradient, so every Adam update moves p by exactly the lr used (m_hat/sqrt(v_hat) = 1)."""

    def __init__(self, rebuild_at=()):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.rebuild_at = set(rebuild_at)
        self.trajectory = []

    def param_groups(self):
        return [{"name": "p", "params": [self.p], "lr": 1.0}]

    def before_step(self, step):
        return step in self.rebuild_at

    def forward(self, batch, step):
        return {}

    def losses(self, outputs, batch, step):
        return {"lin": self.p * 1.0}

    def after_step(self, step):
        self.trajectory.append(self.p.item())


def test_lr_decay_per_step_and_reset_on_rebuild(tmp_path):
    model = ConstantGradModel(rebuild_at=(3,))
    run = RunDir(tmp_path)
    Trainer(
        model, lambda s, g: {}, iters=6, run_dir=run, schedule=exp_schedule(4), log_every=1, eps=0.0, progress=False
    ).fit()
    gamma = 0.1 ** (1 / 4)
    used = [1.0, gamma, gamma**2, 1.0, gamma, gamma**2]  # lr applied by update i; reset to the base lr at 3
    steps = -np.diff([0.0, *model.trajectory])
    np.testing.assert_allclose(steps, used, rtol=1e-12)
    logged = [r["values"]["lr"] for r in run.read_metrics("train")]  # lr after each update
    np.testing.assert_allclose(logged, [gamma, gamma**2, gamma**3, gamma, gamma**2, gamma**3], rtol=1e-12)


def test_constant_lr_without_decay(tmp_path):
    model = ConstantGradModel()
    Trainer(model, lambda s, g: {}, iters=3, run_dir=tmp_path, eps=0.0, progress=False).fit()
    np.testing.assert_allclose(model.trajectory, [-1.0, -2.0, -3.0], rtol=1e-12)


class RecordingModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((3,), 0.3))
        self.frozen = torch.nn.Parameter(torch.ones(3))
        self.calls = []
        self.outputs = []

    def param_groups(self):
        return [{"name": "w", "params": [self.w], "lr": 0.01}, {"name": "frozen", "params": [self.frozen], "lr": 0.02}]

    def before_step(self, step):
        self.calls.append(("before_step", step))
        return False

    def forward(self, batch, step):
        self.calls.append(("forward", step))
        rgb = self.w * self.frozen * batch["x"]
        self.outputs.append(rgb.detach().clone())
        return {"rgb": rgb}

    def losses(self, outputs, batch, step):
        self.calls.append(("losses", step))
        return {"mse": ((outputs["rgb"] - batch["rgb"]) ** 2).mean(), "l1w": 0.5 * self.w.abs().sum()}

    def after_backward(self, step):
        self.calls.append(("after_backward", step, self.w.grad is not None))
        self.frozen.grad.zero_()  # a hook may edit gradients before the optimizer step

    def after_step(self, step):
        self.calls.append(("after_step", step))


def _batch(step, generator):
    return {"x": torch.rand(5, 3, generator=generator), "rgb": torch.rand(5, 3, generator=generator)}


def test_step_order_loss_sum_psnr_and_grad_hook(tmp_path):
    model = RecordingModel()
    batches = []

    def sampler(step, generator):
        batches.append(_batch(step, generator))
        return batches[-1]

    def extra(outputs, batch):
        model.calls.append(("extra", len(batches) - 1))
        return 0.25 * outputs["rgb"].sum()

    run = RunDir(tmp_path)
    trainer = Trainer(model, sampler, iters=3, run_dir=run, extra_losses={"s3im": extra}, log_every=2, progress=False)
    trainer.fit()
    assert model.calls[:6] == [
        ("before_step", 0),
        ("forward", 0),
        ("losses", 0),
        ("extra", 0),
        ("after_backward", 0, True),
        ("after_step", 0),
    ]
    assert torch.equal(model.frozen, torch.ones(3))  # zeroed gradient: Adam leaves it unchanged
    records = run.read_metrics("train")
    assert [r["step"] for r in records] == [2, 3]  # every log_every and at the end
    for rec in records:
        i = rec["step"] - 1
        rgb, target = model.outputs[i], batches[i]["rgb"]
        v = rec["values"]
        assert v["s3im"] == pytest.approx(0.25 * rgb.sum().item(), rel=1e-6)
        assert v["mse"] == pytest.approx(((rgb - target) ** 2).mean().item(), rel=1e-6)
        assert v["loss"] == pytest.approx(v["mse"] + v["l1w"] + v["s3im"], rel=1e-6)
        assert v["psnr"] == pytest.approx(-10 * math.log10(((rgb - target) ** 2).mean().item()), rel=1e-6)
        assert v["lr/w"] == v["lr"] == 0.01 and v["lr/frozen"] == 0.02 and v["it_per_s"] > 0


def test_custom_optimizer_and_sgd_update(tmp_path):
    class SgdModel(ConstantGradModel):
        def configure_optimizer(self, betas, eps):
            self.seen = (betas, eps)
            return torch.optim.SGD([{"params": [self.p], "lr": 0.5}])

    model = SgdModel()
    trainer = Trainer(model, lambda s, g: {}, iters=2, run_dir=tmp_path, betas=(0.8, 0.9), eps=1e-6, progress=False)
    trainer.fit()
    assert isinstance(trainer.optimizer, torch.optim.SGD) and model.seen == ((0.8, 0.9), 1e-6)
    assert model.trajectory == [-0.5, -1.0]


def test_evaluation_schedule_mode_and_rng_isolation(tmp_path):
    calls = []

    def evaluate(step):
        calls.append((step, model.training))
        torch.rand(10), np.random.rand(10), random.random()  # must not perturb training
        return {"psnr": 20.0 + step, "per_image": [1.0, 2.0], "note": "synthetic"}

    model = GrowingModel(0)
    run = RunDir(tmp_path / "eval")
    _trainer(model, StatefulSampler(), run, 5, evaluate=evaluate, eval_every=2).fit()
    assert calls == [(2, False), (4, False), (5, False)]
    assert model.training
    assert [(r["step"], r["values"]) for r in run.read_metrics("eval")] == [
        (2, {"psnr": 22.0}),
        (4, {"psnr": 24.0}),
        (5, {"psnr": 25.0}),
    ]
    saved = json.loads((run.path / "eval" / "step-000000004.json").read_text())
    assert saved == {"step": 4, "psnr": 24.0, "per_image": [1.0, 2.0], "note": "synthetic"}

    plain = GrowingModel(0)
    _trainer(plain, StatefulSampler(), RunDir(tmp_path / "plain"), 5).fit()
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_files_pruning_and_guards(tmp_path):
    run = RunDir(tmp_path)
    _trainer(GrowingModel(0), StatefulSampler(), run, 5, checkpoint_every=1, keep_last=2).fit()
    assert [p.name for p in list_checkpoints(run.checkpoints)] == ["step-000000004.pt", "step-000000005.pt"]
    assert not [p for p in run.checkpoints.iterdir() if p.suffix == ".tmp"]
    state = torch.load(latest_checkpoint(run.path), weights_only=True)
    assert set(state) == {
        "step",
        "model",
        "optimizers",
        "schedulers",
        "schedule_start",
        "ema",
        "rng",
        "generator",
        "sampler",
        "model_extra",
        "extra_losses",
        "config",
    }
    assert state["step"] == 5 and state["sampler"] == {"calls": 5} and state["model_extra"] == {"counter": 5}
    assert run.is_finished() and run.read_json("done.json")["step"] == 5

    with pytest.raises(FileExistsError, match="holds checkpoints"):
        _trainer(GrowingModel(0), StatefulSampler(), run, 5).fit()
    done = run.read_json("done.json")
    model = GrowingModel(1)
    assert _trainer(model, StatefulSampler(), run, 5).fit(resume=True) == {**done, "already_finished": True}
    assert model.counter == 5


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    a, b = GrowingModel(0), GrowingModel(0)
    _trainer(a, StatefulSampler(), RunDir(tmp_path / "a"), 3).fit()
    _trainer(b, StatefulSampler(), RunDir(tmp_path / "b"), 3).fit(resume=True)
    assert torch.equal(a.grid, b.grid) and torch.equal(a.head, b.head)


def test_non_finite_loss_stops_the_run(tmp_path):
    class NanModel(ConstantGradModel):
        def losses(self, outputs, batch, step):
            return {"bad": self.p * float("nan")}

    with pytest.raises(FloatingPointError, match="step 1: non-finite loss term 'bad'"):
        Trainer(NanModel(), lambda s, g: {}, iters=3, run_dir=tmp_path, log_every=1, progress=False).fit()
    assert not RunDir(tmp_path).is_finished()


def test_progress_lines_when_not_a_terminal(tmp_path, capsys):
    Trainer(RecordingModel(), _batch, iters=4, run_dir=tmp_path, log_every=2, progress=True).fit()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("[train 2/4] loss ") and "psnr" in out[0] and "eta" in out[0]


def test_load_state_dict_restores_scheduler_and_step(tmp_path):
    first = Trainer(
        ConstantGradModel(), lambda s, g: {}, iters=3, run_dir=tmp_path, schedule=exp_schedule(5), progress=False
    )
    first.fit()
    second = Trainer(
        ConstantGradModel(), lambda s, g: {}, iters=6, run_dir=tmp_path, schedule=exp_schedule(5), progress=False
    )
    second.load_state_dict(load_checkpoint(latest_checkpoint(tmp_path)))
    assert second.step == 3
    assert second.scheduler.state_dict() == first.scheduler.state_dict()
    assert second.scheduler.last_epoch == 3
    assert second.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 ** (3 / 5), rel=1e-12)


class NoisyTerm:
    """An extra loss with its own generator (as S3IM's permutations): its state must be checkpointed."""

    def __init__(self):
        self.generator = torch.Generator().manual_seed(3)

    def __call__(self, outputs, batch):
        noise = torch.rand(outputs["rgb"].shape, generator=self.generator)
        return ((outputs["rgb"] - noise) ** 2).mean()

    def state_dict(self):
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state["generator"])


def test_stateful_extra_loss_resumes_exactly(tmp_path):
    straight = RunDir(tmp_path / "a")
    _trainer(GrowingModel(0), StatefulSampler(), straight, 4, extra_losses={"noisy": NoisyTerm()}).fit()
    split = RunDir(tmp_path / "b")
    _trainer(GrowingModel(0), StatefulSampler(), split, 2, extra_losses={"noisy": NoisyTerm()}).fit()
    _trainer(GrowingModel(0), StatefulSampler(), split, 4, extra_losses={"noisy": NoisyTerm()}).fit(resume=True)
    a = torch.load(latest_checkpoint(straight.path), weights_only=True)
    b = torch.load(latest_checkpoint(split.path), weights_only=True)
    assert torch.equal(a["extra_losses"]["noisy"]["generator"], b["extra_losses"]["noisy"]["generator"])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
