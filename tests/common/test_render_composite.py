from __future__ import annotations

import torch

from common.render import (
    accumulate_along_rays,
    accumulated_opacity,
    composite,
    expected_depth,
    weights_from_alpha,
)


def ragged(n_rays: int, max_samples: int, channels: int, seed: int):
    """Batched tensors zero-padded beyond each ray's count, the packed equivalents and ray_indices."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, max_samples + 1, (n_rays,), generator=g)
    counts[0] = 0
    mask = torch.arange(max_samples)[None] < counts[:, None]
    alpha = torch.rand(n_rays, max_samples, generator=g, dtype=torch.float64) * mask
    values = torch.rand(n_rays, max_samples, channels, generator=g, dtype=torch.float64)
    t = torch.cumsum(torch.rand(n_rays, max_samples, generator=g, dtype=torch.float64), -1)
    return alpha, values, t, mask, mask.nonzero()[:, 0]


def test_worked_example():
    w, final = weights_from_alpha(torch.tensor([[0.5, 0.5, 0.5]]))
    rgb = torch.eye(3)[None]
    out = composite(w, rgb, final, background=torch.ones(3))
    torch.testing.assert_close(out, torch.tensor([[0.625, 0.375, 0.25]]))
    t = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(accumulated_opacity(w), torch.tensor([0.875]))
    torch.testing.assert_close(expected_depth(w, t), torch.tensor([1.375]))
    torch.testing.assert_close(expected_depth(w, t, normalize=True), torch.tensor([1.375 / 0.875]))
    # without final transmittance, 1 - sum(w) is used; without background nothing is added
    torch.testing.assert_close(composite(w, rgb, background=torch.ones(3)), out)
    torch.testing.assert_close(composite(w, rgb), torch.tensor([[0.5, 0.25, 0.125]]))


def test_against_brute_force_loops_packed_and_batched():
    alpha, values, t, mask, ri = ragged(7, 6, 4, seed=0)
    n = alpha.shape[0]
    bg = torch.rand(n, 4, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    w_b, final_b = weights_from_alpha(alpha)
    w_p, final_p = weights_from_alpha(alpha[mask], ri, n)
    ref_rgb = torch.zeros(n, 4, dtype=torch.float64)
    ref_depth = torch.zeros(n, dtype=torch.float64)
    ref_acc = torch.zeros(n, dtype=torch.float64)
    for r in range(n):
        T = 1.0
        for s in range(int(mask[r].sum())):
            w = T * alpha[r, s].item()
            ref_rgb[r] += w * values[r, s]
            ref_depth[r] += w * t[r, s]
            ref_acc[r] += w
            T *= 1 - alpha[r, s].item()
        ref_rgb[r] += T * bg[r]
    for kw, w, final, v, tt in (
        ({}, w_b, final_b, values, t),
        ({"ray_indices": ri, "n_rays": n}, w_p, final_p, values[mask], t[mask]),
    ):
        torch.testing.assert_close(composite(w, v, final, bg, **kw), ref_rgb)
        torch.testing.assert_close(composite(w, v, None, bg, **kw), ref_rgb)
        torch.testing.assert_close(accumulated_opacity(w, **kw), ref_acc)
        torch.testing.assert_close(expected_depth(w, tt, **kw), ref_depth)
        torch.testing.assert_close(
            expected_depth(w, tt, normalize=True, **kw), ref_depth / ref_acc.clamp_min(1e-10), rtol=1e-9, atol=1e-9
        )
        torch.testing.assert_close(accumulate_along_rays(w, None, **kw), ref_acc[:, None])
    # the empty ray shows the background only
    torch.testing.assert_close(composite(w_p, values[mask], final_p, bg, ri, n)[0], bg[0])


def test_packed_infers_n_rays_and_scalar_background():
    w = torch.tensor([0.5, 0.25, 0.3])
    ri = torch.tensor([0, 0, 1])
    out = accumulate_along_rays(w, torch.ones(3, 2), ri)
    torch.testing.assert_close(out, torch.tensor([[0.75, 0.75], [0.3, 0.3]]))
    torch.testing.assert_close(
        composite(w, torch.zeros(3, 1), background=1.0, ray_indices=ri), torch.tensor([[0.25], [0.7]])
    )


def test_gradcheck_composite_and_depth():
    alpha, values, t, mask, ri = ragged(4, 3, 2, seed=1)
    n = alpha.shape[0]
    hit = mask.any(-1)  # normalised depth is differentiable only where the opacity is > 0
    bg = torch.rand(2, dtype=torch.float64, requires_grad=True)
    a_p = alpha[mask].clone().requires_grad_(True)
    v_p = values[mask].clone().requires_grad_(True)
    t_p = t[mask].clone().requires_grad_(True)

    def packed(a, v, tt, b):
        w, final = weights_from_alpha(a, ri, n)
        return composite(w, v, final, b, ri, n), expected_depth(w, tt, ri, n), expected_depth(w, tt, ri, n, True)[hit]

    assert torch.autograd.gradcheck(packed, (a_p, v_p, t_p, bg))
    a_b = alpha.clone().requires_grad_(True)
    v_b = values.clone().requires_grad_(True)
    t_b = t.clone().requires_grad_(True)

    def batched(a, v, tt, b):
        w, final = weights_from_alpha(a)
        return composite(w, v, final, b), expected_depth(w, tt), expected_depth(w, tt, normalize=True)[hit]

    assert torch.autograd.gradcheck(batched, (a_b, v_b, t_b, bg))
