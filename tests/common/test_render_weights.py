from __future__ import annotations

import math

import pytest
import torch

from common.render import (
    alpha_from_density,
    pack_info,
    transmittance_from_alpha,
    weights_from_alpha,
    weights_from_density,
    weights_from_optical_depth,
)


def brute_force(alpha: list[list[float]]) -> tuple[list[list[float]], list[list[float]], list[float]]:
    """Per ray: exclusive transmittances, weights and final transmittance by explicit loops."""
    trans, weights, final = [], [], []
    for ray in alpha:
        T, t_ray, w_ray = 1.0, [], []
        for a in ray:
            t_ray.append(T)
            w_ray.append(T * a)
            T *= 1.0 - a
        trans.append(t_ray)
        weights.append(w_ray)
        final.append(T)
    return trans, weights, final


def random_packed(n_rays: int, max_samples: int, seed: int, dtype=torch.float64):
    """Batched alpha [R, S] zero-padded beyond each ray's sample count, plus the packed equivalent."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, max_samples + 1, (n_rays,), generator=g)
    counts[0] = 0  # at least one empty ray
    counts[1] = max_samples
    alpha = torch.rand(n_rays, max_samples, generator=g, dtype=dtype)
    alpha[alpha > 0.9] = 1.0  # fully opaque samples
    alpha[alpha < 0.1] = 0.0
    mask = torch.arange(max_samples)[None] < counts[:, None]
    alpha = torch.where(mask, alpha, torch.zeros_like(alpha))
    ray_indices = mask.nonzero()[:, 0]
    return alpha, mask, alpha[mask], ray_indices


def test_worked_example_both_layouts():
    alpha = torch.tensor([[0.5, 0.5, 0.5]])
    w, final = weights_from_alpha(alpha)
    torch.testing.assert_close(w, torch.tensor([[0.5, 0.25, 0.125]]))
    torch.testing.assert_close(final, torch.tensor([0.125]))
    w_p, final_p = weights_from_alpha(alpha[0], torch.zeros(3, dtype=torch.long), 1)
    torch.testing.assert_close(w_p, torch.tensor([0.5, 0.25, 0.125]))
    torch.testing.assert_close(final_p, torch.tensor([0.125]))


def test_hand_computed_packed_transmittance():
    # ray 0: alphas 0.4, 0.8, 0.8, 0.8; ray 1: none; ray 2: 1.0 then 0.5; ray 3: 0.1
    alpha = torch.tensor([0.4, 0.8, 0.8, 0.8, 1.0, 0.5, 0.1])
    ri = torch.tensor([0, 0, 0, 0, 2, 2, 3])
    T = transmittance_from_alpha(alpha, ri, 4)
    torch.testing.assert_close(T, torch.tensor([1.0, 0.6, 0.12, 0.024, 1.0, 0.0, 1.0]))
    w, final = weights_from_alpha(alpha, ri, 4)
    torch.testing.assert_close(w, torch.tensor([0.4, 0.48, 0.096, 0.0192, 1.0, 0.0, 0.1]))
    torch.testing.assert_close(final, torch.tensor([0.0048, 1.0, 0.0, 0.9]))


def test_against_brute_force_loops():
    alpha, mask, packed, ri = random_packed(9, 13, seed=0)
    rays = [alpha[r, : int(mask[r].sum())].tolist() for r in range(alpha.shape[0])]
    T_ref, w_ref, final_ref = brute_force(rays)
    w, final = weights_from_alpha(packed, ri, alpha.shape[0])
    T = transmittance_from_alpha(packed, ri, alpha.shape[0])
    flat = lambda lists: torch.tensor([x for ray in lists for x in ray], dtype=torch.float64)  # noqa: E731
    torch.testing.assert_close(T, flat(T_ref))
    torch.testing.assert_close(w, flat(w_ref))
    torch.testing.assert_close(final, torch.tensor(final_ref, dtype=torch.float64))
    # batched layout on full rows
    T_ref, w_ref, final_ref = brute_force(alpha.tolist())
    w_b, final_b = weights_from_alpha(alpha)
    torch.testing.assert_close(transmittance_from_alpha(alpha), torch.tensor(T_ref, dtype=torch.float64))
    torch.testing.assert_close(w_b, torch.tensor(w_ref, dtype=torch.float64))
    torch.testing.assert_close(final_b, torch.tensor(final_ref, dtype=torch.float64))


@pytest.mark.parametrize("max_samples", [1, 7, 300])
def test_packed_equals_batched_and_partition_of_unity(max_samples):
    alpha, mask, packed, ri = random_packed(17, max_samples, seed=max_samples, dtype=torch.float32)
    w_b, final_b = weights_from_alpha(alpha)
    w_p, final_p = weights_from_alpha(packed, ri, alpha.shape[0])
    torch.testing.assert_close(w_p, w_b[mask])
    assert bool((w_b[~mask] == 0).all())
    torch.testing.assert_close(final_p, final_b)
    assert final_p[0].item() == 1.0  # ray without samples
    torch.testing.assert_close(w_b.sum(-1) + final_b, torch.ones(17))
    sums = torch.zeros(17).index_add(0, ri, w_p)
    torch.testing.assert_close(sums + final_p, torch.ones(17))


def test_long_segments_match_float64_cumprod():
    # Many scan steps (segments up to 3000 samples) and float32 accuracy.
    g = torch.Generator().manual_seed(3)
    counts = torch.tensor([3000, 1, 0, 2047, 2048, 2049])
    ri = torch.repeat_interleave(torch.arange(6), counts)
    alpha = torch.rand(ri.numel(), generator=g) * 0.01
    T = transmittance_from_alpha(alpha, ri, 6)
    starts = torch.cumsum(counts, 0) - counts
    for r in range(6):
        seg = alpha[starts[r] : starts[r] + counts[r]].double()
        ref = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - seg, 0)[:-1]]) if counts[r] else seg
        torch.testing.assert_close(T[starts[r] : starts[r] + counts[r]].double(), ref, rtol=1e-5, atol=1e-7)


def test_weights_from_density():
    sigma = torch.full((1, 3), math.log(2.0))
    w, final, alpha = weights_from_density(sigma, torch.ones(1, 3))
    torch.testing.assert_close(alpha, torch.full((1, 3), 0.5))
    torch.testing.assert_close(w, torch.tensor([[0.5, 0.25, 0.125]]))
    torch.testing.assert_close(final, torch.tensor([0.125]))
    g = torch.Generator().manual_seed(4)
    sigma = torch.rand(5, 8, generator=g, dtype=torch.float64) * 3
    deltas = torch.rand(5, 8, generator=g, dtype=torch.float64)
    w, final, alpha = weights_from_density(sigma, deltas)
    # T_i = exp(-sum_{j<i} sigma_j delta_j)
    excl = torch.cumsum(sigma * deltas, -1) - sigma * deltas
    torch.testing.assert_close(w, torch.exp(-excl) * (1 - torch.exp(-sigma * deltas)))
    torch.testing.assert_close(final, torch.exp(-(sigma * deltas).sum(-1)))
    ri = torch.arange(5).repeat_interleave(8)
    w_p, final_p, alpha_p = weights_from_density(sigma.reshape(-1), deltas.reshape(-1), ri, 5)
    torch.testing.assert_close(w_p, w.reshape(-1))
    torch.testing.assert_close(final_p, final)
    # the 1e10 last interval makes the last sample opaque
    _, final_inf, alpha_inf = weights_from_density(torch.ones(1, 2), torch.tensor([[1.0, 1e10]]))
    assert alpha_inf[0, 1].item() == 1.0 and final_inf.item() == 0.0


def test_alpha_from_density_values():
    torch.testing.assert_close(
        alpha_from_density(torch.tensor([1.0, math.log(2.0), 0.0]), torch.tensor([0.0, 1.0, 5.0])),
        torch.tensor([0.0, 0.5, 0.0]),
    )


def test_gradcheck_both_layouts_with_opaque_samples():
    alpha, mask, _, ri = random_packed(5, 4, seed=5)
    alpha[1, 1] = 1.0  # ray 1 has all 4 samples; the second is opaque
    alpha[2, : int(mask[2].sum())] = 0.0  # a fully transparent ray
    alpha[3, -2:] = torch.where(mask[3, -2:], 0.0, alpha[3, -2:])  # transparent tail (equal transmittances)
    packed = alpha[mask].clone().requires_grad_(True)
    alpha = alpha.clone().requires_grad_(True)

    def batched(a):
        w, final = weights_from_alpha(a)
        return w, final

    def packed_fn(a):
        return weights_from_alpha(a, ri, 5)

    assert torch.autograd.gradcheck(batched, (alpha,))
    assert torch.autograd.gradcheck(packed_fn, (packed,))
    assert torch.autograd.gradcheck(lambda a: transmittance_from_alpha(a, ri, 5), (packed,))
    # gradient through an opaque sample is exact: d T_2 / d alpha_0 with alpha_0 = 1 is -(1 - alpha_1)
    a = torch.tensor([1.0, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    T = transmittance_from_alpha(a, torch.zeros(3, dtype=torch.long), 1)
    (g,) = torch.autograd.grad(T[2], a)
    torch.testing.assert_close(g, torch.tensor([-0.75, 0.0, 0.0], dtype=torch.float64))


def test_pack_info_and_errors():
    starts, counts, pos = pack_info(torch.tensor([0, 0, 2]), 3)
    assert starts.tolist() == [0, 2, 2] and counts.tolist() == [2, 0, 1] and pos.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="sorted"):
        weights_from_alpha(torch.rand(3), torch.tensor([1, 0, 1]), 2)
    with pytest.raises(ValueError, match="n_rays"):
        weights_from_alpha(torch.rand(3), torch.tensor([0, 1, 2]), 2)
    w, final = weights_from_alpha(torch.zeros(0), torch.zeros(0, dtype=torch.long), 3)
    assert w.shape == (0,) and final.tolist() == [1.0, 1.0, 1.0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    alpha, mask, packed, ri = random_packed(33, 40, seed=6, dtype=torch.float32)
    w_cpu, final_cpu = weights_from_alpha(packed, ri, 33)
    packed_cuda = packed.cuda().requires_grad_(True)
    w_cuda, final_cuda = weights_from_alpha(packed_cuda, ri.cuda(), 33)
    torch.testing.assert_close(w_cuda.cpu(), w_cpu)
    torch.testing.assert_close(final_cuda.cpu(), final_cpu)
    (w_cuda.sum() + final_cuda.sum()).backward()
    assert packed_cuda.grad.abs().max().item() < 1e-4  # sum of weights + final T is 1 for every ray
    w_b, final_b = weights_from_alpha(alpha.cuda())
    torch.testing.assert_close(w_b[mask.cuda()], w_cuda.detach())


def _early_stop_loop(alpha_rows, eps):
    """DVGO's Alphas2Weights loop: w = T a; T *= 1 - a; stop once T < eps."""
    weights, finals = [], []
    for row in alpha_rows:
        t, w = 1.0, [0.0] * len(row)
        for i, a in enumerate(row):
            w[i] = t * a
            t *= 1 - a
            if t < eps:
                break
        weights.append(w)
        finals.append(t)
    return weights, finals


