"""Shared fixtures: a tiny JacobiNeRF and a ray batch (no data set needed)."""

from __future__ import annotations

import pytest
from jnerf_fixtures import tiny_model, tiny_rays

from jacobinerf.model import ShapedNeRF


@pytest.fixture
def model() -> ShapedNeRF:
    return tiny_model()


@pytest.fixture
def rays() -> dict:
    return tiny_rays()


@pytest.fixture(autouse=True)
def _no_wandb(monkeypatch):
    """Runs in the tests track locally only (wandb disabled)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
