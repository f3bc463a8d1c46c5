"""The training loop shared by every model family: optimizers, schedules, hooks, EMA, resume.

Model protocol (a ``torch.nn.Module``; everything but ``render`` is optional where noted)::

    Parameters and optimizers (one of):
      param_groups(self) -> list[dict]
          torch param-group dicts, each with "name", "params", "lr" (the base lr of that group);
          the trainer builds one Adam(betas, eps) named "main".
      configure_optimizer(self, betas, eps) -> torch.optim.Optimizer
          one custom optimizer (e.g. DVGO's masked Adam), named "main".
      configure_optimizers(self, betas, eps) -> dict[str, torch.optim.Optimizer]
          several named optimizers (e.g. "generator" and "discriminator" of a GAN).
    One training step (one of):
      forward(self, batch: dict, step: int) -> dict[str, Tensor]     training outputs, e.g. "rgb" [R, 3]
      losses(self, outputs, batch, step) -> dict[str, Tensor]        weighted scalar terms; the trainer
          adds ``extra_losses`` (e.g. S3IM), minimises the sum with every optimizer, clips gradients
          (``grad_clip``: total norm over all parameters) after ``after_backward``.
      train_step(self, batch, step, optimizers: dict) -> dict[str, Tensor | float]
          a step that is not one summed loss (GAN generator/discriminator steps with R1, diffusion):
          the model zeroes, back-propagates, clips and steps its optimizers itself and returns the
          values to log; the trainer steps the lr schedules, the EMA and the hooks around it.
    Evaluation:
      render(self, rays: dict, chunk: int) -> dict[str, Tensor]    (used by the experiment driver)
          rays: per-ray fields ("rays_o", "rays_d", "viewdirs", and where the data has them "time",
          "depth", ...); returns at least "rgb" [R, 3].
    Hooks, called only when defined:
      before_step(self, step) -> bool | str
          True or "reset": rebuild the optimizers from the model (base lrs, the schedule restarts at
          0; DVGO after progressive grid upsampling); "keep": rebuild them with the schedule kept at
          ``step`` (new parameters, same place in the schedule); False/None: nothing.
      after_backward(self, step)      e.g. add a total-variation gradient into .grad
      after_step(self, step)          e.g. refresh an occupancy mask
      callbacks(self) -> list[fn(trainer, step)]
          called after after_step; a callback may reach ``trainer.sampler`` (TensoRF keeps only the
          training rays that pass its alpha mask), ``trainer.model``, ``trainer.optimizers``.
      extra_checkpoint_state(self) -> dict / load_extra_checkpoint_state(self, state)
          plain values / tensors saved besides state_dict().
      load_state_dict(...) may resize parameters to the saved shapes before loading (progressive
      grids); the optimizers are rebuilt after it.

Schedules (``common.engine.schedules``), gradient clipping and the EMA of parameters
(``common.engine.ema``; evaluation uses the averages) come from the ``train`` config section.

Sampler protocol: ``sampler(step, generator) -> batch dict`` where ``generator`` is a CPU
``torch.Generator`` owned (seeded, checkpointed) by the trainer. A sampler with
``state_dict()``/``load_state_dict()`` is checkpointed too.

``step`` given to the model and sampler is the 0-based index of the iteration being run.
Logged steps and checkpoint names count completed iterations (1..iters), so the record at step
``n`` describes the model after ``n`` optimizer updates. Per iteration::

    before_step -> sampler -> forward -> losses (+ extra_losses) -> sum.backward() -> after_backward
    -> clip -> optimizers step (or: train_step) -> finite check -> schedules step -> EMA update
    -> after_step -> callbacks -> log (every log_every and at the end)
    -> evaluate (every eval_every and at the end) -> checkpoint (every checkpoint_every and at the end)

Every step checks that the loss terms and every parameter are finite; the first non-finite one
stops training with ``NonFiniteError`` naming the step and the term or parameter (no checkpoint is
written after it, so the last good checkpoint stays the latest).

Evaluation runs in ``model.eval()`` with all RNG states saved and restored around it, so the
training trajectory does not depend on how often it is evaluated. ``fit(resume=True)`` restores
model, optimizers, schedules, EMA, every RNG state, the generator and the sampler from the latest
checkpoint: on the same device, an interrupted and resumed run is bit-identical to a straight one.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.engine.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_latest_good,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from common.engine.ema import ParameterEMA
from common.engine.progress import Progress
from common.engine.run_dir import RunDir, as_run_dir, to_jsonable
from common.engine.schedules import LrSchedule, make_scheduler
from common.engine.tracking import Tracker


def seed_everything(seed: int) -> None:
    """Seed the global torch (CPU and CUDA), numpy and python RNGs."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code under training may use the legacy global RNG
    random.seed(seed)


