"""common.engine.allocator: freed large blocks are reused without new page faults (glibc)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from common.engine import allocator

# Allocates, touches and frees a 64 MiB tensor 11 times and prints the minor page faults of the last 7 (the
# heap grows in the first rounds).
PROBE = """
import json, resource, sys
import torch
from common.engine.allocator import retain_freed_memory
applied = retain_freed_memory({"NF_RETAIN_FREED_MEMORY": sys.argv[1]})
def once():
    x = torch.empty(16 * 1024 * 1024)
    x.fill_(1.0)
    del x
for _ in range(4):
    once()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(7):
    once()
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""


def run_probe(flag: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, flag], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc (mallopt)")
def test_retained_blocks_are_reused_without_page_faults():
    pages = 7 * 64 * 1024 * 1024 // 4096  # 114688 pages touched in the 7 measured rounds
    off, on = run_probe("0"), run_probe("1")
    assert not off["applied"] and on["applied"]
    assert off["faults"] > 0.5 * pages  # glibc maps each 64 MiB block afresh: a fault per page
    assert on["faults"] < 0.05 * pages  # the heap keeps the block: no new pages


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_switched_off_by_the_environment(value):
    assert allocator.retain_freed_memory({"NF_RETAIN_FREED_MEMORY": value}) is False
