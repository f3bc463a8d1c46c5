"""Import guards for libraries whose wheels disagree with a CPU-only torch.

PyPI ships torchvision 0.28 (the release that matches torch 2.13) only as a CUDA build; with the CPU
torch its C++ operators are missing and ``import torchvision`` (hence ``import timm``) fails with
``RuntimeError: operator torchvision::nms does not exist``. :func:`ensure_torchvision` declares the two
operator schemas torchvision checks at import time (``nms`` and ``qnms``), only when torch is a CPU build
and the operator is really missing, so a matching CUDA torch/torchvision pair is never touched. After it,
``torchvision.models``, ``transforms`` and all of ``timm`` work; ``torchvision.ops.nms`` itself does not
(nothing in this project uses it).

Usage::

    from common.compat import import_timm
    timm = import_timm()
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import torch

_LIBRARY = None  # keeps the torch.library.Library alive (its definitions vanish when it is collected)


def _op_missing() -> bool:
    try:
        torch.ops.torchvision.nms  # noqa: B018 - attribute access is the probe
    except (AttributeError, RuntimeError):
        return True
    return False


def ensure_torchvision() -> None:
    """Make ``import torchvision`` work on a CPU torch whose torchvision wheel lacks its operators."""
    global _LIBRARY
    if "torchvision" in sys.modules or torch.version.cuda is not None or _LIBRARY is not None:
        return
    if not _op_missing():
        return
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARY = lib


def import_timm() -> ModuleType:
    """``import timm`` after :func:`ensure_torchvision`."""
    ensure_torchvision()
    return importlib.import_module("timm")


def import_diffusers() -> ModuleType:
    """``import diffusers`` after :func:`ensure_torchvision` (diffusers imports torchvision when present)."""
    ensure_torchvision()
    return importlib.import_module("diffusers")
