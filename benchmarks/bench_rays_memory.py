"""Peak host memory of training rays: a RayBank (uint8 images, rays built on the fly) against the former layout.

The former layout materialised every ray as float32 origins, directions, rgb [P, 3], dir_norm [P] and int64
view index [P] and pixel [P, 2]: 64 B/ray. For the large cases that size is computed, not allocated; the
small case also allocates it (built view by view from ``get_rays`` as before) to measure its peak.

Each measurement runs in its own subprocess so that the peak RSS (``resource.getrusage``) is per case. Scenes
are synthetic: random 8-bit images produced lazily by ``image_loader`` (nothing is written to disk).
"Sampling" draws a few permutation-sampler batches of 4096 rays (the permutation adds 4 B/ray).

Usage: python benchmarks/bench_rays_memory.py [case ...]   (cases: small, blender, tnt; default: all)
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

CASES = {  # name: (views, height, width)
    "small": (20, 200, 200),
    "blender": (100, 800, 800),
    "tnt": (300, 1080, 1920),
}
OLD_BYTES_PER_RAY = 3 * 4 + 3 * 4 + 3 * 4 + 4 + 8 + 2 * 8  # origins, directions, rgb, dir_norm, view, pixel
MB = 1024**2


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def synthetic_scene(views: int, height: int, width: int):
    """A SceneData with cameras on a circle and lazily generated random 8-bit images (float32 / 255)."""
    import numpy as np

    from common.cameras import intrinsics_matrix, look_at
    from common.data.scene import SceneData

    angles = np.linspace(0.0, 2 * np.pi, views, endpoint=False)
    eyes = np.stack([4 * np.cos(angles), 4 * np.sin(angles), np.full(views, 1.5)], -1)
    c2w = np.stack([look_at(e, np.zeros(3)) for e in eyes]).astype(np.float32)
    K = np.stack([intrinsics_matrix(1.2 * width, 1.2 * width, width / 2, height / 2)] * views).astype(np.float32)

    def load(i: int) -> np.ndarray:
        rng = np.random.default_rng(i)
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8).astype(np.float32) / 255.0

    return SceneData(
        images=None,
        K=K,
        c2w=c2w,
        height=height,
        width=width,
        splits={"train": list(range(views))},
        near=0.5,
        far=8.0,
        bbox=np.array([[-1, -1, -1], [1, 1, 1]], np.float32),
        image_loader=load,
    )


def measure_bank(case: str) -> dict:
    import torch

    from common.rays import RayBank
    from common.samplers import RaySampler

    scene = synthetic_scene(*CASES[case])
    base = peak_rss_bytes()
    bank = RayBank(scene, "train")
    built = peak_rss_bytes()
    sampler, generator = RaySampler(bank, 4096), torch.Generator().manual_seed(0)
    for step in range(5):
        sampler(step, generator)
    return {"rays": len(bank), "bank_bytes": bank.nbytes, "base": base, "built": built, "sampled": peak_rss_bytes()}


def measure_old_layout(case: str) -> dict:
    """Allocate and fill the former per-ray float32/int64 layout, view by view (as the old builder did)."""
    import numpy as np
    import torch

    from common.cameras import get_rays

    scene = synthetic_scene(*CASES[case])
    base = peak_rss_bytes()
    V, H, W = CASES[case]
    P, n = V * H * W, H * W
    origins, directions, rgb = (torch.empty(P, 3) for _ in range(3))
    dir_norm = torch.empty(P)
    view = torch.arange(V).repeat_interleave(n)
    vv, uu = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    pixel = torch.stack([uu.reshape(-1), vv.reshape(-1)], -1).repeat(V, 1)
    for k in range(V):
        sl = slice(k * n, (k + 1) * n)
        o, d = get_rays(torch.as_tensor(scene.K[k]), torch.as_tensor(scene.c2w[k]), H, W, normalize=False)
        norm = torch.linalg.norm(d, dim=-1).reshape(-1)
        origins[sl], directions[sl], dir_norm[sl] = o.reshape(-1, 3), d.reshape(-1, 3) / norm[:, None], norm
        rgb[sl] = torch.as_tensor(np.asarray(scene.load_image(k))).reshape(-1, 3)
    nbytes = sum(t.numel() * t.element_size() for t in (origins, directions, rgb, dir_norm, view, pixel))
    return {"rays": P, "old_bytes": nbytes, "base": base, "built": peak_rss_bytes()}


def run_child(case: str, what: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", case, what], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(cases: list[str]) -> None:
    header = (
        f"{'case':<8} {'views x H x W':>16} {'rays':>12} {'B/ray new':>10} {'B/ray old':>10} "
        f"{'bank MB':>9} {'old MB':>9} {'RSS base MB':>12} {'peak build MB':>14} {'peak +sample MB':>16} "
        f"{'old measured peak MB':>21}"
    )
    print(header)
    for case in cases or list(CASES):
        V, H, W = CASES[case]
        new = run_child(case, "bank")
        old = run_child(case, "old") if case == "small" else None
        rays = new["rays"]
        old_mb = f"{old['built'] / MB:.0f}" if old else "-"
        print(
            f"{case:<8} {f'{V} x {H} x {W}':>16} {rays:>12,} {new['bank_bytes'] / rays:>10.2f} {OLD_BYTES_PER_RAY:>10} "
            f"{new['bank_bytes'] / MB:>9.0f} {OLD_BYTES_PER_RAY * rays / MB:>9.0f} {new['base'] / MB:>12.0f} "
            f"{new['built'] / MB:>14.0f} {new['sampled'] / MB:>16.0f} {old_mb:>21}"
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        result = measure_bank(sys.argv[2]) if sys.argv[3] == "bank" else measure_old_layout(sys.argv[2])
        print(json.dumps(result))
    else:
        main(sys.argv[1:])
