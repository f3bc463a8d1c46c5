"""PSNR and SSIM on [0, 1] images, as the NeRF literature reports them.

Both take one image ``[H, W, C]`` or a batch ``[B, H, W, C]`` (numpy or torch, float in [0, 1]) and
return a Python float for one image; for a batch, a 1-D float64 array of per-image values: a torch
tensor on the input's device when either input is a torch tensor, else a numpy array.
Computation is in float64 with torch, on the device of the torch input (CPU for numpy inputs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from common.metrics.inputs import image_pair

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def psnr(pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor) -> float | np.ndarray | torch.Tensor:
    """Peak signal-to-noise ratio for data range 1: ``-10 log10(MSE)``, MSE over all pixels and channels.

    Identical images give ``inf``.
    """
    pair = image_pair(pred, gt)
    mse = (pair.x - pair.y).square().mean(dim=(1, 2, 3))
    return pair.output(-10.0 * torch.log10(mse))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian ``w_i = exp(-(i - r)^2 / (2 sigma^2)) / sum``, i = 0..size-1, r = size // 2. [size]

    Size 11 for sigma 1.5 is skimage's window (truncate 3.5: radius int(3.5 * 1.5 + 0.5) = 5).
    """
    x = torch.arange(size, dtype=torch.float64) - size // 2
    w = torch.exp(-(x**2) / (2.0 * sigma**2))
    return w / w.sum()


def _blur(img: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter per channel: [B, C, H, W] -> [B, C, H - k + 1, W - k + 1]."""
    c, k = img.shape[1], w.numel()
    img = F.conv2d(img, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(img, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """SSIM map of two batches ``[B, C, H, W]`` (data range 1) -> ``[B, C, H - window + 1, W - window + 1]``.

    With Gaussian-weighted local moments (no padding, population covariance)
    ``mu_x = G*x``, ``s_xx = G*x^2 - mu_x^2``, ``s_xy = G*(xy) - mu_x mu_y``:
    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_xx + s_yy + C2))``,
    ``C1 = 0.01^2``, ``C2 = 0.03^2``.
    """
    if min(x.shape[-2:]) < window:
        raise ValueError(f"images of size {tuple(x.shape[-2:])} are smaller than the {window}x{window} SSIM window")
    w = gaussian_window(window, sigma).to(device=x.device, dtype=x.dtype)
    mu_x, mu_y, e_xx, e_yy, e_xy = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), w).chunk(5, dim=1)
    s_xx = e_xx - mu_x**2
    s_yy = e_yy - mu_y**2
    s_xy = e_xy - mu_x * mu_y
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    num = (2 * mu_x * mu_y + c1) * (2 * s_xy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (s_xx + s_yy + c2)
    return num / den


def ssim(pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor) -> float | np.ndarray | torch.Tensor:
    """Mean SSIM: 11x11 Gaussian window, sigma 1.5, valid region, K1 0.01, K2 0.03, data range 1.

    Mean over the valid map of each channel, then over channels. Equals
    ``skimage.metrics.structural_similarity(pred, gt, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)``.
    """
    pair = image_pair(pred, gt)
    return pair.output(ssim_map(pair.x, pair.y).mean(dim=(1, 2, 3)))


def conventions() -> dict:
    """The PSNR/SSIM conventions, as recorded in evaluation reports."""
    return {
        "psnr": "-10*log10(MSE) on images in [0,1] (data range 1), per image",
        "ssim": {
            "window": SSIM_WINDOW,
            "sigma": SSIM_SIGMA,
            "data_range": 1,
            "k1": SSIM_K1,
            "k2": SSIM_K2,
            "padding": "valid",
            "reduction": "per-channel mean",
        },
    }
