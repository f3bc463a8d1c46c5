"""Deterministic batch samplers of training rays over a ``common.rays.RayBank``.

Every random number comes from the ``torch.Generator`` passed at each call (indices are drawn on its
device and moved to the bank's device by ``RayBank.gather``), so a run is reproduced by its seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from common.rays import RayBank


class RaySampler:
    """Batches of ``batch_size`` rays from a RayBank: ``sampler(step, generator) -> bank.gather(indices)``.

    Modes:
      "permutation" (DVGO's flatten sampler): walks through ``torch.randperm(len(bank), generator)``; when it
        is used up a new permutation is drawn and the batch continues from it, so every ray is used exactly
        once per epoch (len(bank) rays) and every batch is full. The permutation is held as int32
        (4 B/ray) when the bank has fewer than 2^31 rays.
      "iid": ``torch.randint(len(bank), (batch_size,))``, uniform with replacement.
      "image" (official NeuS): all rays of a batch from one stored view; the views are taken in the order of
        ``torch.randperm(V, generator)``, a new permutation per pass over the V views (as NeuS's
        ``image_perm``), so the view is uniform and every view is used once per V batches. The pixels are
        u = randint(W, (B,)) then v = randint(H, (B,)), uniform with replacement.
      "patch": batch_size / p^2 square patches of p x p pixels (p = ``patch_size``): per patch a view
        randint(V), a top row randint(H - p + 1) and a left column randint(W - p + 1) (one [n] draw each,
        in that order). Layout: rays are ordered patch by patch and row-major inside a patch, so batch
        row j = q p^2 + dy p + dx is pixel (u0_q + dx, v0_q + dy) of patch q, and ``x.reshape(n, p, p, C)``
        (n = batch_size / p^2) gives the patches as images.
    "image" and "patch" address pixels of the stored views, so they need an unrestricted bank (a
    restricted bank raises ValueError).

    ``epoch`` counts the completed passes of the walked permutation (over the rays in "permutation", over
    the views in "image"). ``step`` is the training iteration; these sequences do not depend on it (it is
    part of the sampler interface shared with iteration-dependent samplers). Resuming: save ``state_dict()``
    together with the generator's state; after ``load_state_dict`` and restoring the generator, the sampler
    continues with the same batches. The state holds the position in the current permutation and the
    generator state it was drawn from (not the permutation itself), so it stays small.
    """

    MODES = ("permutation", "iid", "image", "patch")

    def __init__(self, bank: RayBank, batch_size: int, mode: str = "permutation", patch_size: int | None = None):
        if mode not in self.MODES:
            raise ValueError(f"RaySampler mode must be one of {self.MODES}, got {mode!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(bank) == 0:
            raise ValueError("RaySampler needs a non-empty RayBank")
        if mode in ("image", "patch") and bank.restricted:
            raise ValueError(f"RaySampler mode {mode!r} draws pixels of whole views; it needs an unrestricted RayBank")
        if mode == "patch":
            _check_patch(bank, batch_size, patch_size)
        elif patch_size is not None:
            raise ValueError(f"patch_size is only used by mode 'patch', got patch_size={patch_size} for {mode!r}")
        self.bank = bank
        self.batch_size = int(batch_size)
        self.mode = mode
        self.patch_size = None if patch_size is None else int(patch_size)
        self._perm: torch.Tensor | None = None
        self._perm_state: torch.Tensor | None = None
        self._perm_device = "cpu"
        self._pos = 0
        self.epoch = 0
        self._replaced = False

    def set_bank(self, bank: RayBank) -> None:
        """Train on other rays of the same storage from now on (e.g. a callback keeping only the rays that
        pass an alpha mask, as TensoRF does); the permutation restarts at the next batch. The bank's ray
        ids are saved in ``state_dict`` so that a resumed run continues on the same rays."""
        if len(bank) == 0:
            raise ValueError("set_bank: the new RayBank holds no ray")
        if self.mode in ("image", "patch") and bank.restricted:
            raise ValueError(
                f"RaySampler mode {self.mode!r} draws pixels of whole views; it needs an unrestricted RayBank"
            )
        self.bank = bank
        self._replaced = True
        self._perm = None
        self._perm_state = None
        self._pos = 0

    def __call__(self, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.bank.gather(self.next_indices(generator))

    def next_indices(self, generator: torch.Generator) -> torch.Tensor:
        """Indices [batch_size] int64 (positions in the bank) of the next batch; advances the sampler."""
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"RaySampler needs a torch.Generator for its random numbers, got {type(generator).__name__}"
            )
        rand = {"generator": generator, "device": generator.device}
        if self.mode == "iid":
            return torch.randint(len(self.bank), (self.batch_size,), **rand)
        H, W, V = self.bank.height, self.bank.width, len(self.bank.views)
        if self.mode == "image":
            k = self._walk_permutation(V, 1, generator)
            u = torch.randint(W, (self.batch_size,), **rand)
            v = torch.randint(H, (self.batch_size,), **rand)
            return k * (H * W) + v * W + u
        if self.mode == "patch":
            p = self.patch_size
            n = self.batch_size // (p * p)
            k = torch.randint(V, (n,), **rand)
            v0 = torch.randint(H - p + 1, (n,), **rand)
            u0 = torch.randint(W - p + 1, (n,), **rand)
            off = torch.arange(p, device=generator.device)
            v = v0[:, None, None] + off[None, :, None]  # [n, p (dy), 1]
            u = u0[:, None, None] + off[None, None, :]  # [n, 1, p (dx)]
            return (k[:, None, None] * (H * W) + v * W + u).reshape(-1)
        return self._walk_permutation(len(self.bank), self.batch_size, generator)

    def _perm_size(self) -> int:
        """Length of the walked permutation: the views in mode "image", the rays in mode "permutation"."""
        return len(self.bank.views) if self.mode == "image" else len(self.bank)

    def _walk_permutation(self, n: int, count: int, generator: torch.Generator) -> torch.Tensor:
        """The next ``count`` entries [count] int64 of the walk through permutations of range(n)."""
        parts, need = [], count
        while need > 0:
            if self._perm is None or self._pos >= n:
                if self._perm is not None:
                    self.epoch += 1
                self._new_permutation(n, generator)
            take = min(need, n - self._pos)
            parts.append(self._perm[self._pos : self._pos + take])
            self._pos += take
            need -= take
        return (parts[0] if len(parts) == 1 else torch.cat(parts)).long()

    def _new_permutation(self, n: int, generator: torch.Generator) -> None:
        self._perm_state = generator.get_state()
        self._perm_device = str(generator.device)
        self._perm = _randperm(n, generator)
        self._pos = 0

    def state_dict(self) -> dict:
        """Plain values: mode, batch and patch size, epoch, position and the generator state of the permutation."""
        return {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "patch_size": self.patch_size,
            "n_rays": len(self.bank),
            "epoch": self.epoch,
            "position": self._pos,
            "perm_generator_state": None if self._perm_state is None else self._perm_state.clone(),
            "perm_generator_device": self._perm_device,
            "bank_ids": None if not self._replaced or self.bank.ids is None else self.bank.ids.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` (the bank must hold the same rays in the same order, or the same storage
        when the state was saved after ``set_bank``)."""
        if state.get("bank_ids") is not None:
            self.bank = self.bank.with_ids(state["bank_ids"])
            self._replaced = True
        if state["n_rays"] != len(self.bank) or state["mode"] != self.mode:
            raise ValueError(
                f"sampler state is for {state['n_rays']} rays in mode {state['mode']!r}; "
                f"this sampler has {len(self.bank)} rays in mode {self.mode!r}"
            )
        if self.mode == "patch":
            _check_patch(self.bank, int(state["batch_size"]), state["patch_size"])
        self.batch_size = int(state["batch_size"])
        self.patch_size = state.get("patch_size")
        self.epoch = int(state["epoch"])
        self._pos = int(state["position"])
        self._perm_state = state["perm_generator_state"]
        self._perm_device = state["perm_generator_device"]
        self._perm = None
        if self._perm_state is not None:
            g = torch.Generator(device=self._perm_device)
            g.set_state(self._perm_state)
            self._perm = _randperm(self._perm_size(), g)


def _randperm(n: int, generator: torch.Generator) -> torch.Tensor:
    """``torch.randperm(n)`` held as int32 when n fits (half the memory; the same permutation as int64)."""
    dtype = torch.int32 if n <= torch.iinfo(torch.int32).max else torch.int64
    return torch.randperm(n, generator=generator, device=generator.device, dtype=dtype)


def _check_patch(bank: RayBank, batch_size: int, patch_size: int | None) -> None:
    if patch_size is None or patch_size < 1:
        raise ValueError(f"RaySampler mode 'patch' needs patch_size >= 1, got {patch_size}")
    if batch_size % (patch_size * patch_size) != 0:
        raise ValueError(
            f"RaySampler mode 'patch': batch_size {batch_size} is not a multiple of patch_size^2 = {patch_size**2}"
        )
    if patch_size > min(bank.height, bank.width):
        raise ValueError(
            f"RaySampler mode 'patch': patch_size {patch_size} exceeds the image size {bank.height}x{bank.width}"
        )
