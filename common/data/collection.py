"""Collections of scenes (a CO3D category, an image folder) and a seeded sampler over scenes and views.

A `SceneCollection` is an ordered list of named items. Each item is a group of views of one SceneData
(its *source*): a whole scene (a CO3D sequence, a scene given to `from_scenes`) or a single view of a
shared scene (one image of an image folder). Sources are loaded on first use and kept (with lazy
images, so a kept scene holds poses and file paths, not pixels); building a collection reads no image.

Constructors:
  * ``from_scenes({name: SceneData | () -> SceneData})``: the mapping's order; a callable is called on
    first use.
  * ``from_co3d_category(root, category, subset, split, ...)``: one item per sequence of the set list
    ``set_lists_<subset>.json`` with frames in ``split``, sorted by name. Only the set list is read when
    building; a sequence is loaded with the CO3Dv2 loader (``load_scene("co3dv2", ...)``, lazy images) the
    first time it is used, and its split indices are known from the set list before that.
  * ``from_image_folder(root, ...)``: one single-view item per image (named by file name), all views of one
    lazy `image_folder` scene. pi-GAN's unit is an image, so with ``views_per_scene=1`` the sampler's
    epoch-wise permutation over items is a permutation over images.

`CollectionSampler` draws ``scenes_per_batch`` items and ``views_per_scene`` distinct views of each item's
split; all random numbers come from the ``torch.Generator`` passed to each call.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from common.data.co3dv2 import read_set_list
from common.data.errors import DataFormatError
from common.data.registry import load_scene
from common.data.scene import SceneData

SceneSource = SceneData | Callable[[], SceneData]


@dataclass(frozen=True)
class _Item:
    """source: index into the collection's sources; views: the source's view indices of this item
    (None: every view); splits: split -> item-local view indices when known without loading the source."""

    source: int
    views: tuple[int, ...] | None = None
    splits: dict[str, list[int]] | None = None


class SceneCollection:
    """An ordered list of named scenes; see the module docstring. Build with the ``from_*`` constructors."""

    def __init__(self, names: list[str], items: list[_Item], sources: list[SceneSource]):
        if len(names) != len(items):
            raise ValueError(f"names ({len(names)}) and items ({len(items)}) differ in length")
        repeated = sorted(n for n, c in Counter(names).items() if c > 1)
        if repeated:
            raise ValueError(f"names must be unique, repeated: {repeated[:5]}")
        self._names = list(names)
        self._index = {n: i for i, n in enumerate(self._names)}
        self._items = items
        self._sources = list(sources)

    # construction

    @classmethod
    def from_scenes(cls, scenes: Mapping[str, SceneSource]) -> SceneCollection:
        """Items ``scenes`` in the mapping's order; a value is a SceneData or a zero-argument callable returning one."""
        for name, s in scenes.items():
            if not (isinstance(s, SceneData) or callable(s)):
                raise TypeError(f"scenes[{name!r}] is {type(s).__name__}; expected a SceneData or a callable")
        names = [str(n) for n in scenes]
        return cls(names, [_Item(i) for i in range(len(names))], list(scenes.values()))

    @classmethod
    def from_co3d_category(
        cls,
        root: str | Path,
        category: str,
        subset: str = "fewview_train",
        split: str | None = "train",
        downscale: int = 1,
        max_sequences: int | None = None,
        min_views: int = 1,
        lazy: bool = True,
        **options,
    ) -> SceneCollection:
        """The sequences of ``root/<category>`` named in ``set_lists_<subset>.json``, sorted by name.

        split: the set-list split whose frames each scene holds (None: every frame of the sequence in the set
            list, scene splits = its non-empty set-list splits), as the CO3Dv2 loader's ``split`` option.
        max_sequences: keep the first ``max_sequences`` (sorted) sequences.
        min_views: drop sequences with fewer frames in ``split`` (SparseFusion trains on sequences with > 10).
        downscale, lazy and ``options`` (masks, depth, mask_threshold) go to the CO3Dv2 loader.
        """
        if max_sequences is not None and (not isinstance(max_sequences, int) or max_sequences < 1):
            raise ValueError(f"max_sequences must be a positive integer or None, got {max_sequences!r}")
        if not isinstance(min_views, int) or min_views < 1:
            raise ValueError(f"min_views must be a positive integer, got {min_views!r}")
        cat_dir = Path(root) / category
        if not cat_dir.is_dir():
            raise DataFormatError(cat_dir, "category folder not found", "root/<category>/ in the CO3Dv2 layout")
        path = cat_dir / "set_lists" / f"set_lists_{subset}.json"
        names, items, sources = [], [], []
        for sequence, frames in sorted(read_set_list(path).items()):
            if split is not None:
                frames = {n: s for n, s in frames.items() if split in s}
            if len(frames) < min_views:
                continue
            numbers = sorted(frames)
            split_names = [split] if split is not None else list(dict.fromkeys(s for n in numbers for s in frames[n]))
            splits = {s: [i for i, n in enumerate(numbers) if s in frames[n]] for s in split_names}
            names.append(sequence)
            items.append(_Item(len(sources), splits=splits))
            sources.append(
                partial(
                    load_scene,
                    "co3dv2",
                    root,
                    category=category,
                    sequence=sequence,
                    subset=subset,
                    split=split,
                    downscale=downscale,
                    lazy=lazy,
                    **options,
                )
            )
            if max_sequences is not None and len(names) == max_sequences:
                break
        if not names:
            raise DataFormatError(path, f"no sequence has >= {min_views} frames in split {split!r}", "a non-empty set")
        return cls(names, items, sources)

    @classmethod
    def from_image_folder(cls, root: str | Path, lazy: bool = True, **options) -> SceneCollection:
        """One single-view item per image of the folder, named by file name, in the loader's sorted order.

        ``lazy`` and ``options`` (size, crop_fraction, limit, fov_degrees, downscale, ...) go to the
        `image_folder` loader; each item's split is ``{"train": [0]}``.
        """
        scene = load_scene("image_folder", root, lazy=lazy, **options)
        names = [Path(p).name for p in scene.image_paths]
        splits = {"train": [0]}  # shared by every item (read only)
        return cls(names, [_Item(0, (i,), splits) for i in range(len(names))], [scene])

    # access

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __getitem__(self, key: int | str) -> SceneData:
        """The scene at position ``key`` (int) or named ``key`` (str)."""
        if isinstance(key, str):
            return self.scene(key)
        if not -len(self) <= key < len(self):
            raise IndexError(f"collection index {key} out of range for {len(self)} scenes")
        return self.scene(self._names[key])

    def index(self, name: str) -> int:
        if name not in self._index:
            raise KeyError(f"no scene {name!r} in the collection (first names: {self._names[:5]})")
        return self._index[name]

    def scene(self, name: str) -> SceneData:
        """The SceneData of item ``name`` (its source loaded on first use; a one-view item is a one-view subset)."""
        item = self._items[self.index(name)]
        source = self._source(item.source)
        return source if item.views is None else source.subset(list(item.views))

    def splits(self, name: str) -> dict[str, list[int]]:
        """Split name -> view indices of item ``name`` (from the set list / item, else from the loaded scene)."""
        item = self._items[self.index(name)]
        if item.splits is not None:
            return item.splits
        source = self._source(item.source)
        if item.views is None:
            return source.splits
        local = {v: i for i, v in enumerate(item.views)}
        return {s: [local[v] for v in idx if v in local] for s, idx in source.splits.items()}

    def split(self, name: str, split: str) -> list[int]:
        """View indices of ``split`` in item ``name``; ValueError when the item has no such view."""
        splits = self.splits(name)
        if not splits.get(split):
            raise ValueError(f"split={split!r} selects no view of scene {name!r} (its splits: {sorted(splits)})")
        return splits[split]

    def load_views(self, name: str, views: list[int]) -> dict[str, np.ndarray | float]:
        """Views ``views`` (item-local indices) of item ``name``: images [V, H, W, 3] float32 in [0, 1],
        K [V, 3, 3], c2w [V, 4, 4] float32, and the scene's near / far; reads only those images."""
        item = self._items[self.index(name)]
        source = self._source(item.source)
        idx = list(views) if item.views is None else [item.views[v] for v in views]
        return {
            "images": np.stack([source.load_image(i) for i in idx]).astype(np.float32, copy=False),
            "K": np.asarray(source.K[idx], dtype=np.float32),
            "c2w": np.asarray(source.c2w[idx], dtype=np.float32),
            "near": float(source.near),
            "far": float(source.far),
        }

    def _source(self, i: int) -> SceneData:
        s = self._sources[i]
        if not isinstance(s, SceneData):
            s = s()
            if not isinstance(s, SceneData):
                raise TypeError(f"scene loader returned {type(s).__name__}; expected a SceneData")
            self._sources[i] = s
        return s

    def digest(self) -> str:
        """SHA-1 of the ordered names (identifies the collection in a sampler's state)."""
        return hashlib.sha1("\n".join(self._names).encode()).hexdigest()


