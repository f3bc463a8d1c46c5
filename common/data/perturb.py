"""Degraded training sets for robustness studies (S3IM Figures 3 and 4): fewer training views, noisy images.

Both act on the ``train`` split only; test views stay untouched, so held-out metrics measure the effect
of the degradation on the learned scene. Both are seeded and independent of the model's seed.

- :func:`keep_train_views`: a random subset of ``round(fraction * n_train)`` training views (at least 1),
  drawn without replacement ("we randomly remove some training images", S3IM Sec. 4), kept in index order.
- :func:`add_train_noise`: ``I' = clip(I + std * n, 0, 1)``, ``n ~ N(0, 1)`` i.i.d. per pixel and channel,
  with ``I`` in [0, 1] ("Gaussian noise with the standard deviation as std", S3IM Sec. 4).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from common.data.scene import SceneData


def keep_train_views(scene: SceneData, fraction: float, seed: int = 0) -> SceneData:
    """The scene with a seeded random ``fraction`` in (0, 1] of its training views (others unchanged)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction of training views: {fraction}; expected a number in (0, 1]")
    train = list(scene.splits["train"])
    if fraction == 1.0:
        return scene
    n_keep = max(1, round(fraction * len(train)))
    rng = np.random.default_rng(seed)
    kept = sorted(int(i) for i in rng.choice(train, size=n_keep, replace=False))
    return replace(scene, splits={**scene.splits, "train": kept})


def add_train_noise(scene: SceneData, std: float, seed: int = 0) -> SceneData:
    """The scene with Gaussian noise of standard deviation ``std`` (image range [0, 1]) on its training
    views, clipped to [0, 1]; every other view keeps its image. Images are loaded into memory."""
    if std < 0:
        raise ValueError(f"noise std: {std}; expected a number >= 0")
    if std == 0:
        return scene
    scene = scene.materialize()
    images = scene.images.copy()
    rng = np.random.default_rng(seed)
    for i in scene.splits["train"]:
        noise = rng.standard_normal(images[i].shape, dtype=np.float32)
        images[i] = np.clip(images[i] + np.float32(std) * noise, 0.0, 1.0)
    return replace(scene, images=images)
