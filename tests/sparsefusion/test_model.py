"""Joint EFT + VLDM training step through the common Trainer: losses, named optimisers, exact resume, the sampler's
kept latents."""

import numpy as np
import torch

from common.engine.trainer import Trainer
from sparsefusion.autoencoder import random_tiny_autoencoder
from sparsefusion.geometry import look_at
from sparsefusion.model import ContextSampler, SparseFusionModel

CFG = {
    "image_size": 32, "seed": 0,
    "eft": {"hidden": 16, "layers": 1, "n_points": 4, "feature_dim": 8, "depth_radius": 1.5},
    "vldm": {"channels": [16], "layers_per_block": 1, "cond_drop": 0.1, "p2_gamma": 0.5, "repeats": 2,
             "norm_groups": 8},
    "train": {"lr": 1e-3, "color_rays": 16, "eft_weight": 1.0, "grad_clip": 1.0},
}  # fmt: skip


def sequence(n=8):
    rng = np.random.default_rng(0)
    ang = torch.linspace(0, 6.0, n)
    c2w = look_at(
        torch.stack([3 * ang.cos(), 3 * ang.sin(), torch.ones(n)], -1), torch.zeros(3), torch.tensor([0.0, 0, 1])
    )
    K = np.tile(np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]], np.float32), (n, 1, 1))
    return {
        "images": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
        "masks": np.ones((n, 32, 32), bool),
        "K": K,
        "c2w": c2w.numpy(),
    }


def build():
    torch.manual_seed(0)
    return SparseFusionModel(CFG, random_tiny_autoencoder())


def test_sampler_draws_context_and_query():
    s = ContextSampler([sequence()], 2, 3)
    b = s(0, torch.Generator().manual_seed(0))
    assert b["images"].shape[0] in (3, 4) and b["images"].shape[1:] == (3, 32, 32)
    assert b["K"].shape[0] == b["c2w"].shape[0] == b["images"].shape[0]


def test_autoencoder_is_not_trained_or_checkpointed():
    m = build()
    assert not any(k.startswith("_ae") or "encoder.0" in k for k in m.state_dict() if not k.startswith("eft"))
    assert set(m.configure_optimizers((0.9, 0.99), 1e-8)) == {"eft", "vldm"}


def test_resumed_training_equals_straight_training(tmp_path):
    seq = [sequence()]
    straight = build()
    Trainer(straight, ContextSampler(seq), iters=2, run_dir=tmp_path / "a", progress=False, log_every=1).fit()
    part = build()
    Trainer(
        part, ContextSampler(seq), iters=1, run_dir=tmp_path / "b", progress=False, log_every=1, checkpoint_every=1
    ).fit()
    resumed = build()
    Trainer(resumed, ContextSampler(seq), iters=2, run_dir=tmp_path / "b", progress=False, log_every=1).fit(resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert not torch.equal(next(iter(build().vldm.parameters())), next(iter(straight.vldm.parameters())))


def test_sampler_latents_equal_encoding_the_query():
    ae = random_tiny_autoencoder()
    s = ContextSampler([sequence(), sequence(6)], 2, 3, ae)
    for step in range(6):
        b = s(step, torch.Generator().manual_seed(step))
        assert b["latent"].shape == (1, 32, 4, 4)
        torch.testing.assert_close(b["latent"], ae.encode(b["images"][-1:]), rtol=0, atol=0)


def test_step_with_kept_latent_equals_step_encoding_the_query():
    batch = ContextSampler([sequence()], 2, 3, random_tiny_autoencoder())(0, torch.Generator().manual_seed(0))
    a, b = build(), build()
    for model, inputs in ((a, batch), (b, {k: v for k, v in batch.items() if k != "latent"})):
        torch.manual_seed(1)  # the same dropout draws
        model.train_step(inputs, 0, model.configure_optimizers((0.9, 0.99), 1e-8))
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=k)


def test_resumed_training_with_kept_latents_equals_straight_training(tmp_path):
    seq = [sequence()]

    def fit(iters, run, resume=False, every=None):
        model = build()
        sampler = ContextSampler(seq, autoencoder=model.autoencoder)
        Trainer(model, sampler, iters=iters, run_dir=tmp_path / run, progress=False, log_every=1,
                checkpoint_every=every).fit(resume=resume)  # fmt: skip
        return model

    straight = fit(3, "a")
    fit(1, "b", every=1)
    resumed = fit(3, "b", resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
