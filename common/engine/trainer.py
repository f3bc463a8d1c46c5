"""A small training loop shared by the paper packages: Adam, DVGO-style lr decay, hooks, resume.

Model protocol (a ``torch.nn.Module``)::

    param_groups(self) -> list[dict]
        torch param-group dicts, each with "name", "params", "lr" (the base lr of that group).
    forward(self, batch: dict, step: int) -> dict[str, Tensor]
        training outputs, e.g. "rgb" [R, 3].
    losses(self, outputs: dict, batch: dict, step: int) -> dict[str, Tensor]
        weighted scalar terms; the trainer minimises their sum.
    Optional hooks, called only when defined:
    before_step(self, step: int) -> bool
        True: the trainer rebuilds the optimizer from param_groups() with every lr reset to its
        base lr and a fresh decay schedule (e.g. after progressive grid upsampling, as DVGO does).
    after_backward(self, step: int) -> None      e.g. add a total-variation gradient into .grad
    after_step(self, step: int) -> None          e.g. refresh an occupancy mask
    configure_optimizer(self, betas, eps) -> torch.optim.Optimizer
        a custom optimizer (e.g. a masked Adam); default Adam(param_groups(), betas=betas, eps=eps).
    extra_checkpoint_state(self) -> dict         plain values / tensors saved besides state_dict()
    load_extra_checkpoint_state(self, state: dict) -> None
    load_state_dict(...) may resize parameters to the saved shapes before loading (progressive
    grids); the optimizer is rebuilt from param_groups() after it.

Sampler protocol: ``sampler(step, generator) -> batch dict`` where ``generator`` is a CPU
``torch.Generator`` owned (seeded, checkpointed) by the trainer. A sampler with
``state_dict()``/``load_state_dict()`` is checkpointed too.

``step`` given to the model and sampler is the 0-based index of the iteration being run.
Logged steps and checkpoint names count completed iterations (1..iters), so the record at step
``n`` describes the model after ``n`` optimizer updates. Per iteration::

    before_step -> sampler -> forward -> losses (+ extra_losses) -> sum.backward() -> after_backward
    -> optimizer.step -> scheduler.step (lr *= 0.1 ** (1 / lr_decay_steps)) -> after_step
    -> log (every log_every and at the end) -> evaluate (every eval_every and at the end)
    -> checkpoint (every checkpoint_every and at the end)

Evaluation runs in ``model.eval()`` with all RNG states saved and restored around it, so the
training trajectory does not depend on how often it is evaluated. ``fit(resume=True)`` restores
model, optimizer, scheduler, every RNG state, the generator and the sampler from the latest
checkpoint: on the same device, an interrupted and resumed run is bit-identical to a straight one.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common.engine.checkpoint import (
    capture_rng_state,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng_state,
    save_checkpoint,
)
from common.engine.progress import Progress
from common.engine.run_dir import RunDir, as_run_dir, to_jsonable
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


class Trainer:
    """Train ``model`` on batches from ``sampler`` for ``iters`` iterations; see the module doc.

    ``extra_losses``: name -> fn(outputs, batch) -> already-weighted scalar (e.g. S3IM), added to
    the model's terms; a term with ``state_dict()``/``load_state_dict()`` (e.g. its own random
    generator) is checkpointed too. ``evaluate``: fn(step) -> metrics dict, called every ``eval_every`` steps
    and at the end; scalar metrics are logged with split "eval", the whole dict is written to
    ``<run>/eval/step-000001234.json``. ``checkpoint_every=None`` saves only at the end;
    ``keep_last`` newest checkpoints are kept (None: all). ``tracker`` (optional) receives every
    log line; without one, lines go to ``<run>/metrics.jsonl`` only.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        sampler: Callable[[int, torch.Generator], dict],
        *,
        iters: int,
        run_dir: RunDir | str | Path,
        lr_decay_steps: float | None = None,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-8,
        extra_losses: Mapping[str, Callable[[dict, dict], torch.Tensor]] | None = None,
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
        for name, value in (("eval_every", eval_every), ("checkpoint_every", checkpoint_every)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value}")
        if lr_decay_steps is not None and lr_decay_steps <= 0:
            raise ValueError(f"lr_decay_steps must be > 0 or None, got {lr_decay_steps}")
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
        self.lr_decay_steps = lr_decay_steps
        self.betas = tuple(betas)
        self.eps = eps
        self.extra_losses = dict(extra_losses or {})
        self.evaluate = evaluate
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.keep_last = keep_last
        self.log_every = log_every
        self.seed = seed
        self.tracker = tracker
        self.progress = progress
        self.generator = torch.Generator(device="cpu")
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.step = 0

    def build_optimizer(self) -> None:
        """(Re)build the optimizer from the model's param groups (base lrs) and a fresh lr schedule."""
        configure = _hook(self.model, "configure_optimizer")
        if configure is not None:
            self.optimizer = configure(self.betas, self.eps)
        else:
            self.optimizer = torch.optim.Adam(self.model.param_groups(), betas=self.betas, eps=self.eps)
        gamma = 1.0 if self.lr_decay_steps is None else 0.1 ** (1.0 / self.lr_decay_steps)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=gamma)

    def state_dict(self) -> dict[str, Any]:
        """Checkpoint content (tensors and plain values only; see common.engine.checkpoint)."""
        extra = _hook(self.model, "extra_checkpoint_state")
        sampler_state = _hook(self.sampler, "state_dict")
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
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
        """Restore everything ``state_dict`` saved; the optimizer is rebuilt after the model is loaded."""
        self.model.load_state_dict(state["model"])
        load_extra = _hook(self.model, "load_extra_checkpoint_state")
        if state.get("model_extra") is not None and load_extra is not None:
            load_extra(state["model_extra"])
        self.model.to(self.device)
        self.build_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
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
            self.load_state_dict(load_checkpoint(latest, map_location="cpu"))
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

    def _train_values(self, terms: dict, total: torch.Tensor, outputs: dict, batch: dict, rate: float) -> dict:
        values = {name: float(t.detach()) for name, t in terms.items()}
        values["loss"] = float(total.detach())
        if not math.isfinite(values["loss"]):
            raise FloatingPointError(f"non-finite loss at step {self.step}: {values}")
        if isinstance(outputs.get("rgb"), torch.Tensor) and isinstance(batch.get("rgb"), torch.Tensor):
            mse = float(torch.mean((outputs["rgb"].detach().float() - batch["rgb"].float()) ** 2))
            values["psnr"] = psnr_from_mse(mse)
        groups = self.optimizer.param_groups
        values["lr"] = groups[0]["lr"]
        if len(groups) > 1:
            values.update({f"lr/{g.get('name', f'group{i}')}": g["lr"] for i, g in enumerate(groups)})
        values["it_per_s"] = rate
        return values

    def _run_evaluation(self) -> dict:
        rng = capture_rng_state()
        self.model.eval()
        try:
            metrics = dict(self.evaluate(self.step))
        finally:
            self.model.train()
            restore_rng_state(rng)
        scalars = {k: float(v) for k, v in metrics.items() if _is_scalar(v)}
        self._log(scalars, self.step, "eval")
        self.run_dir.write_json(f"eval/step-{self.step:09d}.json", {"step": self.step, **metrics})
        return scalars

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to ``iters``; with ``resume`` continue from the latest checkpoint (fresh if none).

        Returns (and writes to done.json) ``{"step", "resumed_from", "time_s", "train", "eval"}``
        with the last logged train and eval values. A run whose checkpoint already reached
        ``iters`` is not trained further; its done.json summary is returned.
        """
        self._start(resume)
        start = self.step
        if start >= self.iters and resume:
            return self.run_dir.read_json("done.json") or {"step": start, "resumed_from": start}
        self.run_dir.truncate_metrics(start)
        self.run_dir.clear_finished()
        before_step = _hook(self.model, "before_step")
        after_backward = _hook(self.model, "after_backward")
        after_step = _hook(self.model, "after_step")
        train_values: dict[str, Any] = {}
        eval_values: dict[str, Any] | None = None
        progress = Progress(self.iters, start, enabled=self.progress)
        t_begin = t_log = time.perf_counter()
        steps_since_log = 0
        self.model.train()
        try:
            for index in range(start, self.iters):
                if before_step is not None and before_step(index):
                    self.build_optimizer()
                batch = _to_device(self.sampler(index, self.generator), self.device)
                outputs = self.model(batch, index)
                terms = dict(self.model.losses(outputs, batch, index))
                for name, fn in self.extra_losses.items():
                    if name in terms:
                        raise KeyError(f"extra loss {name!r} clashes with a loss term of the model")
                    terms[name] = fn(outputs, batch)
                if not terms:
                    raise ValueError(f"step {index}: model.losses returned no loss terms")
                total = sum(terms.values())
                self.optimizer.zero_grad(set_to_none=True)
                total.backward()
                if after_backward is not None:
                    after_backward(index)
                self.optimizer.step()
                self.scheduler.step()
                if after_step is not None:
                    after_step(index)
                self.step = index + 1
                steps_since_log += 1
                progress.update()
                last = self.step == self.iters
                if self.step % self.log_every == 0 or last:
                    now = time.perf_counter()
                    rate = steps_since_log / max(now - t_log, 1e-9)
                    train_values = self._train_values(terms, total, outputs, batch, rate)
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
