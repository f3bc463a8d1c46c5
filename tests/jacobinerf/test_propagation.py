"""Propagation: in-place perturbation is undone bit for bit, cached re-rendering equals a full re-render,
responses against a first-order reference, post-processing, adaptive selection and the aggregator."""

from __future__ import annotations

import numpy as np
import torch
from jnerf_fixtures import tiny_model, tiny_rays

from jacobinerf.propagation import (
    adaptive_selection,
    cache_rays,
    miou_seen,
    perturbed,
    postprocess,
    recolour,
    render_cached,
    responses,
    select_entity,
    sparse_clicks,
    train_aggregator,
    view_jacobians,
)


def test_perturb_and_undo_bit_identical(model, rays):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cache = cache_rays(model, rays)
    jac = view_jacobians(cache)
    for t in (0.1, 1e-3, 7.3):
        responses(model.rgb_layer, cache, t * jac[:3])
    with perturbed(model.rgb_layer, torch.randn(3, 8, dtype=torch.float64) * 0.37):
        assert not torch.equal(model.rgb_layer.weight, before["fields.fine.rgb_linear.weight"])
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # bit-identical, not merely close


def test_undo_even_after_exception(model):
    before = model.rgb_layer.weight.clone()
    try:
        with perturbed(model.rgb_layer, torch.ones(3, 8, dtype=torch.float64)):
            raise RuntimeError("probe failed")
    except RuntimeError:
        pass
    assert torch.equal(model.rgb_layer.weight, before)


def test_cached_rerender_equals_full_render(model, rays):
    cache = cache_rays(model, rays, chunk=3)
    torch.testing.assert_close(render_cached(cache, model.rgb_layer)[0], cache.rgb)
    delta = 0.3 * view_jacobians(cache)[2]
    with perturbed(model.rgb_layer, delta):
        full = model.render_rays(rays)["rgb"]
        cached = render_cached(cache, model.rgb_layer)[0]
    torch.testing.assert_close(cached, full, atol=1e-12, rtol=0)


def test_response_first_order(model, rays):
    """For a small step t J_i, the grey value of ray j changes by t <J_j, J_i> (Taylor expansion)."""
    cache = cache_rays(model, rays)
    jac = view_jacobians(cache)  # [R, 3, C]
    t = 1e-6
    base, _ = render_cached(cache, model.rgb_layer)
    with perturbed(model.rgb_layer, t * jac[0]):
        moved, _ = render_cached(cache, model.rgb_layer)
    grey_change = (moved - base).mean(-1) / t
    expected = (jac * jac[0]).sum((1, 2))  # dg_j = <J_j, delta> / t
    torch.testing.assert_close(grey_change, expected, rtol=1e-4, atol=1e-9)


def test_postprocess_matches_manual():
    maps = torch.zeros(2, 4, 5, dtype=torch.float64)
    maps[0, 1, 2] = 2.0  # clipped to 0.8
    maps[1] = 1e-4  # flat and weak: zeroed
    out = postprocess(maps)
    k = np.outer([0.25, 0.5, 0.25], [0.25, 0.5, 0.25])
    padded = np.pad(np.minimum(maps[0].numpy(), 0.8), 1, mode="reflect")
    ref = np.array([[(padded[i : i + 3, j : j + 3] * k).sum() for j in range(5)] for i in range(4)])
    np.testing.assert_allclose(out[0].numpy(), ref / ref.max(), atol=1e-12)
    assert float(out[1].abs().max()) == 0.0


def test_sparse_clicks_and_miou():
    labels = np.array([[0, 0, 1], [2, 2, -1]])
    clicks = sparse_clicks(labels, [0, 1, 2], np.random.default_rng(0))
    assert [labels.reshape(-1)[c] for c in clicks] == [0, 1, 2]
    assert miou_seen(labels.copy(), labels, [0, 1, 2]) == 1.0
    pred = np.array([[0, 1, 1], [2, 2, 5]])
    # class 0: I 1 U 2; class 1: I 1 U 2; class 2: I 2 U 2
    assert abs(miou_seen(pred, labels, [0, 1, 2]) - (0.5 + 0.5 + 1) / 3) < 1e-12


def test_adaptive_selection_improves_and_aggregator_fits():
    model = tiny_model()
    rays = tiny_rays(n=12, seed=4)
    cache = cache_rays(model, rays)
    jac = view_jacobians(cache)
    labels = np.array([0] * 6 + [1] * 6).reshape(3, 4)
    selected, gains = adaptive_selection(model.rgb_layer, cache, jac, labels, [0, 1], 0.5, 3, 4)
    assert 1 <= len(selected) <= 3
    assert all(b > a for a, b in zip(gains, gains[1:], strict=False))
    assert all(labels.reshape(-1)[c[k]] == k for c in selected for k in range(2))
    x = torch.randn(200, 3)
    y = x.argmax(1)
    agg = train_aggregator(x, y, iters=300)
    assert (agg(x).argmax(1) == y).float().mean() > 0.9


def test_recolour_and_selection_shapes(model, rays):
    cache = cache_rays(model, rays)
    jac = view_jacobians(cache)
    before = model.rgb_layer.weight.clone()
    red = recolour(model.rgb_layer, cache, jac[0], (1.0, 0.0, 0.0), 5.0)
    assert torch.equal(model.rgb_layer.weight, before)
    change = (red - cache.rgb).abs().sum(0)
    assert change[0] > 0 and change[1] == 0 and change[2] == 0  # only the red channel moves
    mask = select_entity(torch.rand(4, 5))
    assert mask.shape == (4, 5) and mask.dtype == torch.bool


def test_jacobians_nonnegative_so_2d_equals_3d_response(model, rays):
    """h is a ReLU output, so J >= 0 and a step along any J moves all colours one way: 2D response == 3D response."""
    cache = cache_rays(model, rays)
    jac = view_jacobians(cache)
    assert bool((jac >= 0).all())
    r2, r3 = responses(model.rgb_layer, cache, 0.5 * jac[:4])
    torch.testing.assert_close(r2, r3, atol=1e-12, rtol=1e-9)
    r2n, r3n = responses(model.rgb_layer, cache, -0.5 * jac[:1] + 0.3 * torch.randn(1, 3, 8, dtype=torch.float64))
    assert not torch.allclose(r2n, r3n)  # a general direction breaks the identity