def generator_seed(seed: int) -> int:
    """Seed of the trainer's generator: derived from ``seed`` but not equal to it (decorrelated streams)."""
    return int(np.random.SeedSequence([seed, 1]).generate_state(1, dtype=np.uint64)[0] >> 1)


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB for images in [0, 1]: ``-10 log10(mse)``."""
    return -10.0 * math.log10(mse) if mse > 0 else math.inf


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _is_scalar(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _hook(model: torch.nn.Module, name: str) -> Callable | None:
    fn = getattr(model, name, None)
    return fn if callable(fn) else None


class NonFiniteError(FloatingPointError):
    """Training produced a non-finite loss term or parameter; the message is one line."""


class Trainer:
    """Train ``model`` on batches from ``sampler`` for ``iters`` iterations; see the module doc.

    ``schedule``: an ``LrSchedule`` (default constant). ``extra_losses``: name -> fn(outputs, batch)
    -> already-weighted scalar (e.g. S3IM), added to the model's terms; a term with
    ``state_dict()``/``load_state_dict()`` (e.g. its own random generator) is checkpointed too.
    ``grad_clip``: max total gradient norm (None: no clipping). ``ema_decay``: keep an EMA of the
    parameters, used for evaluation (None: none). ``callbacks``: fn(trainer, step) after every step
    (with the model's own ``callbacks()``). ``evaluate``: fn(step) -> metrics dict, called every
    ``eval_every`` steps and at the end; scalar metrics are logged with split "eval", the whole dict
    is written to ``<run>/eval/step-000001234.json``. ``checkpoint_every=None`` saves only at the
    end; ``keep_last`` newest checkpoints are kept (None: all). ``tracker`` (optional) receives
    every log line; without one, lines go to ``<run>/metrics.jsonl`` only.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        sampler: Callable[[int, torch.Generator], dict],
        *,
        iters: int,
        run_dir: RunDir | str | Path,
        schedule: LrSchedule | None = None,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        extra_losses: Mapping[str, Callable[[dict, dict], torch.Tensor]] | None = None,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        callbacks: Sequence[Callable[[Trainer, int], None]] = (),
        evaluate: Callable[[int], dict] | None = None,
        eval_every: int | None = None,
        checkpoint_every: int | None = None,
        keep_last: int | None = 2,
        log_every: int = 100,
        seed: int = 0,
        tracker: Tracker | None = None,
        device: str | torch.device = "cpu",
        progress: bool = True,
    ):
        for name, value in (("iters", iters), ("log_every", log_every)):
            if value < (0 if name == "iters" else 1):
                raise ValueError(f"{name} must be {'>= 0' if name == 'iters' else '>= 1'}, got {value}")
        for name, value in (
            ("eval_every", eval_every),
            ("checkpoint_every", checkpoint_every),
            ("keep_last", keep_last),
        ):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if grad_clip is not None and not (math.isfinite(grad_clip) and grad_clip > 0):
            raise ValueError(f"grad_clip must be a positive number or None, got {grad_clip}")
        if eval_every is not None and evaluate is None:
            raise ValueError("eval_every is set but no evaluate function was given")
        self.run_dir = as_run_dir(run_dir, seed=seed)
        if tracker is not None and tracker.run_dir.path.resolve() != self.run_dir.path.resolve():
            raise ValueError(
                f"tracker writes to {tracker.run_dir.path}, trainer to {self.run_dir.path}; use one run dir"
            )
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.sampler = sampler
        self.iters = iters
        self.schedule = schedule or LrSchedule(total=max(iters, 1))
        self.betas = tuple(betas)
        self.eps = eps
        self.extra_losses = dict(extra_losses or {})
        self.grad_clip = grad_clip
        self.ema = ParameterEMA(ema_decay) if ema_decay is not None else None
        own_callbacks = _hook(model, "callbacks")
        self.callbacks = [*callbacks, *(own_callbacks() if own_callbacks is not None else [])]
        self.evaluate = evaluate
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.keep_last = keep_last
        self.log_every = log_every
        self.seed = seed
        self.tracker = tracker
        self.progress = progress
        self.generator = torch.Generator(device="cpu")
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.schedule_start = 0
        self.step = 0

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of a single-optimizer model ("main")."""
        if len(self.optimizers) != 1:
            raise AttributeError(f"the model has {len(self.optimizers)} optimizers: {sorted(self.optimizers)}")
        return next(iter(self.optimizers.values()))

    @property
    def scheduler(self) -> torch.optim.lr_scheduler.LRScheduler:
        """The lr scheduler of a single-optimizer model."""
        if len(self.schedulers) != 1:
            raise AttributeError(f"the model has {len(self.schedulers)} schedulers: {sorted(self.schedulers)}")
        return next(iter(self.schedulers.values()))

    def build_optimizer(self, schedule_start: int = 0) -> None:
        """(Re)build the optimizers from the model (base lrs) with the schedule at ``schedule_start``."""
        many, one = _hook(self.model, "configure_optimizers"), _hook(self.model, "configure_optimizer")
        if many is not None:
            optimizers = dict(many(self.betas, self.eps))
        elif one is not None:
            optimizers = {"main": one(self.betas, self.eps)}
        else:
            optimizers = {"main": torch.optim.Adam(self.model.param_groups(), betas=self.betas, eps=self.eps)}
        if not optimizers:
            raise ValueError("the model configured no optimizer")
        self.optimizers = optimizers
        self.schedule_start = int(schedule_start)
        self.schedulers = {n: make_scheduler(o, self.schedule, self.schedule_start) for n, o in optimizers.items()}

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint content (tensors and plain values only; see common.engine.checkpoint)."""
        extra = _hook(self.model, "extra_checkpoint_state")
        sampler_state = _hook(self.sampler, "state_dict")
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "schedule_start": self.schedule_start,
            "ema": None if self.ema is None else self.ema.state_dict(),
            "rng": capture_rng_state(),
            "generator": self.generator.get_state(),
            "sampler": sampler_state() if sampler_state is not None else None,
            "model_extra": extra() if extra is not None else None,
            "extra_losses": {
                name: fn.state_dict() for name, fn in self.extra_losses.items() if _hook(fn, "state_dict") is not None
            },
            "config": self.run_dir.config,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore everything ``state_dict`` saved; the optimizers are rebuilt after the model is loaded."""
        self.model.load_state_dict(state["model"])
        load_extra = _hook(self.model, "load_extra_checkpoint_state")
        if state.get("model_extra") is not None and load_extra is not None:
            load_extra(state["model_extra"])
        self.model.to(self.device)
        self.build_optimizer(int(state.get("schedule_start", 0)))
        if set(state["optimizers"]) != set(self.optimizers):
            raise ValueError(
                f"checkpoint holds optimizers {sorted(state['optimizers'])}; the model has {sorted(self.optimizers)}"
            )
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
            self.schedulers[name].load_state_dict(state["schedulers"][name])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        restore_rng_state(state["rng"])
        self.generator.set_state(state["generator"])
        load_sampler = _hook(self.sampler, "load_state_dict")
        if state.get("sampler") is not None and load_sampler is not None:
            load_sampler(state["sampler"])
        for name, loss_state in (state.get("extra_losses") or {}).items():
            if name in self.extra_losses and _hook(self.extra_losses[name], "load_state_dict") is not None:
                self.extra_losses[name].load_state_dict(loss_state)
        self.step = int(state["step"])

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step-<step>.pt`` atomically and prune to ``keep_last``."""
        path = save_checkpoint(checkpoint_path(self.run_dir.checkpoints, self.step), self.state_dict())
        prune_checkpoints(self.run_dir.checkpoints, self.keep_last)
        return path

    def _start(self, resume: bool) -> None:
        latest = latest_checkpoint(self.run_dir.path)
        if resume and latest is not None:
            _, state = load_latest_good(self.run_dir.path)
            self.load_state_dict(state)
            return
        if latest is not None:
            names = ", ".join(p.name for p in list_checkpoints(self.run_dir.checkpoints))
            raise FileExistsError(
                f"{self.run_dir.checkpoints}: holds checkpoints ({names}); resume to continue, or use another run dir"
            )
        seed_everything(self.seed)
        self.generator.manual_seed(generator_seed(self.seed))
        self.build_optimizer()
        self.step = 0

    def _log(self, values: Mapping[str, Any], step: int, split: str) -> None:
        if self.tracker is not None:
            self.tracker.log_scalars(values, step, split)
        else:
            self.run_dir.log_metrics(values, step, split)

    def _train_values(self, terms: dict, outputs: dict, batch: dict, rate: float) -> dict:
        values = {name: float(t.detach()) if torch.is_tensor(t) else float(t) for name, t in terms.items()}
        if "loss" not in values and terms:
            values["loss"] = float(sum(values.values()))
        if isinstance(outputs.get("rgb"), torch.Tensor) and isinstance(batch.get("rgb"), torch.Tensor):
            mse = float(torch.mean((outputs["rgb"].detach().float() - batch["rgb"].float()) ** 2))
            values["psnr"] = psnr_from_mse(mse)
        for name, opt in self.optimizers.items():
            groups = opt.param_groups
            prefix = "lr" if len(self.optimizers) == 1 else f"lr/{name}"
            values[prefix] = groups[0]["lr"]
            if len(groups) > 1:
                values.update({f"{prefix}/{g.get('name', f'group{i}')}": g["lr"] for i, g in enumerate(groups)})
        values["it_per_s"] = rate
        return values

    def _check_terms(self, index: int, terms: Mapping[str, Any]) -> None:
        """Raise NonFiniteError naming the first non-finite loss term (before any parameter is updated)."""
        for name, value in terms.items():
            number = float(value.detach()) if torch.is_tensor(value) else float(value)
            if not math.isfinite(number):
                raise NonFiniteError(f"step {index + 1}: non-finite loss term {name!r} ({number}); training stopped")

    def _check_parameters(self, index: int) -> None:
        """Raise NonFiniteError naming the first parameter that the update made non-finite."""
        params = [p for p in self.model.parameters() if p.dtype.is_floating_point]
        if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
            for name, p in self.model.named_parameters():
                if p.dtype.is_floating_point and not bool(torch.isfinite(p).all()):
                    raise NonFiniteError(
                        f"step {index + 1}: non-finite parameter {name!r} after the update "
                        f"({int((~torch.isfinite(p)).sum())} of {p.numel()} values); training stopped"
                    )

    def evaluation_context(self):
        """Context in which the model holds the weights to evaluate (the EMA averages when enabled)."""
        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    def _run_evaluation(self) -> dict:
        rng = capture_rng_state()
        self.model.eval()
        try:
            with self.evaluation_context():
                metrics = dict(self.evaluate(self.step))
        finally:
            self.model.train()
            restore_rng_state(rng)
        scalars = {k: float(v) for k, v in metrics.items() if _is_scalar(v)}
        self._log(scalars, self.step, "eval")
        self.run_dir.write_json(f"eval/step-{self.step:09d}.json", {"step": self.step, **metrics})
        return scalars

    def _loss_step(self, batch: dict, index: int, after_backward) -> tuple[dict, dict]:
        """forward -> losses (+ extra) -> backward -> after_backward -> clip -> optimizers step."""
        outputs = self.model(batch, index)
        terms = dict(self.model.losses(outputs, batch, index))
        for name, fn in self.extra_losses.items():
            if name in terms:
                raise KeyError(f"extra loss {name!r} clashes with a loss term of the model")
            terms[name] = fn(outputs, batch)
        if not terms:
            raise ValueError(f"step {index}: model.losses returned no loss terms")
        total = sum(terms.values())
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()
        if after_backward is not None:
            after_backward(index)
        if self.grad_clip is not None:
            params = [p for opt in self.optimizers.values() for g in opt.param_groups for p in g["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
        self._check_terms(index, {**terms, "loss": total})
        for opt in self.optimizers.values():
            opt.step()
        self._check_parameters(index)
        return terms, outputs

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``iters``; with ``resume`` continue from the latest checkpoint (fresh if none).

        Returns (and writes to done.json) ``{"step", "resumed_from", "time_s", "train", "eval"}``
        with the last logged train and eval values. A run whose checkpoint already reached
        ``iters`` is not trained further; its done.json summary is returned with ``already_finished``.
        """
        self._start(resume)
        start = self.step
        if start >= self.iters and resume:
            done = self.run_dir.read_json("done.json") or {"step": start, "resumed_from": start}
            return {**done, "already_finished": True}
        self.run_dir.truncate_metrics(start)
        self.run_dir.clear_finished()
        before_step = _hook(self.model, "before_step")
        after_backward = _hook(self.model, "after_backward")
        after_step = _hook(self.model, "after_step")
        train_step = _hook(self.model, "train_step")
        train_values: dict[str, Any] = {}
        eval_values: dict[str, Any] | None = None
        progress = Progress(self.iters, start, enabled=self.progress)
        t_begin = t_log = time.perf_counter()
        steps_since_log = 0
        self.model.train()
        try:
            for index in range(start, self.iters):
                if before_step is not None:
                    rebuild = before_step(index)
                    if rebuild is True or rebuild == "reset":
                        self.build_optimizer(0)
                    elif rebuild == "keep":
                        self.build_optimizer(index)
                    elif rebuild not in (False, None):
                        raise ValueError(f"before_step returned {rebuild!r}; expected True/'reset', 'keep' or False")
                batch = _to_device(self.sampler(index, self.generator), self.device)
                if train_step is not None:
                    terms, outputs = dict(train_step(batch, index, self.optimizers)), {}
                    self._check_terms(index, terms)
                    self._check_parameters(index)
                else:
                    terms, outputs = self._loss_step(batch, index, after_backward)
                for scheduler in self.schedulers.values():
                    scheduler.step()
                if self.ema is not None:
                    self.ema.update(self.model)
                if after_step is not None:
                    after_step(index)
                for callback in self.callbacks:
                    callback(self, index)
                self.step = index + 1
                steps_since_log += 1
                progress.update()
                last = self.step == self.iters
                if self.step % self.log_every == 0 or last:
                    now = time.perf_counter()
                    rate = steps_since_log / max(now - t_log, 1e-9)
                    train_values = self._train_values(terms, outputs, batch, rate)
                    t_log, steps_since_log = now, 0
                    self._log(train_values, self.step, "train")
                    progress.report(self.step, {k: train_values[k] for k in ("loss", "psnr") if k in train_values})
                if self.evaluate is not None and (last or (self.eval_every and self.step % self.eval_every == 0)):
                    eval_values = self._run_evaluation()
                if last or (self.checkpoint_every and self.step % self.checkpoint_every == 0):
                    self.save_checkpoint()
        finally:
            progress.close()
        summary = {
            "step": self.step,
            "resumed_from": start,
            "time_s": time.perf_counter() - t_begin,
            "train": train_values,
            "eval": eval_values,
        }
        self.run_dir.mark_finished(summary)
        return to_jsonable(summary)
