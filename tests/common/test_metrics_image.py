"""PSNR and SSIM against hand formulas, scipy's Gaussian kernel and skimage's structural_similarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from common.data.io import read_rgb
from common.metrics import psnr, ssim
from common.metrics.image import gaussian_window

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
    )


def noisy(img: np.ndarray, std: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + std * rng.standard_normal(img.shape), 0.0, 1.0)


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.random((h, w, 3)), sigma=(4, 4, 0))


def test_psnr_matches_formula_and_skimage():
    a = smooth_image(40, 50, 0)
    b = noisy(a, 0.05, 1)
    mse = np.mean((a - b) ** 2)
    assert psnr(a, b) == pytest.approx(-10 * np.log10(mse), rel=1e-12)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1), rel=1e-12)
    assert psnr(a, a) == float("inf")


def test_psnr_batch_returns_per_image_values_in_input_type():
    a = np.stack([smooth_image(20, 24, s) for s in range(3)])
    b = np.stack([noisy(a[i], 0.02 * (i + 1), i) for i in range(3)])
    out = psnr(a, b)
    assert isinstance(out, np.ndarray) and out.shape == (3,)
    np.testing.assert_allclose(out, [psnr(a[i], b[i]) for i in range(3)], rtol=1e-12)
    assert out[0] > out[1] > out[2]
    out_t = psnr(torch.from_numpy(a), torch.from_numpy(b))
    assert isinstance(out_t, torch.Tensor) and out_t.shape == (3,)
    np.testing.assert_allclose(out_t.numpy(), out, rtol=1e-12)


def test_gaussian_window_is_skimage_window():
    # skimage filters with scipy's gaussian_filter(sigma=1.5, truncate=3.5): its impulse response is the window.
    delta = np.zeros(31)
    delta[15] = 1.0
    response = ndimage.gaussian_filter1d(delta, sigma=1.5, truncate=3.5)
    support = np.flatnonzero(response)
    assert support.size == 11
    np.testing.assert_allclose(gaussian_window().numpy(), response[support], rtol=1e-12)


@pytest.mark.parametrize("shape", [(32, 32, 3), (45, 61, 3), (11, 11, 3), (30, 40, 1)])
def test_ssim_matches_skimage_on_random_images(shape):
    rng = np.random.default_rng(sum(shape))
    a, b = rng.random(shape), rng.random(shape)
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=1e-6)


@pytest.mark.parametrize("std", [0.01, 0.05, 0.2])
def test_ssim_matches_skimage_on_smooth_noisy_pairs(std):
    a = smooth_image(48, 56, 3)
    b = noisy(a, std, 4)
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=1e-6)
    assert ssim(b, a) == pytest.approx(ssim(a, b), abs=1e-12)


def test_ssim_identical_and_constant_images():
    a = smooth_image(24, 24, 5)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    flat0, flat1 = np.full((16, 16, 3), 0.2), np.full((16, 16, 3), 0.6)
    assert ssim(flat0, flat1) == pytest.approx(sk_ssim(flat0, flat1), abs=1e-9)


def test_ssim_float32_torch_and_batch_agree_with_single_numpy():
    imgs = np.stack([smooth_image(33, 35, s) for s in range(3)]).astype(np.float32)
    other = np.stack([noisy(imgs[i], 0.03 * (i + 1), 10 + i) for i in range(3)]).astype(np.float32)
    single = [ssim(imgs[i], other[i]) for i in range(3)]
    batch = ssim(torch.from_numpy(imgs), torch.from_numpy(other))
    assert isinstance(batch, torch.Tensor) and batch.shape == (3,)
    np.testing.assert_allclose(batch.numpy(), single, atol=1e-12)
    np.testing.assert_allclose(single, [sk_ssim(imgs[i], other[i]) for i in range(3)], atol=1e-4)
    assert single[0] > single[1] > single[2]


def test_bad_inputs_raise_clear_errors():
    a = np.zeros((16, 16, 3))
    with pytest.raises(ValueError, match="equal shapes"):
        ssim(a, np.zeros((16, 17, 3)))
    with pytest.raises(TypeError, match=r"float images with values in \[0, 1\]"):
        psnr(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="smaller than the 11x11"):
        ssim(np.zeros((8, 16, 3)), np.zeros((8, 16, 3)))
    with pytest.raises(ValueError, match=r"\[H, W, C\] or \[B, H, W, C\]"):
        psnr(np.zeros((16, 3)), np.zeros((16, 3)))


@pytest.mark.realdata
def test_ssim_matches_skimage_on_real_dtu_frames():
    folder = DATA / "dtu-scan24-monosdf-384"
    if not folder.is_dir():
        pytest.skip(f"real sample data not found at {folder}")
    crop = np.s_[96:288, 96:288]  # the object in the middle of the 384x384 frames
    a = read_rgb(folder / "000000_rgb.png")[crop].astype(np.float64)
    b = read_rgb(folder / "000001_rgb.png")[crop].astype(np.float64)
    blurred = ndimage.gaussian_filter(a, sigma=(1.0, 1.0, 0))
    for x, y in ((a, b), (a, blurred)):
        assert ssim(x, y) == pytest.approx(sk_ssim(x, y), abs=1e-6)
        assert psnr(x, y) == pytest.approx(peak_signal_noise_ratio(y, x, data_range=1), rel=1e-10)
    # A neighbouring view differs more than a slight blur of the same view.
    assert ssim(a, b) < ssim(a, blurred) < 1.0


@pytest.mark.gpu
def test_ssim_and_psnr_on_cuda_match_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    a = torch.from_numpy(np.stack([smooth_image(64, 64, s) for s in range(2)]))
    b = torch.from_numpy(np.stack([noisy(a[i].numpy(), 0.05, 20 + i) for i in range(2)]))
    out = ssim(a.cuda(), b.cuda())
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), ssim(a, b).numpy(), atol=1e-10)
    np.testing.assert_allclose(psnr(a.cuda(), b.cuda()).cpu().numpy(), psnr(a, b).numpy(), rtol=1e-10)
