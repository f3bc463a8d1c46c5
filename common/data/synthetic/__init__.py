"""Procedural scenes written to disk in the real data formats (the project's embedded default).

`KINDS` maps a kind name to a `Kind`: its generator ``generate(out, scenes=, res=, seed=, frames=) -> [scene dirs]``,
the loader format that reads it, and defaults. Other modules add kinds with `register`; the CLI
(``python -m common.data.synthetic``) and the cache (`ensure_dataset`) take every registered kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GENERATOR_VERSION = 2


@dataclass(frozen=True)
class Kind:
    """generate(out: Path, scenes: int, res: int, seed: int, frames: int) -> list[Path] (scene directories);
    format: the `common.data.FORMATS` key that loads each scene directory."""

    generate: Callable[..., list[Path]]
    format: str
    scenes: int
    res: int
    frames: int
    description: str


KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    KINDS[name] = kind


def _register_builtin() -> None:
    from common.data.synthetic.object_kinds import register_object_kinds
    from common.data.synthetic.write_replica import (
        write_replica_monosdf,
        write_replica_nice_slam,
        write_replica_semantic_nerf,
    )
    from common.data.synthetic.write_scannet import write_scannet
    from common.data.synthetic.write_tnt import write_tnt_nsvf

    register(
        "replica_monosdf",
        Kind(write_replica_monosdf, "replica_monosdf", 8, 128, 100, "Replica-like rooms, MonoSDF scan1..scan8 layout"),
    )
    register(
        "replica_semantic_nerf",
        Kind(
            write_replica_semantic_nerf,
            "replica_semantic_nerf",
            7,
            160,
            300,
            "Replica-like rooms, Semantic-NeRF layout with labels",
        ),
    )
    register(
        "replica_nice_slam",
        Kind(write_replica_nice_slam, "replica_nice_slam", 8, 160, 200, "Replica-like rooms, NICE-SLAM layout"),
    )
    register("scannet", Kind(write_scannet, "scannet", 4, 162, 100, "ScanNet-like rooms, raw export layout"))
    register("tnt_nsvf", Kind(write_tnt_nsvf, "tnt_nsvf", 5, 160, 100, "object-centric scenes, NSVF T&T layout"))
    register_object_kinds()


_register_builtin()

from common.data.synthetic.cache import ensure_dataset, is_synthetic  # noqa: E402

__all__ = ["GENERATOR_VERSION", "KINDS", "Kind", "ensure_dataset", "is_synthetic", "register"]
