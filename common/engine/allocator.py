"""CPU allocator setting of the training processes: freed large blocks stay in the heap for reuse.

A CPU training step allocates and frees many tensors of tens to hundreds of MiB (per-sample features,
MLP activations and their gradients). glibc serves every block above its mmap threshold (at most
32 MiB) with a fresh ``mmap`` and returns it with ``munmap`` on free, so each step pays a page fault
and the kernel's zeroing for every 4 KiB page of those blocks again: on the 2-core CPU of
``../shared/notes/environment.md`` a process running four TensoRF steps of the dense phase spent 25 % of its
CPU time in the kernel (2.66 M minor page faults).

``retain_freed_memory`` sets ``M_MMAP_MAX = 0`` (large blocks come from the heap too) and a trim
threshold of 2 GiB - 1 (the largest ``mallopt`` takes: free memory at the heap's top is returned to the
system only beyond it), the effect of ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647`` set from
inside the process. Measured on that process: system time 9.9 s ->
2.9 s, minor faults 2.66 M -> 0.72 M, user time unchanged (29.8 s), peak RSS 2.1 -> 3.0 GB (the heap keeps its
high-water mark). The training command line calls it for CPU runs; ``NF_RETAIN_FREED_MEMORY=0`` turns
it off. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD = 2**31 - 1  # mallopt's value is a C int


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def retain_freed_memory(environ: dict | None = None) -> bool:
    """Keep freed large blocks in the heap (see the module doc). True when the setting was applied;
    False without glibc or when ``NF_RETAIN_FREED_MEMORY`` is 0 / false / no / off."""
    env = os.environ if environ is None else environ
    if str(env.get("NF_RETAIN_FREED_MEMORY", "1")).strip().lower() in ("0", "false", "no", "off"):
        return False
    libc = _glibc()
    if libc is None:
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    ok_mmap = libc.mallopt(M_MMAP_MAX, 0) == 1
    ok_trim = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return ok_mmap and ok_trim
