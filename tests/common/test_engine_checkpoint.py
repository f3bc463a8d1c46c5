# ruff: noqa: NPY002 - the global (legacy) numpy RNG is what these functions capture
from __future__ import annotations

import random

import numpy as np
import pytest
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


def _draw():
    return torch.rand(4), np.random.rand(4), np.random.randn(), random.random(), random.gauss(0.0, 1.0)


def _assert_same(a, b):
    assert torch.equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert a[2:] == b[2:]


def test_rng_round_trip_including_cached_gaussians():
    np.random.randn()  # leaves a cached gaussian in numpy's state
    random.gauss(0.0, 1.0)  # and in python's (gauss_next)
    state = capture_rng_state()
    first = _draw()
    _draw()
    restore_rng_state(state)
    _assert_same(first, _draw())


def test_rng_state_survives_weights_only_load(tmp_path):
    state = capture_rng_state()
    expected = _draw()
    path = save_checkpoint(tmp_path / "rng.pt", {"rng": state, "step": 3})
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    loaded = torch.load(path, weights_only=True)  # plain values and tensors only
    restore_rng_state(loaded["rng"])
    _assert_same(expected, _draw())
    assert loaded["step"] == 3
    assert loaded["rng"]["cuda"] is None if not torch.cuda.is_available() else len(loaded["rng"]["cuda"]) >= 1


def test_names_listing_and_latest(tmp_path):
    ckpts = tmp_path / "checkpoints"
    assert latest_checkpoint(tmp_path) is None
    for step in (9, 10, 1234, 2):
        save_checkpoint(checkpoint_path(ckpts, step), {"step": step})
    (ckpts / ".step-000009999.pt.abc.tmp").write_bytes(b"partial")  # an interrupted write
    (ckpts / "notes.txt").write_text("x")
    assert checkpoint_path(ckpts, 1234).name == "step-000001234.pt"
    assert [p.name for p in list_checkpoints(ckpts)] == [
        "step-000000002.pt",
        "step-000000009.pt",
        "step-000000010.pt",
        "step-000001234.pt",
    ]
    assert latest_checkpoint(tmp_path) == ckpts / "step-000001234.pt"
    assert latest_checkpoint(ckpts) == ckpts / "step-000001234.pt"  # the checkpoints folder itself
    assert load_checkpoint(latest_checkpoint(tmp_path)) == {"step": 1234}


def test_prune_keeps_the_newest(tmp_path):
    for step in range(1, 6):
        save_checkpoint(checkpoint_path(tmp_path, step), {"step": step})
    deleted = prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in deleted] == ["step-000000001.pt", "step-000000002.pt", "step-000000003.pt"]
    assert [load_checkpoint(p)["step"] for p in list_checkpoints(tmp_path)] == [4, 5]
    assert prune_checkpoints(tmp_path, keep_last=None) == []
    with pytest.raises(ValueError, match="keep_last"):
        prune_checkpoints(tmp_path, keep_last=0)


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "step-000000001.pt", {"step": 1, "w": torch.arange(3)})

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000000001.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_load_errors_are_one_clear_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt: checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="garbage.pt: unreadable checkpoint") as err:
        load_checkpoint(garbage)
    assert "\n" not in str(err.value)
    pickled = tmp_path / "pickled.pt"
    torch.save({"obj": _Opaque()}, pickled)  # arbitrary objects are refused by weights_only loading
    with pytest.raises(ValueError, match="pickled.pt: unreadable checkpoint"):
        load_checkpoint(pickled)


class _Opaque:
    pass


def test_prune_removes_temporaries_of_killed_saves(tmp_path):
    save_checkpoint(checkpoint_path(tmp_path, 1), {"step": 1})
    orphan = tmp_path / ".step-000000002.pt.abc123.tmp"
    orphan.write_bytes(b"partial")
    prune_checkpoints(tmp_path, keep_last=2)
    assert not orphan.exists() and [p.name for p in list_checkpoints(tmp_path)] == ["step-000000001.pt"]
