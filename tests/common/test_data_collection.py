"""Scene collections and their sampler: seeded draws, one visit per scene and epoch, bit-exact resume,
lazy loading (image reads counted), a CO3D-like synthetic category, an image folder, the real CelebA subset."""

from __future__ import annotations

import io as pyio
import json

import numpy as np
import pytest
import torch
from data_fixtures import random_c2w, shared_sample

import common.data.collection as collection_module
import common.data.io as data_io
from common.data import CollectionSampler, DataFormatError, SceneCollection, SceneData, load_scene
from common.data.io import write_png
from common.data.synthetic.objects import CATEGORIES
from common.data.synthetic.write_co3d import write_co3d


def make_scene(rng: np.random.Generator, n: int, h: int = 4, w: int = 5, splits=None) -> SceneData:
    K = np.tile(np.array([[3.0, 0, w / 2], [0, 3.0, h / 2], [0, 0, 1]], np.float32), (n, 1, 1))
    K[:, 0, 0] += rng.uniform(0, 1, n).astype(np.float32)
    return SceneData(
        images=rng.uniform(0, 1, (n, h, w, 3)).astype(np.float32),
        K=K,
        c2w=random_c2w(rng, n).astype(np.float32),
        height=h,
        width=w,
        splits=splits or {"train": list(range(n))},
        near=0.5,
        far=float(rng.uniform(2, 3)),
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
    )


@pytest.fixture
def collection() -> SceneCollection:
    rng = np.random.default_rng(0)
    scenes = {f"s{i}": make_scene(rng, n) for i, n in enumerate([4, 6, 5, 4, 7, 4, 5])}
    scenes["s2"].splits = {"train": [0, 2, 4], "test": [1, 3]}
    return SceneCollection.from_scenes(scenes)


def run(sampler: CollectionSampler, g: torch.Generator, steps: int) -> list[dict]:
    return [sampler(step, g) for step in range(steps)]


