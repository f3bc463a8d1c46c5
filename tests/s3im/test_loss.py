"""S3IM loss against the official algorithm: naive loops, the official layout, autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s3im import S3IM
from s3im.loss import _window_means, gaussian_window_1d, layout_virtual_patch, ssim_map, virtual_patch_indices


def naive_ssim_mean(x: np.ndarray, y: np.ndarray, k: int, stride: int, sigma: float = 1.5) -> float:
    """Loop over output windows of zero-padded [C, H, W] images; biased weighted statistics."""
    g = np.exp(-((np.arange(k) - k // 2) ** 2) / (2 * sigma**2))
    g /= g.sum()
    w = np.outer(g, g)
    pad = (k - 1) // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    yp = np.pad(y, ((0, 0), (pad, pad), (pad, pad)))
    c1, c2 = 0.01**2, 0.03**2
    vals = []
    for c in range(x.shape[0]):
        for i in range(0, xp.shape[1] - k + 1, stride):
            for j in range(0, xp.shape[2] - k + 1, stride):
                a = xp[c, i : i + k, j : j + k]
                b = yp[c, i : i + k, j : j + k]
                mx, my = (w * a).sum(), (w * b).sum()
                vx = (w * a * a).sum() - mx**2
                vy = (w * b * b).sum() - my**2
                cxy = (w * a * b).sum() - mx * my
                vals.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_window_matches_official_taps():
    np.testing.assert_allclose(gaussian_window_1d(4).numpy(), [0.1365, 0.2658, 0.3319, 0.2658], atol=1e-4)


def test_identical_inputs_give_zero():
    x = torch.rand(4096, 3)
    assert S3IM()(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)


def test_single_repeat_equals_naive_ssim_on_raster():
    gen = torch.Generator().manual_seed(0)
    pred = torch.rand(256, 3, generator=gen, dtype=torch.float64)
    gt = (pred + 0.2 * torch.rand(256, 3, generator=gen, dtype=torch.float64)).clamp(0, 1)
    loss = S3IM(repeat_time=1, patch_height=16)(pred, gt)
    raster = lambda v: v.t().reshape(3, 16, 16).numpy()  # noqa: E731 - row-major, un-permuted
    expected = 1.0 - naive_ssim_mean(raster(pred), raster(gt), k=4, stride=4)
    assert loss.item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("stride", [2, 3])
def test_other_strides_use_convolution_and_match_naive(stride):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 12, 20, generator=gen, dtype=torch.float64)
    y = torch.rand(1, 3, 12, 20, generator=gen, dtype=torch.float64)
    got = ssim_map(x, y, kernel_size=4, stride=stride).mean().item()
    assert got == pytest.approx(naive_ssim_mean(x[0].numpy(), y[0].numpy(), 4, stride), abs=1e-12)


def test_first_repeat_is_the_input_order():
    gen = torch.Generator().manual_seed(2)
    idx = virtual_patch_indices(4096, 10, gen)
    assert idx.shape == (40960,)
    assert torch.equal(idx[:4096], torch.arange(4096))
    for r in range(1, 10):  # every later repeat is a permutation
        assert torch.equal(idx[r * 4096 : (r + 1) * 4096].sort().values, torch.arange(4096))
    assert not torch.equal(idx[4096:8192], torch.arange(4096))


def test_official_layout_for_4096_rays():
    """Row-major fill of one 64 x 640 image, exactly the official permute(1,0).reshape(1,3,64,640)."""
    gen = torch.Generator().manual_seed(3)
    pred, gt = torch.rand(4096, 3), torch.rand(4096, 3)
    s3im = S3IM()
    src, tar = s3im.patches(pred, gt, torch.Generator().manual_seed(5))
    idx = virtual_patch_indices(4096, 10, torch.Generator().manual_seed(5))
    assert torch.equal(src, pred[idx].permute(1, 0).reshape(1, 3, 64, 640))
    assert torch.equal(tar, gt[idx].permute(1, 0).reshape(1, 3, 64, 640))
    assert torch.equal(src[0, :, 0, :], pred[:640].t())  # first row = first 640 rays in batch order
    assert ssim_map(src, tar).shape == (1, 3, 16, 160)
    assert s3im.map_shape(4096) == (16, 160)
    assert S3IM(patch_height=32).map_shape(1024) == (8, 80)
    del gen


def test_reshape_path_equals_convolution():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(1, 3, 64, 640, generator=gen, dtype=torch.float64)
    w = gaussian_window_1d(4, dtype=torch.float64)
    conv = F.conv2d(x, torch.outer(w, w).expand(3, 1, 4, 4), padding=1, stride=4, groups=3)
    torch.testing.assert_close(_window_means(x, w, 4), conv, rtol=0, atol=1e-14)


def test_batch_size_rule_drops_tail_of_last_repeat():
    pred, gt = torch.rand(1000, 3), torch.rand(1000, 3)
    s3im = S3IM(patch_height=64)
    src, _ = s3im.patches(pred, gt, torch.Generator().manual_seed(0))
    assert src.shape == (1, 3, 64, 156)  # 10000 // 64 = 156 columns, 16 entries dropped
    idx = virtual_patch_indices(1000, 10, torch.Generator().manual_seed(0))
    assert torch.equal(src, layout_virtual_patch(pred[idx], 64))
    with pytest.raises(ValueError, match="at least patch_height"):
        S3IM(repeat_time=1, patch_height=64)(torch.rand(10, 3), torch.rand(10, 3))


def test_deterministic_given_generator_and_random_otherwise():
    pred, gt = torch.rand(512, 3), torch.rand(512, 3)
    s3im = S3IM(patch_height=16)
    a = s3im(pred, gt, torch.Generator().manual_seed(7))
    b = s3im(pred, gt, torch.Generator().manual_seed(7))
    c = s3im(pred, gt, torch.Generator().manual_seed(8))
    assert a.item() == b.item()
    assert a.item() != c.item()


def test_gradient_check():
    gen = torch.Generator().manual_seed(9)
    pred = torch.rand(64, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    gt = torch.rand(64, 3, generator=gen, dtype=torch.float64)
    s3im = S3IM(repeat_time=3, patch_height=8)
    fn = lambda p: s3im(p, gt, torch.Generator().manual_seed(11))  # noqa: E731 - same permutations each call
    assert torch.autograd.gradcheck(fn, (pred,))
    fn(pred).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="same shape"):
        S3IM()(torch.rand(4096, 3), torch.rand(4096, 4))