def test_early_ray_termination_matches_the_loop_in_both_layouts():
    gen = torch.Generator().manual_seed(0)
    counts = [5, 0, 3, 7, 1]
    rows = [torch.rand(c, generator=gen, dtype=torch.float64) * 0.9 for c in counts]
    rows[3][1] = 0.999  # this ray stops at its second sample
    ref_w, ref_t = _early_stop_loop([r.tolist() for r in rows], 0.05)
    alpha = torch.cat(rows)
    ray_indices = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    w, t = weights_from_alpha(alpha, ray_indices, len(counts), stop_transmittance=0.05)
    torch.testing.assert_close(w, torch.tensor([x for r in ref_w for x in r], dtype=torch.float64))
    torch.testing.assert_close(t, torch.tensor(ref_t, dtype=torch.float64))
    scattered = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, ray_indices, w)
    torch.testing.assert_close(scattered + t, torch.ones(len(counts), dtype=torch.float64))
    batched = torch.tensor([[0.9, 0.9, 0.9, 0.9], [0.1, 0.1, 0.1, 0.1]], dtype=torch.float64)
    wb, tb = weights_from_alpha(batched, stop_transmittance=0.05)
    ref_wb, ref_tb = _early_stop_loop(batched.tolist(), 0.05)
    torch.testing.assert_close(wb, torch.tensor(ref_wb, dtype=torch.float64))
    torch.testing.assert_close(tb, torch.tensor(ref_tb, dtype=torch.float64))


