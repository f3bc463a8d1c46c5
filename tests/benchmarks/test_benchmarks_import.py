"""Every benchmark script imports (its helpers live in the packages it measures) and has a ``main``.

The benchmarks are run by hand, not in CI, so a renamed helper in a model package would otherwise only show up
when someone next runs the benchmark.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))


def test_benchmark_scripts_found():
    assert len(SCRIPTS) >= 5, f"benchmark scripts not found under {BENCHMARKS}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_imports_and_has_main(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert callable(getattr(module, "main", None)), f"benchmarks/{name}.py has no main()"
