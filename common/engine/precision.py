"""Mixed precision of a model's networks: the ``precision`` config value and its autocast context.

Values:
- ``fp32``: no autocast.
- ``bf16``: bfloat16 autocast around the network calls. Matmuls and their gradients run in bf16;
  the weights, the Adam state, the compositing and the losses stay fp32 (the autocast contract).
- ``auto``: ``bf16`` where the device multiplies bf16 natively, ``fp32`` elsewhere. Native means a
  CUDA GPU with bf16 support (compute capability >= 8.0), or a CPU with AMX-BF16 or AVX512-BF16. On
  other CPUs bf16 is emulated and slower than fp32.

Measured on a 2-core Xeon with AMX (``benchmarks/bench_nerf.py``):
- the vanilla-NeRF 8 x 256 step runs 3.5x faster in bf16 than in fp32;
- a quick Table 3 NeRF run reaches the same test PSNR per step in both (``s3im/models/nerf``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware (see the module doc)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
        return bool(caps.get("amx_bf16") or caps.get("avx512_bf16"))
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """ "fp32" or "bf16": what ``precision`` (one of ``PRECISIONS``) means on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device | str) -> AbstractContextManager:
    """The autocast context of ``precision`` on ``device`` (a no-op context for fp32)."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