def test_early_ray_termination_gradcheck():
    # ray 0 stops at its second sample; ray 1 has zero alphas (equal transmittances) and does not stop
    alpha = torch.tensor([0.3, 0.95, 0.5, 0.2, 0.0, 0.4, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    ray_indices = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])

    def fn(a):
        w, t = weights_from_alpha(a, ray_indices, 2, stop_transmittance=0.1)
        return w, t

    def batched(a):
        return weights_from_alpha(a.reshape(2, 4), stop_transmittance=0.1)

    assert torch.autograd.gradcheck(fn, (alpha,))
    assert torch.autograd.gradcheck(batched, (alpha,))


@pytest.mark.parametrize("stop_transmittance", [None, 1e-3])
def test_final_transmittance_gradient_with_transparent_tail(stop_transmittance):
    # T_final = prod(1 - alpha) = 0.35, d T_final / d alpha_i = -prod_{j != i} (1 - alpha_j); samples with
    # alpha = 0 share T with their predecessor, and each still gets the full derivative.
    expected = torch.tensor([-0.7, -0.5, -0.35, -0.35], dtype=torch.float64)
    for packed in (True, False):
        alpha = torch.tensor([0.5, 0.3, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
        if packed:
            _, final = weights_from_alpha(alpha, torch.zeros(4, dtype=torch.long), 1, stop_transmittance)
        else:
            _, final = weights_from_alpha(alpha[None], stop_transmittance=stop_transmittance)
        torch.testing.assert_close(final, torch.tensor([0.35], dtype=torch.float64))
        (grad,) = torch.autograd.grad(final.sum(), alpha)
        torch.testing.assert_close(grad, expected)


def segment_first_index(ray_indices):
    """Index of the first sample of each sample's ray (the segment start the exclusive sums subtract)."""
    n = int(ray_indices.max()) + 1 if ray_indices.numel() else 0
    return pack_info(ray_indices, n)[0][ray_indices]


def test_segment_first_index_examples():
    assert segment_first_index(torch.tensor([0, 0, 2, 2, 2])).tolist() == [0, 0, 2, 2, 2]
    assert segment_first_index(torch.tensor([1, 3, 3])).tolist() == [0, 1, 1]
    assert segment_first_index(torch.zeros(0, dtype=torch.long)).numel() == 0


def reference_weights(tau, ray_indices, n_rays, eps):
    """Per-ray loop: T *= (1 - alpha) sample by sample, stopping after T drops below eps."""
    w, final = torch.zeros_like(tau), torch.ones(n_rays, dtype=tau.dtype)
    for r in range(n_rays):
        trans = 1.0
        for i in torch.nonzero(ray_indices == r).squeeze(1).tolist():
            if trans < eps:
                break
            alpha = 1 - torch.exp(-tau[i])
            w[i] = trans * alpha
            trans = trans * (1 - alpha)
        final[r] = trans
    return w, final


def test_weights_from_optical_depth_equals_sequential_loop_and_gradients_of_alpha_form():
    g = torch.Generator().manual_seed(3)
    counts = torch.tensor([0, 5, 1, 12, 0, 7])
    ray_indices = torch.repeat_interleave(torch.arange(6), counts)
    tau = (torch.rand(len(ray_indices), generator=g, dtype=torch.float64) * 1.5).requires_grad_(True)
    tau.data[3] = 0.0  # alpha exactly 0
    tau.data[10] = 60.0  # alpha == 1 in float64: everything behind it gets weight 0
    for eps in (None, 1e-3):
        w, final, alpha = weights_from_optical_depth(tau, ray_indices, 6, eps)
        w_ref, final_ref = reference_weights(tau.detach(), ray_indices, 6, -1.0 if eps is None else eps)
        torch.testing.assert_close(w.detach(), w_ref)
        torch.testing.assert_close(final.detach(), final_ref)
        torch.testing.assert_close(alpha.detach(), -torch.expm1(-tau.detach()))
        sums = torch.zeros(6, dtype=torch.float64).index_add(0, ray_indices, w.detach())
        torch.testing.assert_close(sums + final.detach(), torch.ones(6, dtype=torch.float64))
    # gradient of a loss through weights and final T against the product form on alpha (autograd)
    coef = torch.rand(len(tau), generator=g, dtype=torch.float64)
    w, final, _ = weights_from_optical_depth(tau, ray_indices, 6, None)
    (grad,) = torch.autograd.grad((w * coef).sum() + final.pow(2).sum(), tau)
    tau2 = tau.detach().clone().requires_grad_(True)
    keep = torch.exp(-tau2)
    w2, fin2 = [], torch.ones(6, dtype=torch.float64)
    for r in range(6):
        idx = torch.nonzero(ray_indices == r).squeeze(1)
        if len(idx) == 0:
            continue
        cp = torch.cumprod(keep[idx], 0)
        trans = torch.cat([torch.ones(1, dtype=torch.float64), cp[:-1]])
        w2.append(trans * (1 - keep[idx]))
        fin2 = fin2.index_put((torch.tensor([r]),), cp[-1:])
    (grad2,) = torch.autograd.grad((torch.cat(w2) * coef).sum() + fin2.pow(2).sum(), tau2)
    torch.testing.assert_close(grad, grad2)
