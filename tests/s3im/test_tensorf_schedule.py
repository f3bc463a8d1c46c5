"""TensoRF resolution schedule against the official formulas restated independently (numpy, float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s3im.models.tensorf.schedule import cal_n_samples, lr_scale, n_to_reso, voxel_schedule


@pytest.mark.parametrize(("n_init", "n_final", "n_up"), [(64**3, 128**3, 5), (2097156, 27000000, 5), (1000, 8000, 2)])
def test_voxel_schedule_is_the_geometric_progression_without_its_start(n_init, n_final, n_up):
    got = voxel_schedule(n_init, n_final, n_up)
    expected = np.exp(np.linspace(np.log(n_init), np.log(n_final), n_up + 1))[1:]
    assert len(got) == n_up
    # float32 exp / linspace as the official code: close to the float64 progression, rounded
    np.testing.assert_allclose(got, expected, rtol=3e-7 * math.log(n_final), atol=1.0)


def test_voxel_schedule_official_anchor_values():
    # torch.round(torch.exp(torch.linspace(log 64^3, log 128^3, 6))).long()[1:] in float32
    assert voxel_schedule(64**3, 128**3, 5) == [397336, 602249, 912838, 1383604, 2097151]


def test_n_to_reso_cube_and_box():
    cube = torch.tensor([[-1.5, -1.5, -1.5], [1.5, 1.5, 1.5]])
    assert n_to_reso(64**3, cube) == [64, 64, 64]
    assert n_to_reso(2097156, cube) == [128, 128, 128]
    box = torch.tensor([[0.0, 0.0, 0.0], [1.0, 2.0, 4.0]])
    reso = n_to_reso(8 * 1000, box)  # voxel (8 / 8000)^(1/3) = 0.1 -> about 10 x 20 x 40 (floor in float32)
    voxel = (8 / 8000) ** (1 / 3)
    assert all(abs(r - e / voxel) <= 1 for r, e in zip(reso, (1.0, 2.0, 4.0)))


def test_cal_n_samples_and_lr_scale():
    assert cal_n_samples([128, 128, 128], 0.5) == int(math.sqrt(3 * 128**2) / 0.5) == 443
    assert cal_n_samples([64, 80, 96], 0.5) == int(math.sqrt(64**2 + 80**2 + 96**2) * 2)
    assert lr_scale(1000, 30000, True) == 1.0
    assert lr_scale(1000, 30000, False) == pytest.approx(0.1 ** (1000 / 30000))
