"""Feature sources: the offline self-supervised features are label-free and deterministic; PCA against numpy;
DINO ViT-S/8 key facet read correctly (random weights of the same architecture; slow: timm model creation)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from common.config import load_config
from jacobinerf.family import fitted_source
from jacobinerf.features import encoder_features, pca_reduce, train_selfsup


def _images(n=3, h=20, w=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 1, 3, generator=gen).expand(n, h, w, 3).clone()
    base[:, 5:12, 6:15] = torch.rand(3, generator=gen)  # a square "object"
    return base.clamp(0, 1)


def test_selfsup_deterministic_and_normalised():
    imgs = _images()
    a = encoder_features(train_selfsup(imgs, iters=4, crop=12, batch=2, dim=8, seed=3), imgs)
    b = encoder_features(train_selfsup(imgs, iters=4, crop=12, batch=2, dim=8, seed=3), imgs)
    assert a.shape == (3, 20, 24, 8)
    assert torch.equal(a, b)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(3, 20, 24))


def test_selfsup_features_are_label_free(tmp_path):
    """The feature path of the shaping stage sees images only: scenes that differ only by their labels (and the
    inputs of the training function) give identical features."""
    assert list(inspect.signature(train_selfsup).parameters)[0] == "images"
    assert not any("label" in p or "semantic" in p for p in inspect.signature(train_selfsup).parameters)
    cfg = load_config("jacobinerf/configs/jnerf_replica.yaml", "smoke", None, [])
    imgs = _images()
    feats = []
    for k, seed in enumerate((0, 1)):
        labels = np.random.default_rng(seed).integers(0, 5, (3, 20, 24))
        scene = SimpleNamespace(
            root=f"scene{k}", height=20, width=24, split=lambda _s: [0, 1, 2], semantics=labels, instances=labels + 1
        )
        c = cfg.override({"features.cache_dir": str(tmp_path / f"cache{k}")})
        feats.append(fitted_source(c, scene, imgs)(imgs))
    assert torch.equal(feats[0], feats[1])


def test_pca_reduce_matches_numpy():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(50, 6, generator=gen, dtype=torch.float64) @ torch.randn(6, 6, generator=gen, dtype=torch.float64)
    out = pca_reduce(f, 2)
    x = f.numpy() - f.numpy().mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    ref = x @ vt[:2].T
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(np.abs((out.numpy() * ref).sum(1)), 1.0, atol=1e-5)  # equal up to component signs
    assert pca_reduce(f, 8) is f


@pytest.mark.slow
def test_dino_key_facet_random_weights():
    from jacobinerf.features import DinoSource, dino_key_features

    src = DinoSource(dim=8, load_size=32, random_init=True)
    model = src.model
    imgs = _images(n=1, h=24, w=32)
    feats = dino_key_features(model, imgs, load_size=32)
    assert feats.shape == (1, 24, 32, 384)
    # reference: the key projection of the last block's normalised input, CLS removed, on the stride-4 grid (7 x 9)
    captured = {}
    hook = model.blocks[11].norm1.register_forward_hook(lambda m, i, o: captured.setdefault("x", o))
    model.patch_embed.proj.stride = (4, 4)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = torch.nn.functional.interpolate(imgs.permute(0, 3, 1, 2), size=(32, 40), mode="bilinear", align_corners=False)
    with torch.no_grad():
        model.forward_features((x - mean) / std)
    hook.remove()
    model.patch_embed.proj.stride = (8, 8)
    w, b = model.blocks[11].attn.qkv.weight[384:768], model.blocks[11].attn.qkv.bias[384:768]
    keys = (captured["x"][:, 1:] @ w.T + b).reshape(1, 7, 9, 384).permute(0, 3, 1, 2)
    ref = torch.nn.functional.interpolate(keys, size=(24, 32), mode="bilinear", align_corners=False)
    ref = torch.nn.functional.normalize(ref.permute(0, 2, 3, 1), dim=-1)
    torch.testing.assert_close(feats, ref, atol=1e-5, rtol=1e-4)
    src.fit(imgs)
    assert src(imgs).shape == (1, 24, 32, 8) and "RANDOM" in src.name