class CollectionSampler:
    """Batches of (scene, views) from a SceneCollection, deterministic given a ``torch.Generator``.

    Scenes: with ``replacement=False`` the sampler walks through a random permutation of the collection
    (``torch.randperm``); when it is used up a new permutation is drawn and the batch continues from it, so
    every scene is drawn once per epoch (a batch that crosses an epoch boundary may hold a scene twice).
    With ``replacement=True`` each batch draws ``scenes_per_batch`` scenes uniformly (``torch.randint``).
    Views: for each drawn scene, the first ``views_per_scene`` entries of ``torch.randperm`` over its
    ``split`` views (distinct views, in random order). For SparseFusion take ``view_indices[:, :-1]`` as
    context and ``view_indices[:, -1]`` as the target; for pi-GAN use ``views_per_scene=1`` on an
    image-folder collection.

    ``sampler(step, generator) -> dict`` (``step`` is not used: the sequence depends only on the generator):
      scene_names: list of S names; scene_indices: int64 [S]; view_indices: int64 [S, V] (scene view indices);
      images: float32 [S, V, H, W, 3] in [0, 1]; K: [S, V, 3, 3]; c2w: [S, V, 4, 4]; near, far: float32 [S].
    Tensors are on the CPU. Scenes of one batch must share an image size after ``transform`` (a callable
    mapping `SceneCollection.load_views`' dict to one of the same keys, e.g. a crop and resize), else
    ValueError. `next_plan` gives the draws without reading images. Building the sampler looks up every
    scene's split (from the set list for a CO3D category; scenes given as callables are loaded).

    Resuming: save ``state_dict()`` together with the generator's state; after ``load_state_dict`` and
    restoring the generator, the sampler continues with the same batches. The state holds the position in
    the current permutation and the generator state it was drawn from (not the permutation).
    """

    def __init__(
        self,
        collection: SceneCollection,
        scenes_per_batch: int,
        views_per_scene: int,
        split: str = "train",
        replacement: bool = False,
        transform: Callable[[dict], dict] | None = None,
    ):
        if len(collection) == 0:
            raise ValueError("collection is empty: CollectionSampler needs at least one scene")
        if not isinstance(scenes_per_batch, int) or scenes_per_batch < 1:
            raise ValueError(f"scenes_per_batch must be a positive integer, got {scenes_per_batch!r}")
        if not isinstance(views_per_scene, int) or views_per_scene < 1:
            raise ValueError(f"views_per_scene must be a positive integer, got {views_per_scene!r}")
        if not replacement and scenes_per_batch > len(collection):
            raise ValueError(
                f"scenes_per_batch={scenes_per_batch} exceeds the collection's {len(collection)} scenes "
                "(use replacement=True to repeat scenes in a batch)"
            )
        self._split_views = [collection.split(n, split) for n in collection.names]
        for name, idx in zip(collection.names, self._split_views):
            if views_per_scene > len(idx):
                raise ValueError(
                    f"views_per_scene={views_per_scene} exceeds the {len(idx)} '{split}' views of scene {name!r}"
                )
        self.collection = collection
        self.scenes_per_batch = scenes_per_batch
        self.views_per_scene = views_per_scene
        self.split = split
        self.replacement = bool(replacement)
        self.transform = transform
        self._names = collection.names
        self._digest = collection.digest()
        self._perm: list[int] | None = None
        self._perm_state: torch.Tensor | None = None
        self._perm_device = "cpu"
        self._pos = 0
        self.epoch = 0

    def __call__(self, step: int, generator: torch.Generator) -> dict:
        return self.collate(self.next_plan(generator))

    def next_plan(self, generator: torch.Generator) -> list[tuple[str, list[int]]]:
        """The next batch's [(scene name, view indices [V])] * S (advances the sampler; reads no image)."""
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"CollectionSampler needs a torch.Generator for its random numbers, got {type(generator).__name__}"
            )
        plan = []
        for k in self._next_scenes(generator):
            split = self._split_views[k]
            order = torch.randperm(len(split), generator=generator, device=generator.device)[: self.views_per_scene]
            plan.append((self._names[k], [split[j] for j in order.tolist()]))
        return plan

    def _next_scenes(self, generator: torch.Generator) -> list[int]:
        n, s = len(self.collection), self.scenes_per_batch
        if self.replacement:
            return torch.randint(n, (s,), generator=generator, device=generator.device).tolist()
        out: list[int] = []
        while len(out) < s:
            if self._perm is None or self._pos >= n:
                if self._perm is not None:
                    self.epoch += 1
                self._perm_state = generator.get_state()
                self._perm_device = str(generator.device)
                self._perm = torch.randperm(n, generator=generator, device=generator.device).tolist()
                self._pos = 0
            take = min(s - len(out), n - self._pos)
            out.extend(self._perm[self._pos : self._pos + take])
            self._pos += take
        return out

    def collate(self, plan: list[tuple[str, list[int]]]) -> dict:
        """Read the views of ``plan`` and stack them into the batch dict (see the class docstring)."""
        parts = []
        for name, views in plan:
            d = self.collection.load_views(name, views)
            parts.append(d if self.transform is None else self.transform(d))
        shapes = {p["images"].shape[1:3] for p in parts}
        if len(shapes) > 1:
            raise ValueError(
                f"scenes of one batch have image sizes {sorted(shapes)}; pass transform= to bring them to one size "
                "or use scenes_per_batch=1"
            )
        return {
            "scene_names": [name for name, _ in plan],
            "scene_indices": torch.tensor([self.collection.index(name) for name, _ in plan], dtype=torch.int64),
            "view_indices": torch.tensor([views for _, views in plan], dtype=torch.int64),
            "images": torch.from_numpy(np.stack([p["images"] for p in parts]).astype(np.float32, copy=False)),
            "K": torch.from_numpy(np.stack([p["K"] for p in parts]).astype(np.float32, copy=False)),
            "c2w": torch.from_numpy(np.stack([p["c2w"] for p in parts]).astype(np.float32, copy=False)),
            "near": torch.tensor([p["near"] for p in parts], dtype=torch.float32),
            "far": torch.tensor([p["far"] for p in parts], dtype=torch.float32),
        }

    def state_dict(self) -> dict:
        """Plain values: settings, collection digest, epoch, position and the generator state of the permutation."""
        return {
            "n_scenes": len(self.collection),
            "collection_digest": self._digest,
            "scenes_per_batch": self.scenes_per_batch,
            "views_per_scene": self.views_per_scene,
            "split": self.split,
            "replacement": self.replacement,
            "epoch": self.epoch,
            "position": self._pos,
            "perm_generator_state": None if self._perm_state is None else self._perm_state.clone(),
            "perm_generator_device": self._perm_device,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` taken from a sampler over the same collection with the same settings."""
        mine = (self._digest, self.scenes_per_batch, self.views_per_scene, self.split, self.replacement)
        theirs = tuple(
            state[k] for k in ("collection_digest", "scenes_per_batch", "views_per_scene", "split", "replacement")
        )
        if mine != theirs:
            raise ValueError(
                f"sampler state is for {state['n_scenes']} scenes with (scenes_per_batch, views_per_scene, split, "
                f"replacement) = {theirs[1:]}; this sampler has {len(self.collection)} scenes and {mine[1:]}"
                + ("" if mine[0] == theirs[0] else " and other scene names")
            )
        self.epoch = int(state["epoch"])
        self._pos = int(state["position"])
        self._perm_state = state["perm_generator_state"]
        self._perm_device = state["perm_generator_device"]
        self._perm = None
        if self._perm_state is not None:
            g = torch.Generator(device=self._perm_device)
            g.set_state(self._perm_state)
            self._perm = torch.randperm(len(self.collection), generator=g, device=g.device).tolist()
