"""S3IM: Stochastic Structural SIMilarity loss (Xie et al., ICCV 2023), as the official code computes it.

Given a batch of N rendered ray colours and their targets (both [N, 3], N rays drawn from many
images), S3IM builds ONE "virtual patch" image and compares its local structure with SSIM:

1. Index list of ``repeat_time`` (M) entries: entry 0 is ``arange(N)`` (the first repeat keeps the
   batch order), entries 1..M-1 are fresh random permutations of the batch. Concatenated: length M*N.
2. Gather predictions and targets with it ([M*N, 3]) and lay them out ROW BY ROW (row-major) into a
   single image of height ``patch_height`` H and width W = M*N / H (64 x 640 for N=4096, M=10).
   Repeat boundaries therefore fall mid-row; this is the official layout, not M side-by-side blocks.
3. SSIM on that image, channel-wise: a Gaussian window of size k = ``kernel_size`` (4) with sigma 1.5
   built as g[x] = exp(-(x - k//2)^2 / (2 sigma^2)), x = 0..k-1, normalised (asymmetric for even k:
   [0.1365, 0.2658, 0.3319, 0.2658]); 2-D window = outer(g, g); zero padding (k-1)//2; stride s = ``stride``;
   C1 = 0.01^2, C2 = 0.03^2;
       SSIM = mean over the map and channels of
              ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
   with mu, sigma^2, sigma_xy the window-weighted means/variances/covariance (biased).
4. Loss = 1 - SSIM. Training adds ``lambda * loss`` to the model's usual colour loss.

Batch sizes where M*N is not a multiple of H: W = floor(M*N / H) and the last M*N - H*W gathered
entries (the tail of the last random repeat) are dropped. With N = 4096 and H = 64 nothing is dropped
and the layout equals the official one exactly.

When ``stride == kernel_size`` the windows tile the padded image without overlap, so the windowed
sums are computed by reshaping into [.., rows, k, cols, k] blocks instead of a convolution (same values;
see ``benchmarks/bench_s3im.py``). Other strides use ``F.conv2d``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_window_1d(kernel_size: int, sigma: float = 1.5, dtype=torch.float32, device=None) -> Tensor:
    """[k] normalised Gaussian taps centred at index k//2 (the official construction)."""
    x = torch.arange(kernel_size, dtype=torch.float64)
    g = torch.exp(-((x - kernel_size // 2) ** 2) / (2.0 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def virtual_patch_indices(n: int, repeat_time: int, generator: torch.Generator | None = None) -> Tensor:
    """[M*N] int64: identity order followed by M-1 random permutations of range(n).

    Random numbers come from ``generator`` (CPU generator) or the global torch RNG.
    """
    parts = [torch.arange(n)]
    parts += [torch.randperm(n, generator=generator) for _ in range(repeat_time - 1)]
    return torch.cat(parts)


def layout_virtual_patch(values: Tensor, patch_height: int) -> Tensor:
    """Row-major layout of gathered values [L, C] into an image [1, C, H, floor(L/H)] (tail dropped)."""
    length, channels = values.shape
    width = length // patch_height
    if width < 1:
        raise ValueError(f"S3IM needs at least patch_height={patch_height} gathered rays, got {length}")
    return values[: patch_height * width].t().reshape(1, channels, patch_height, width)


def _window_means(x: Tensor, window: Tensor, stride: int) -> Tensor:
    """Window-weighted means of x [B, C, H, W] with zero padding (k-1)//2 and ``stride``.

    stride == k: the windows tile the padded image, so it is cut into [.., rows, k, cols, k] blocks
    (F.pad with negative right/bottom padding crops the unused border) and weighted by the separable
    window; otherwise a grouped ``F.conv2d``.
    """
    k = window.shape[0]
    pad = (k - 1) // 2
    b, c, h, w = x.shape
    if stride == k:
        rows = (h + 2 * pad - k) // k + 1
        cols = (w + 2 * pad - k) // k + 1
        xp = F.pad(x, (pad, cols * k - pad - w, pad, rows * k - pad - h))
        blocks = xp.reshape(b, c, rows, k, cols, k) @ window  # [b, c, rows, k, cols]
        return (blocks * window[:, None]).sum(3)
    w2d = torch.outer(window, window).expand(c, 1, k, k).contiguous()
    return F.conv2d(x, w2d, padding=pad, stride=stride, groups=c)


def ssim_map(
    x: Tensor,
    y: Tensor,
    kernel_size: int = 4,
    stride: int = 4,
    sigma: float = 1.5,
    c1: float = 0.01**2,
    c2: float = 0.03**2,
) -> Tensor:
    """SSIM map [B, C, H', W'] of images x, y [B, C, H, W] with the S3IM window and stride (see module doc).

    The five windowed statistics (x, y, x^2, y^2, xy) are computed in one call on a 5C-channel stack.
    """
    window = gaussian_window_1d(kernel_size, sigma, dtype=x.dtype, device=x.device)
    c = x.shape[1]
    stats = _window_means(torch.cat([x, y, x * x, y * y, x * y], dim=1), window, stride)
    mu_x, mu_y, ex2, ey2, exy = stats.split(c, dim=1)
    xx = ex2 - mu_x**2
    yy = ey2 - mu_y**2
    xy = exy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * xy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (xx + yy + c2)
    return num / den


class S3IM(torch.nn.Module):
    """Stochastic structural similarity loss over a ray batch.

    Args:
        kernel_size: SSIM window size k (official default 4).
        stride: window stride (official default 4).
        repeat_time: M, number of repeats; the first keeps the batch order (default 10).
        patch_height: H of the virtual patch (64 for 4096-ray batches, 32 for 1024 as sdfstudio).
        sigma: Gaussian window sigma (1.5).

    ``forward(pred [N, 3], target [N, 3], generator=None) -> scalar`` = 1 - SSIM(virtual patches).
    Differentiable in ``pred``; deterministic given a CPU ``torch.Generator``.

    Example:
        >>> loss = S3IM()(pred_rgb, gt_rgb)            # [4096, 3] each -> 64 x 640 patch, 16 x 160 SSIM map
        >>> total = mse + 1.0 * loss                   # lambda = 1.0 in the official DVGO/TensoRF configs
    """

    def __init__(
        self, kernel_size: int = 4, stride: int = 4, repeat_time: int = 10, patch_height: int = 64, sigma: float = 1.5
    ):
        super().__init__()
        if kernel_size < 1 or stride < 1 or repeat_time < 1 or patch_height < 1:
            raise ValueError("S3IM kernel_size, stride, repeat_time and patch_height must be >= 1")
        self.kernel_size = kernel_size
        self.stride = stride
        self.repeat_time = repeat_time
        self.patch_height = patch_height
        self.sigma = sigma

    def patches(self, pred: Tensor, target: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The two virtual patches [1, 3, H, W] (predictions, targets) for this call's permutations."""
        if pred.shape != target.shape or pred.ndim != 2:
            raise ValueError(f"S3IM expects pred and target of the same shape [N, C], got {pred.shape}, {target.shape}")
        index = virtual_patch_indices(pred.shape[0], self.repeat_time, generator).to(pred.device)
        return (
            layout_virtual_patch(pred[index], self.patch_height),
            layout_virtual_patch(target[index], self.patch_height),
        )

    def forward(self, pred: Tensor, target: Tensor, generator: torch.Generator | None = None) -> Tensor:
        src, tar = self.patches(pred, target, generator)
        return 1.0 - ssim_map(src, tar, self.kernel_size, self.stride, self.sigma).mean()

    def map_shape(self, n: int) -> tuple[int, int]:
        """(H', W') of the SSIM map for a batch of n rays."""
        width = n * self.repeat_time // self.patch_height
        pad = (self.kernel_size - 1) // 2
        out = lambda size: math.floor((size + 2 * pad - self.kernel_size) / self.stride) + 1  # noqa: E731
        return out(self.patch_height), out(width)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, repeat_time={self.repeat_time}, "
            f"patch_height={self.patch_height}, sigma={self.sigma}"
        )


class S3IMTerm:
    """The multiplex-training loss term ``weight * S3IM(outputs["rgb"], batch["rgb"])`` for the engine.

    It owns its random generator (seeded from ``seed``, checkpointed via ``state_dict``), so S3IM's
    permutations never consume the global random numbers that the model (random backgrounds) or the
    ray sampler use: a standard and a multiplex run with the same seed see identical batches and
    backgrounds and differ only by this term.
    """

    def __init__(self, s3im: S3IM, weight: float, seed: int):
        self.s3im = s3im
        self.weight = float(weight)
        self.generator = torch.Generator().manual_seed(int(seed))

    def __call__(self, outputs: dict, batch: dict) -> Tensor:
        return self.weight * self.s3im(outputs["rgb"], batch["rgb"], self.generator)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
