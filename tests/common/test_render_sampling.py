from __future__ import annotations

import numpy as np
import pytest
import torch

from common.render import intervals_from_t, pdf_samples, points_from_t, stratified_samples


def test_stratified_midpoints():
    t = stratified_samples(torch.tensor([2.0, 0.0]), torch.tensor([6.0, 1.0]), 4)
    torch.testing.assert_close(t, torch.tensor([[2.5, 3.5, 4.5, 5.5], [0.125, 0.375, 0.625, 0.875]]))
    # a float bound is broadcast against a tensor one
    torch.testing.assert_close(stratified_samples(torch.tensor([2.0]), 6.0, 4), t[:1])


def test_stratified_perturbed_one_sample_per_bin_and_deterministic():
    near, far = torch.full((200,), 1.0), torch.full((200,), 3.0)
    t1 = stratified_samples(near, far, 8, perturb=True, generator=torch.Generator().manual_seed(0))
    t2 = stratified_samples(near, far, 8, perturb=True, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(t1, t2)
    edges = torch.linspace(1.0, 3.0, 9)
    assert bool(((t1 >= edges[:-1]) & (t1 < edges[1:])).all())
    # offsets inside a bin are U[0, 1): mean 0.5, variance 1/12
    u = (t1 - edges[:-1]) / 0.25
    assert abs(u.mean().item() - 0.5) < 0.03 and abs(u.var().item() - 1 / 12) < 0.01
    assert not torch.allclose(t1, stratified_samples(near, far, 8))


def test_intervals_from_t():
    t = torch.tensor([[2.5, 3.5, 4.5, 5.5]])
    torch.testing.assert_close(intervals_from_t(t, far=torch.tensor([6.0])), torch.tensor([[1.0, 1.0, 1.0, 0.5]]))
    torch.testing.assert_close(intervals_from_t(t, far=6.0), torch.tensor([[1.0, 1.0, 1.0, 0.5]]))
    torch.testing.assert_close(intervals_from_t(t), torch.tensor([[1.0, 1.0, 1.0, 1e10]]))


def test_points_from_t():
    o = torch.tensor([[1.0, 2.0, 3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0]])
    torch.testing.assert_close(
        points_from_t(o, d, torch.tensor([[0.0, 2.0]])), torch.tensor([[[1.0, 2, 3], [1, 2, 5]]])
    )


def nerf_sample_pdf_reference(bins: np.ndarray, weights: np.ndarray, u: np.ndarray, eps: float) -> np.ndarray:
    """Per-ray loop restating NeRF's sample_pdf for given u (row-wise)."""
    out = np.zeros_like(u)
    for r in range(bins.shape[0]):
        w = weights[r] + eps
        cdf = np.concatenate([[0.0], np.cumsum(w / w.sum())])
        for k, x in enumerate(u[r]):
            j = min(max(int(np.searchsorted(cdf, x, side="right")), 1), len(w)) - 1
            denom = cdf[j + 1] - cdf[j]
            denom = 1.0 if denom < eps else denom
            out[r, k] = bins[r, j] + min(max((x - cdf[j]) / denom, 0.0), 1.0) * (bins[r, j + 1] - bins[r, j])
    return out


def test_pdf_uniform_weights_give_uniform_quantiles():
    bins = torch.linspace(2.0, 6.0, 9, dtype=torch.float64).expand(3, 9)
    t = pdf_samples(bins, torch.ones(3, 8, dtype=torch.float64), 5, deterministic=True)
    torch.testing.assert_close(t, torch.linspace(2.0, 6.0, 5, dtype=torch.float64).expand(3, 5))


def test_pdf_matches_reference_loop_deterministic_and_random():
    g = torch.Generator().manual_seed(1)
    bins = torch.sort(torch.rand(4, 11, generator=g, dtype=torch.float64) * 5, dim=-1).values
    weights = torch.rand(4, 10, generator=g, dtype=torch.float64)
    weights[0, :] = 0.0
    weights[1, 3:] = 0.0
    t = pdf_samples(bins, weights, 16, deterministic=True)
    u = np.tile(np.linspace(0, 1, 16), (4, 1))
    np.testing.assert_allclose(t.numpy(), nerf_sample_pdf_reference(bins.numpy(), weights.numpy(), u, 1e-5), atol=1e-12)
    t_rand = pdf_samples(bins, weights, 16, generator=torch.Generator().manual_seed(7))
    u_rand = torch.sort(torch.rand(4, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64), -1).values
    ref = nerf_sample_pdf_reference(bins.numpy(), weights.numpy(), u_rand.numpy(), 1e-5)
    np.testing.assert_allclose(t_rand.numpy(), ref, atol=1e-12)
    assert bool((t_rand[:, 1:] >= t_rand[:, :-1]).all())
    assert bool((t_rand >= bins[:, :1]).all() and (t_rand <= bins[:, -1:]).all())


def test_pdf_samples_concentrate_on_weights():
    bins = torch.linspace(0.0, 1.0, 11).expand(64, 11)
    weights = torch.zeros(64, 10)
    weights[:, 3] = 0.7
    weights[:, 7] = 0.3
    t = pdf_samples(bins, weights, 100, generator=torch.Generator().manual_seed(2))
    in3 = ((t >= 0.3) & (t < 0.4)).float().mean().item()
    in7 = ((t >= 0.7) & (t < 0.8)).float().mean().item()
    # binomial over 6400 draws: standard error ~ 0.006
    assert in3 == pytest.approx(0.7, abs=0.03) and in7 == pytest.approx(0.3, abs=0.03)
    assert in3 + in7 > 0.99
    assert bool((t >= 0).all() and (t <= 1).all())
    # within the bin the density is uniform
    local = (t[(t >= 0.3) & (t < 0.4)] - 0.3) / 0.1
    assert abs(local.mean().item() - 0.5) < 0.03


def test_pdf_samples_no_gradient_and_shape_check():
    bins = torch.linspace(0, 1, 5).expand(2, 5).clone().requires_grad_(True)
    weights = torch.rand(2, 4, requires_grad=True)
    t = pdf_samples(bins, weights, 3, deterministic=True)
    assert not t.requires_grad
    with pytest.raises(ValueError, match="disagree"):
        pdf_samples(bins, torch.rand(2, 5), 3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_with_cpu_generator_match_cpu():
    near, far = torch.zeros(16), torch.ones(16)
    t_cpu = stratified_samples(near, far, 8, perturb=True, generator=torch.Generator().manual_seed(0))
    t_cuda = stratified_samples(near.cuda(), far.cuda(), 8, perturb=True, generator=torch.Generator().manual_seed(0))
    assert t_cuda.is_cuda
    torch.testing.assert_close(t_cuda.cpu(), t_cpu)
    bins = torch.linspace(0, 1, 9).expand(16, 9)
    weights = torch.rand(16, 8, generator=torch.Generator().manual_seed(1))
    s_cpu = pdf_samples(bins, weights, 12, generator=torch.Generator().manual_seed(2))
    s_cuda = pdf_samples(bins.cuda(), weights.cuda(), 12, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(s_cuda.cpu(), s_cpu)
