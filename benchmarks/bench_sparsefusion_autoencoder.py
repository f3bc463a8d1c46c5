"""taef2 reconstruction quality with and without the reconstructed ``pool`` branch, side by side, and the
speed of the frozen autoencoder relative to one EFT feature-grid render (quick-profile sizes).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sparsefusion_autoencoder.py

Images: prepared 64 x 64 crops of the synthetic hydrant category (the quick profile's data).
"""

from __future__ import annotations

import time

import torch

from common.config import load_config
from sparsefusion.autoencoder import TAESD_DEFAULT, load_taef2
from sparsefusion.data import load_category
from sparsefusion.train import PRESET, data_root, model_config


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


def main() -> None:
    torch.set_num_threads(1)
    cfg = load_config(PRESET, "quick")
    root, _ = data_root(cfg)
    seq = load_category(root, "hydrant", "fewview_train", cfg.data.image_size, 1)[0]
    x = torch.from_numpy(seq["images"][:16]).permute(0, 3, 1, 2).float() / 255
    ae = load_taef2(TAESD_DEFAULT)
    with torch.no_grad():
        t0 = time.perf_counter()
        rec = ae.decode(ae.encode(x))
        t_ae = (time.perf_counter() - t0) / len(x)
        with_pool = psnr(rec, x)
        for block in [*ae.encoder, *ae.decoder]:
            if getattr(block, "pool", None) is not None:
                block.pool, block._saved = None, block.pool
        without = psnr(ae.decode(ae.encode(x)), x)
    from sparsefusion.model import SparseFusionModel

    model = SparseFusionModel(model_config(cfg, "hydrant"), ae).eval()
    imgs, K, c2w = x[None, :2], torch.from_numpy(seq["K"][None, :2]), torch.from_numpy(seq["c2w"][None, :2])
    q, qK = torch.from_numpy(seq["c2w"][2:3]), torch.from_numpy(seq["K"][2:3])
    from sparsefusion.geometry import relative_to

    with torch.no_grad():
        t0 = time.perf_counter()
        model.eft_grid(q, qK, imgs, K, relative_to(c2w, q), model.eft.encode(imgs), model.latent_size)
        t_eft = time.perf_counter() - t0
    print(
        f"taef2 reconstruction PSNR on 16 masked 64x64 crops: with pool branch {with_pool:.2f} dB, "
        f"without {without:.2f} dB (difference {with_pool - without:+.2f} dB)"
    )
    print(
        f"autoencoder encode+decode per image {1e3 * t_ae:.1f} ms; EFT 8x8 feature grid (2 views) "
        f"{1e3 * t_eft:.1f} ms; ratio EFT / autoencoder = {t_eft / t_ae:.2f}"
    )


if __name__ == "__main__":
    main()