def assert_batches_equal(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["scene_names"] == y["scene_names"]
        for k in ("scene_indices", "view_indices", "images", "K", "c2w", "near", "far"):
            assert torch.equal(x[k], y[k]), k


def test_batch_values_match_the_scenes(collection):
    sampler = CollectionSampler(collection, scenes_per_batch=3, views_per_scene=3)
    for b in run(sampler, torch.Generator().manual_seed(1), 5):
        assert b["images"].shape == (3, 3, 4, 5, 3) and b["images"].dtype == torch.float32
        assert b["K"].shape == (3, 3, 3, 3) and b["c2w"].shape == (3, 3, 4, 4)
        for s, name in enumerate(b["scene_names"]):
            scene = collection.scene(name)
            views = b["view_indices"][s].tolist()
            assert collection.index(name) == b["scene_indices"][s]
            assert len(set(views)) == 3 and set(views) <= set(scene.splits["train"])
            np.testing.assert_array_equal(b["images"][s].numpy(), scene.images[views])
            np.testing.assert_array_equal(b["K"][s].numpy(), scene.K[views])
            np.testing.assert_array_equal(b["c2w"][s].numpy(), scene.c2w[views])
            assert b["far"][s] == np.float32(scene.far)


def test_same_seed_same_batches_other_seed_differs(collection):
    def draws(seed):
        s = CollectionSampler(collection, 2, 3)
        g = torch.Generator().manual_seed(seed)
        return [s.next_plan(g) for _ in range(6)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)
    a = run(CollectionSampler(collection, 2, 3), torch.Generator().manual_seed(5), 4)
    assert_batches_equal(a, run(CollectionSampler(collection, 2, 3), torch.Generator().manual_seed(5), 4))


def test_every_scene_once_per_epoch(collection):
    sampler = CollectionSampler(collection, scenes_per_batch=3, views_per_scene=1)
    g = torch.Generator().manual_seed(0)
    drawn = [name for _ in range(14) for name, _ in sampler.next_plan(g)]  # 42 draws = 6 epochs of 7
    epochs = [drawn[i : i + 7] for i in range(0, 42, 7)]
    for e in epochs:
        assert sorted(e) == collection.names
    assert len({tuple(e) for e in epochs}) > 1  # a new permutation each epoch
    assert sampler.epoch == 5
    # the scene permutation is torch.randperm drawn from the generator at the epoch start
    g = torch.Generator().manual_seed(0)
    first = torch.randperm(7, generator=g).tolist()
    assert epochs[0][:3] == [collection.names[i] for i in first[:3]]


def test_views_come_from_the_requested_split(collection):
    sampler = CollectionSampler(collection, 7, 2, split="train")
    g = torch.Generator().manual_seed(3)
    seen, ascending = set(), []
    for _ in range(30):
        for name, views in sampler.next_plan(g):
            assert len(views) == 2 and len(set(views)) == 2
            assert set(views) <= set(collection.split(name, "train"))
            ascending.append(views[0] < views[1])
            if name == "s2":
                seen.update(views)
    assert seen == {0, 2, 4}
    assert 0 < sum(ascending) < len(ascending)  # views come in random order (the last one is a random target)
    only = SceneCollection.from_scenes({"s2": collection.scene("s2")})
    test_views = {v for _ in range(20) for v in CollectionSampler(only, 1, 1, split="test").next_plan(g)[0][1]}
    assert test_views == {1, 3}


def test_replacement_draws_uniform_scene_indices(collection):
    sampler = CollectionSampler(collection, scenes_per_batch=10, views_per_scene=1, replacement=True)
    g = torch.Generator().manual_seed(2)
    names = [name for name, _ in sampler.next_plan(g)]
    ref = torch.Generator().manual_seed(2)
    assert names == [collection.names[i] for i in torch.randint(7, (10,), generator=ref).tolist()]


@pytest.mark.parametrize("replacement", [False, True])
@pytest.mark.parametrize("k", [0, 2, 5])  # fresh, mid-epoch, after an epoch boundary
def test_resume_is_bit_exact(collection, replacement, k):
    sampler = CollectionSampler(collection, 3, 2, replacement=replacement)
    g = torch.Generator().manual_seed(11)
    run(sampler, g, k)
    buf = pyio.BytesIO()
    torch.save({"sampler": sampler.state_dict(), "generator": g.get_state()}, buf)
    expected = run(sampler, g, 6)

    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    resumed = CollectionSampler(collection, 3, 2, replacement=replacement)
    resumed.load_state_dict(saved["sampler"])
    g2 = torch.Generator()
    g2.set_state(saved["generator"])
    assert_batches_equal(run(resumed, g2, 6), expected)
    assert resumed.epoch == sampler.epoch


def test_resume_refuses_other_collection_or_settings(collection):
    state = CollectionSampler(collection, 3, 2).state_dict()
    with pytest.raises(ValueError, match="views_per_scene"):
        CollectionSampler(collection, 3, 1).load_state_dict(state)
    other = SceneCollection.from_scenes({f"x{i}": collection[i] for i in range(len(collection))})
    with pytest.raises(ValueError, match="other scene names"):
        CollectionSampler(other, 3, 2).load_state_dict(state)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"views_per_scene": 5}, "views_per_scene=5 exceeds the 4 'train' views of scene 's0'"),
        ({"views_per_scene": 0}, "views_per_scene must be"),
        ({"scenes_per_batch": 0}, "scenes_per_batch must be"),
        ({"scenes_per_batch": 8}, "scenes_per_batch=8 exceeds"),
        ({"split": "test"}, "split='test' selects no view of scene 's0'"),
    ],
)
def test_sampler_argument_errors(collection, kwargs, match):
    args = {"scenes_per_batch": 2, "views_per_scene": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        CollectionSampler(collection, **args)


def test_collection_errors(collection):
    with pytest.raises(ValueError, match="collection is empty"):
        CollectionSampler(SceneCollection.from_scenes({}), 1, 1)
    with pytest.raises(TypeError, match="torch.Generator"):
        CollectionSampler(collection, 1, 1).next_plan(np.random.default_rng(0))
    with pytest.raises(KeyError, match="nope"):
        collection.scene("nope")
    with pytest.raises(IndexError):
        collection[7]
    with pytest.raises(TypeError, match="scenes\\['a'\\]"):
        SceneCollection.from_scenes({"a": 3})
    assert collection[-1] is collection.scene("s6") and "s6" in collection and len(collection) == 7


def test_scene_callables_are_loaded_once_on_first_use():
    rng = np.random.default_rng(1)
    calls = []

    def loader(n):
        calls.append(n)
        return make_scene(rng, n)

    col = SceneCollection.from_scenes({"a": lambda: loader(3), "b": lambda: loader(4)})
    assert calls == []
    assert col.split("b", "train") == [0, 1, 2, 3] and calls == [4]
    assert col["b"] is col.scene("b") and calls == [4]


class ReadCounter:
    """Wraps the one image-file reader of `common.data.io` and records the paths read."""

    def __init__(self, monkeypatch):
        self.paths = []
        original = data_io._read

        def counted(path):
            self.paths.append(str(path))
            return original(path)

        monkeypatch.setattr(data_io, "_read", counted)


# a CO3D-like category: 4 sequences of 5 frames (3 in fewview_train, the last in fewview_dev)
RES, FRAMES = 12, 5
CATEGORY = CATEGORIES[0]


@pytest.fixture(scope="module")
def co3d(tmp_path_factory):
    root = tmp_path_factory.mktemp("co3d_collection")
    write_co3d(root, scenes=1, res=RES, seed=4, frames=FRAMES, sequences=4)
    return root


def test_co3d_category_is_lazy_and_matches_the_loader(co3d, monkeypatch):
    reads = ReadCounter(monkeypatch)
    loaded = []

    def counted_load_scene(*args, **kwargs):
        loaded.append(kwargs["sequence"])
        return load_scene(*args, **kwargs)

    monkeypatch.setattr(collection_module, "load_scene", counted_load_scene)
    col = SceneCollection.from_co3d_category(co3d, CATEGORY)
    assert reads.paths == [] and loaded == []
    set_list = json.loads((co3d / CATEGORY / "set_lists" / "set_lists_fewview_train.json").read_text())
    assert col.names == sorted({e[0] for e in set_list["train"]}) and len(col) == 3
    for name in col.names:  # split indices known before loading agree with the loaded scene's
        assert col.split(name, "train") == list(range(FRAMES))
    sampler = CollectionSampler(col, scenes_per_batch=1, views_per_scene=3)
    assert reads.paths == [] and loaded == []  # split lookups come from the set list

    batch = sampler(0, torch.Generator().manual_seed(0))
    name, views = batch["scene_names"][0], batch["view_indices"][0].tolist()
    assert len(reads.paths) == 3 and loaded == [name]  # only the drawn scene is loaded, only its drawn views read
    assert col.load_views(name, views[:1])["images"].shape == (1, *batch["images"].shape[2:])
    assert loaded == [name]  # a loaded scene is kept
    ref = load_scene("co3dv2", co3d, category=CATEGORY, sequence=name, split="train")
    assert col.scene(name).splits == ref.splits and col.scene(name).images is None
    np.testing.assert_array_equal(batch["images"][0].numpy(), ref.images[views])
    np.testing.assert_array_equal(batch["K"][0].numpy(), ref.K[views])
    np.testing.assert_array_equal(batch["c2w"][0].numpy(), ref.c2w[views])
    assert sorted(reads.paths[:3]) == sorted(ref.image_paths[v] for v in views)


def test_co3d_category_options(co3d):
    assert (
        SceneCollection.from_co3d_category(co3d, CATEGORY, max_sequences=2).names
        == sorted(SceneCollection.from_co3d_category(co3d, CATEGORY).names)[:2]
    )
    dev = SceneCollection.from_co3d_category(co3d, CATEGORY, subset="fewview_dev", split="test")
    assert len(dev) == 1 and dev.names[0] not in SceneCollection.from_co3d_category(co3d, CATEGORY).names
    both = SceneCollection.from_co3d_category(co3d, CATEGORY, subset="fewview_dev", split=None)
    assert both.splits(both.names[0]) == {"test": list(range(FRAMES))}
    assert both.scene(both.names[0]).splits == both.splits(both.names[0])
    half = SceneCollection.from_co3d_category(co3d, CATEGORY, downscale=2)
    assert half[0].height == half.scene(half.names[0]).load_image(0).shape[0] == RES * 4 // 3 // 2
    with pytest.raises(DataFormatError, match="no sequence has >= 6 frames"):
        SceneCollection.from_co3d_category(co3d, CATEGORY, min_views=6)
    with pytest.raises(DataFormatError, match="set list not found"):
        SceneCollection.from_co3d_category(co3d, CATEGORY, subset="manyview")
    with pytest.raises(ValueError, match="max_sequences"):
        SceneCollection.from_co3d_category(co3d, CATEGORY, max_sequences=0)


def test_co3d_scenes_of_other_sizes_need_a_transform(co3d):
    col = SceneCollection.from_co3d_category(co3d, CATEGORY)
    sizes = {(col[i].height, col[i].width) for i in range(len(col))}
    assert len(sizes) == 2  # portrait and landscape sequences
    with pytest.raises(ValueError, match="transform="):
        CollectionSampler(col, 3, 2)(0, torch.Generator().manual_seed(0))

    def crop(d):
        return {**d, "images": d["images"][:, :6, :6]}

    batch = CollectionSampler(col, 3, 2, transform=crop)(0, torch.Generator().manual_seed(0))
    assert batch["images"].shape == (3, 2, 6, 6, 3)
    assert sorted(batch["scene_names"]) == col.names


def write_folder(root, n=5, hw=(6, 7)) -> np.ndarray:
    imgs = np.random.default_rng(2).integers(0, 256, (n, *hw, 3), dtype=np.uint8)
    for i, img in enumerate(imgs):
        write_png(root / f"face_{i:03d}.png", img)
    return imgs


def test_image_folder_is_a_collection_of_single_images(tmp_path, monkeypatch):
    imgs = write_folder(tmp_path)
    reads = ReadCounter(monkeypatch)
    col = SceneCollection.from_image_folder(tmp_path)
    assert reads.paths == []
    assert col.names == [f"face_{i:03d}.png" for i in range(5)]
    assert col.splits("face_002.png") == {"train": [0]}
    one = col.scene("face_002.png")
    assert one.num_views == 1 and one.frame_ids == ["face_002"]
    np.testing.assert_allclose(one.load_image(0), imgs[2] / 255.0, atol=1e-6)

    sampler = CollectionSampler(col, scenes_per_batch=5, views_per_scene=1)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):  # one batch = one epoch = every image once
        reads.paths.clear()
        b = sampler(0, g)
        assert b["images"].shape == (5, 1, 6, 7, 3) and sorted(b["scene_names"]) == col.names
        assert len(reads.paths) == 5
        assert b["view_indices"].tolist() == [[0]] * 5
        idx = b["scene_indices"].tolist()
        np.testing.assert_allclose(b["images"][:, 0].numpy(), imgs[idx] / 255.0, atol=1e-6)
    with pytest.raises(ValueError, match="views_per_scene=2 exceeds the 1 'train' views"):
        CollectionSampler(col, 2, 2)


@pytest.mark.realdata
def test_real_celeba_collection():
    folder = shared_sample("celeba-128-pigan-eval-subset") / "CelebA_real_images_128"
    col = SceneCollection.from_image_folder(folder)
    assert len(col) == 100 and col.names[0].startswith("00000")
    ref = load_scene("image_folder", folder)
    sampler = CollectionSampler(col, scenes_per_batch=8, views_per_scene=1)
    b = sampler(0, torch.Generator().manual_seed(0))
    assert b["images"].shape == (8, 1, 128, 128, 3)
    np.testing.assert_array_equal(b["images"][:, 0].numpy(), ref.images[b["scene_indices"].numpy()])
    small = SceneCollection.from_image_folder(folder, size=64, crop_fraction=0.8, limit=10)
    assert len(small) == 10 and small.load_views(small.names[3], [0])["images"].shape == (1, 64, 64, 3)
