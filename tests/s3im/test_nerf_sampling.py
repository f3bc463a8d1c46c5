"""NeRF sample placement and compositing against closed forms and per-ray loops."""

from __future__ import annotations

import math

import pytest
import torch

from common.render.sampling import stratified_samples
from s3im.models.nerf.sampling import coarse_t, fine_t, render_samples


def test_linspace_samples_include_near_and_far():
    t = coarse_t(torch.tensor([2.0, 1.0]), torch.tensor([6.0, 3.0]), 5, perturb=False)
    torch.testing.assert_close(t, torch.tensor([[2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 1.5, 2.0, 2.5, 3.0]]))


def test_perturbed_linspace_samples_stay_in_their_intervals():
    torch.manual_seed(0)
    near, far = torch.rand(50) + 0.5, torch.rand(50) + 3.0
    z = coarse_t(near, far, 9, perturb=False)
    t = coarse_t(near, far, 9, perturb=True)
    mids = 0.5 * (z[:, 1:] + z[:, :-1])
    lower, upper = torch.cat([z[:, :1], mids], 1), torch.cat([mids, z[:, -1:]], 1)
    assert bool(((t >= lower) & (t <= upper)).all())
    assert bool((t[:, 1:] >= t[:, :-1]).all())
    assert not torch.equal(t, z)
    # each sample is uniform in its interval: the mean offset over many rays is about one half
    frac = ((t - lower) / (upper - lower))[:, 1:-1]
    assert abs(float(frac.mean()) - 0.5) < 0.05


def test_bins_scheme_is_the_common_stratified_sampler():
    near, far = torch.tensor([2.0]), torch.tensor([6.0])
    torch.testing.assert_close(coarse_t(near, far, 4, False, "bins"), stratified_samples(near, far, 4))
    with pytest.raises(ValueError, match="coarse_sampling"):
        coarse_t(near, far, 4, False, "log")


def test_fine_samples_are_sorted_inside_the_coarse_range_and_follow_the_weights():
    torch.manual_seed(1)
    near, far = torch.full((20,), 2.0), torch.full((20,), 6.0)
    t_c = coarse_t(near, far, 17, perturb=True)
    w = torch.zeros(20, 17)
    w[:, 8] = 1.0  # all weight on one coarse sample: its bin is [mid_7, mid_8]
    w.requires_grad_(True)
    for det in (True, False):
        t_f = fine_t(t_c, w, 32, deterministic=det)
        assert t_f.shape == (20, 32) and not t_f.requires_grad
        assert bool((t_f[:, 1:] >= t_f[:, :-1]).all())
        assert bool((t_f >= near[:, None]).all() and (t_f <= far[:, None]).all())
        mids = 0.5 * (t_c[:, 1:] + t_c[:, :-1])
        inside = (t_f >= mids[:, 7:8] - 1e-6) & (t_f <= mids[:, 8:9] + 1e-6)
        assert float(inside.float().mean()) > 0.9  # eps 1e-5 per bin leaves almost nothing elsewhere


def _loop_composite(rgb, sigma, t, background):
    """One ray at a time, one sample at a time: T_i = prod_{j<i} (1 - alpha_j)."""
    out, accs, depths = [], [], []
    for r in range(t.shape[0]):
        trans, col, acc, depth = 1.0, torch.zeros(3, dtype=rgb.dtype), 0.0, 0.0
        for i in range(t.shape[1]):
            delta = float(t[r, i + 1] - t[r, i]) if i + 1 < t.shape[1] else 1e10
            alpha = 1.0 - math.exp(-max(float(sigma[r, i]), 0.0) * delta)
            w = trans * alpha
            col = col + w * rgb[r, i]
            acc += w
            depth += w * float(t[r, i])
            trans *= 1.0 - alpha
        if background is not None:
            col = col + (1.0 - acc) * background
        out.append(col)
        accs.append(acc)
        depths.append(depth)
    return torch.stack(out), torch.tensor(accs, dtype=rgb.dtype), torch.tensor(depths, dtype=rgb.dtype)


@pytest.mark.parametrize("background", [None, 1.0])
def test_render_samples_equals_a_per_ray_loop(background):
    torch.manual_seed(2)
    t = torch.sort(torch.rand(6, 10, dtype=torch.float64) * 4 + 2, -1).values
    rgb = torch.rand(6, 10, 3, dtype=torch.float64)
    sigma = torch.randn(6, 10, dtype=torch.float64)
    sigma[0] = -1.0  # an empty ray: everything is background
    out = render_samples(rgb, sigma, t, 0.0, background)
    ref_rgb, ref_acc, ref_depth = _loop_composite(rgb, sigma, t, background)
    torch.testing.assert_close(out["rgb"], ref_rgb)
    torch.testing.assert_close(out["acc"], ref_acc)
    torch.testing.assert_close(out["depth"], ref_depth)
    expected_empty = (
        torch.ones(3, dtype=torch.float64) if background is not None else torch.zeros(3, dtype=torch.float64)
    )
    torch.testing.assert_close(out["rgb"][0], expected_empty)


def test_raw_noise_is_added_to_the_density_before_the_relu():
    torch.manual_seed(3)
    t = torch.sort(torch.rand(4, 8) * 4 + 2, -1).values
    rgb, sigma = torch.rand(4, 8, 3), torch.randn(4, 8)
    torch.manual_seed(7)
    noisy = render_samples(rgb, sigma, t, raw_noise_std=1.0, background=1.0)["rgb"]
    torch.manual_seed(7)
    noise = torch.randn(4, 8)
    torch.testing.assert_close(noisy, render_samples(rgb, sigma + noise, t, 0.0, 1.0)["rgb"])
    assert not torch.allclose(noisy, render_samples(rgb, sigma, t, 0.0, 1.0)["rgb"])
