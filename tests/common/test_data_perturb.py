from dataclasses import replace

import numpy as np
import pytest

from common.data.perturb import add_train_noise, keep_train_views
from common.data.scene import SceneData


def make_scene(n=20, h=6, w=5):
    rng = np.random.default_rng(0)
    K = np.tile(np.array([[5.0, 0, 2.5], [0, 5.0, 3.0], [0, 0, 1]]), (n, 1, 1))
    return SceneData(
        images=rng.uniform(0, 1, (n, h, w, 3)).astype(np.float32),
        K=K,
        c2w=np.tile(np.eye(4), (n, 1, 1)),
        splits={"train": [i for i in range(n) if i % 5], "test": [i for i in range(n) if i % 5 == 0]},
        height=h,
        width=w,
        near=0.1,
        far=5.0,
        bbox=np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]),
    )


def test_keep_train_views_subset_seeded_and_test_untouched():
    scene = make_scene()
    kept = keep_train_views(scene, 0.4, seed=3)
    train = scene.splits["train"]
    assert len(kept.splits["train"]) == round(0.4 * len(train))
    assert set(kept.splits["train"]) <= set(train)
    assert kept.splits["train"] == sorted(kept.splits["train"])
    assert kept.splits["test"] == scene.splits["test"]
    assert keep_train_views(scene, 0.4, seed=3).splits["train"] == kept.splits["train"]
    assert keep_train_views(scene, 0.4, seed=4).splits["train"] != kept.splits["train"]
    assert keep_train_views(scene, 1.0) is scene
    assert len(keep_train_views(scene, 0.01).splits["train"]) == 1


def test_add_train_noise_statistics_and_clean_test_views():
    scene = make_scene(n=10, h=40, w=40)
    scene = replace(scene, images=np.full_like(scene.images, 0.5))
    noisy = add_train_noise(scene, 0.1, seed=1)
    diff = noisy.images - scene.images
    train, test = scene.splits["train"], scene.splits["test"]
    assert np.all(diff[test] == 0)
    assert abs(diff[train].std() - 0.1) < 0.005 and abs(diff[train].mean()) < 0.005
    assert noisy.images.min() >= 0 and noisy.images.max() <= 1
    assert np.array_equal(add_train_noise(scene, 0.1, seed=1).images, noisy.images)
    assert add_train_noise(scene, 0.0) is scene
    clipped = add_train_noise(scene, 2.0, seed=1).images[train]
    assert clipped.min() == 0.0 and clipped.max() == 1.0


@pytest.mark.parametrize(
    "call", [lambda s: keep_train_views(s, 0.0), lambda s: keep_train_views(s, 1.5), lambda s: add_train_noise(s, -0.1)]
)
def test_bad_settings_raise(call):
    with pytest.raises(ValueError):
        call(make_scene())
